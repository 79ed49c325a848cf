import crypto from 'node:crypto';
import pg from 'pg';
import { type Kysely, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../schema.js';
import { openStore } from '../open-store.js';
import { newRelease, runStoreContract } from '../store.case.js';
import { PostgresStore } from './postgres-store.js';

const PG_URL = process.env.SHIPCHECK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';

async function reachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const problem = await reachable();
const schemas: string[] = [];

afterAll(async () => {
  if (problem !== undefined || schemas.length === 0) return;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe.runIf(problem !== undefined && REQUIRE_REAL)('PostgreSQL store (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(`PostgreSQL at ${PG_URL} is not reachable: ${problem}`);
  });
});

if (problem !== undefined && !REQUIRE_REAL) {
  console.warn(
    `SKIPPING the PostgreSQL store contract: PostgreSQL at ${PG_URL} is not reachable (${problem})`,
  );
} else if (problem === undefined) {
  // Every test gets a fresh schema, so the contract runs exactly as it does on a new SQLite file.
  runStoreContract('postgres', async () => {
    const schema = `sc_store_${crypto.randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const store = PostgresStore.open(PG_URL, { schema });
    await store.migrate();
    return store;
  });

  describe('PostgreSQL store', () => {
    it('survives its connections being ended, in use or idle, and goes on on new ones', async () => {
      const schema = `sc_store_${crypto.randomBytes(5).toString('hex')}`;
      schemas.push(schema);
      const app = `shipcheck-store-${crypto.randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const terminate = async (): Promise<number> =>
        (
          await admin.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
            [app],
          )
        ).rowCount ?? 0;
      const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${app}`;
      const store = PostgresStore.open(url, { schema });
      try {
        await store.migrate();
        const db = (store as unknown as { db: Kysely<Database> }).db;
        // A connection checked out for a transaction, idle between two statements, is ended under it:
        // its client emits 'error' with no query to hand it to, which must not bring the process down.
        const inTransaction = db.transaction().execute(async (tx) => {
          await sql`SELECT 1`.execute(tx);
          expect(await terminate()).toBeGreaterThan(0);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await sql`SELECT 1`.execute(tx);
        });
        await expect(inTransaction).rejects.toThrow();
        // Idle pooled connections ended too; the next write reconnects (and is retried if it must be).
        await terminate();
        const release = await store.createRelease(newRelease('web', 'v1'));
        await terminate();
        const moved = await store.updateRelease(release.id, { weight: 20 }, 2000);
        expect(moved.weight).toBe(20);
        expect((await store.getRelease(release.id))?.weight).toBe(20);
      } finally {
        await store.close();
        await admin.end();
      }
    });

    it('reports an unreachable server with the URL and the reason, without the password', async () => {
      await expect(openStore('postgres://shipcheck:secret@127.0.0.1:9/nope')).rejects.toThrow(
        /^store postgres:\/\/shipcheck:\*\*\*@127\.0\.0\.1:9\/nope: cannot use PostgreSQL \(ECONNREFUSED\)$/,
      );
    });
  });
}
