import crypto from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL tests use; each test makes its own schema or database in it. */
export const PG_URL = process.env.SHIPCHECK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Set by .ci/run: a real server a test needs must be there, or the test fails instead of skipping. */
export const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const PROBE_TIMEOUT_MS = 3000;

/** Why PostgreSQL at `url` cannot be used, or undefined when it answers. */
export async function probePostgres(url: string = PG_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The sentence a skipped or failed test prints: the URL without its password, and the reason. */
export function unreachableMessage(problem: string | undefined, url: string = PG_URL): string {
  const shown = new URL(url);
  if (shown.password !== '') shown.password = '***';
  return `PostgreSQL at ${shown.href} is not reachable (${problem ?? ''}); set SHIPCHECK_TEST_PG to one that is`;
}

/**
 * Fresh schemas for one test file, named `<prefix>_<random>`: `create()` makes one, `dropAll()` (in
 * the file's afterAll) drops every one it made.
 */
export function testSchemas(prefix: string): { create: () => Promise<string>; dropAll: () => Promise<void> } {
  const made: string[] = [];
  const admin = async (run: (client: pg.Client) => Promise<void>): Promise<void> => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await run(client);
    } finally {
      await client.end();
    }
  };
  return {
    async create() {
      const schema = `${prefix}_${crypto.randomBytes(5).toString('hex')}`;
      made.push(schema);
      await admin((client) => client.query(`CREATE SCHEMA ${schema}`).then(() => undefined));
      return schema;
    },
    async dropAll() {
      if (made.length === 0) return;
      const dropping = made.splice(0);
      await admin(async (client) => {
        for (const schema of dropping) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      });
    },
  };
}
