import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.js';
import { HISTORY_TABLE } from '../../app-database/migrator.js';
import { migrationRehearsalCheck } from './migration-rehearsal.js';
import { testContext } from '../../../test/support/check-context.js';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../../test/support/postgres.js';

const pgProblem = await probePostgres(PG_URL);
const pgUnreachable = unreachableMessage(pgProblem);
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the PostgreSQL tests of the migration-rehearsal check: ${pgUnreachable}`);

/** Runs `sql` with a short-lived connection, so no session lingers on the database. */
async function pgRows(url: string, sql: string): Promise<unknown[][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query({ text: sql, rowMode: 'array' })).rows as unknown[][];
  } finally {
    await client.end();
  }
}

const GOOD = {
  '001_create_users.up.sql': 'CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);',
  '001_create_users.down.sql': 'DROP TABLE users;',
  '002_add_email.up.sql': 'ALTER TABLE users ADD COLUMN email text;',
  '002_add_email.down.sql': 'ALTER TABLE users DROP COLUMN email;',
};
const BAD_DOWN = { ...GOOD, '002_add_email.down.sql': 'ALTER TABLE nope DROP COLUMN email;' };

let configDir: string;
let folderCount = 0;

beforeAll(() => {
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-migration-rehearsal-'));
});
afterAll(() => fs.rmSync(configDir, { recursive: true, force: true }));

/** A folder of migrations in the config folder; returns its name relative to it. */
function folder(files: Record<string, string>): string {
  const name = `migrations-${++folderCount}`;
  fs.mkdirSync(path.join(configDir, name));
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(configDir, name, file), text);
  return name;
}

function configWith(migrations?: Record<string, unknown>) {
  return configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'true' },
    rollback: { migrations: 'down' },
    ...(migrations === undefined ? {} : { migrations }),
  });
}

const rehearse = (migrations: Record<string, unknown> | undefined, signal?: AbortSignal) =>
  migrationRehearsalCheck.run(
    {},
    testContext({ configDir, config: configWith(migrations), ...(signal === undefined ? {} : { signal }) }),
  );

describe('migration-rehearsal check', () => {
  it('takes no params', () => {
    expect(migrationRehearsalCheck.params.parse({})).toEqual({});
    expect(migrationRehearsalCheck.params.safeParse({ database: 'x' }).success).toBe(false);
  });

  it('fails without a migrations block', async () => {
    expect(await rehearse(undefined)).toEqual({ ok: false, summary: 'no migrations block' });
  });

  it('fails on a migrations folder it cannot read, saying why', async () => {
    const dir = folder({ 'add_users.sql': '' });
    const result = await rehearse({ dir, database: 'sqlite:app.db' });
    expect(result).toEqual({
      ok: false,
      summary: `migrations.dir ${path.join(configDir, dir)}: add_users.sql: expected NNN_name.up.sql or NNN_name.down.sql`,
    });
  });

  describe('on SQLite', () => {
    let database: string;
    let count = 0;
    const fresh = () => {
      database = `app-${++count}.db`;
      new Database(path.join(configDir, database)).close();
      return `sqlite:${database}`;
    };
    const tables = () => {
      const db = new Database(path.join(configDir, database), { readonly: true });
      try {
        return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      } finally {
        db.close();
      }
    };

    it('passes when there is nothing pending', async () => {
      const result = await rehearse({ dir: folder({}), database: fresh() });
      expect(result).toEqual({ ok: true, summary: 'no pending migrations to rehearse' });
    });

    it('passes on good migrations, with every step as evidence, and leaves the database alone', async () => {
      const result = await rehearse({ dir: folder(GOOD), database: fresh() });
      expect(result).toMatchObject({
        ok: true,
        summary:
          'up, down and up again rehearsed on a copy for 2 pending migrations (001_create_users, 002_add_email)',
        data: { pending: ['001_create_users', '002_add_email'] },
      });
      expect(result.output?.split('\n').map((line) => line.split(':')[0])).toEqual([
        'copy',
        'up',
        'down',
        'up again',
        'drop',
      ]);
      expect(tables()).toEqual([]);
    });

    it('fails on a broken down file, naming the step and the file', async () => {
      const dir = folder(BAD_DOWN);
      const result = await rehearse({ dir, database: fresh() });
      expect(result.ok).toBe(false);
      expect(result.summary).toBe(
        `rehearsal failed at down: ${path.join(dir, '002_add_email.down.sql')}: no such table: nope`,
      );
      expect(tables()).toEqual([]);
    });

    it('fails when stopped', async () => {
      const controller = new AbortController();
      controller.abort();
      const result = await rehearse({ dir: folder(GOOD), database: fresh() }, controller.signal);
      expect(result).toEqual({ ok: false, summary: 'listing pending migrations was aborted' });
    });
  });

  describe('in command form', () => {
    it('runs the commands up, down and up with SHIPCHECK_REHEARSAL=1', async () => {
      const log = path.join(configDir, 'command.log');
      const line = (word: string) => `echo "${word} $SHIPCHECK_REHEARSAL" >> ${JSON.stringify(log)}`;
      const result = await rehearse({ up: line('up'), down: line('down') });
      expect(result.ok, result.output).toBe(true);
      expect(result.data).toMatchObject({ pending: ['command'] });
      expect(fs.readFileSync(log, 'utf8')).toBe('up 1\ndown 1\nup 1\n');
    });
  });
});

describe.skipIf(pgProblem !== undefined)(
  `migration-rehearsal check on PostgreSQL${pgProblem === undefined ? '' : ` (skipped: ${pgUnreachable})`}`,
  () => {
    const database = `sc_mig_${crypto.randomBytes(6).toString('hex')}`;
    const url = (() => {
      const parsed = new URL(PG_URL);
      parsed.pathname = `/${database}`;
      return parsed.href;
    })();

    beforeAll(async () => {
      await pgRows(PG_URL, `CREATE DATABASE ${database}`);
    });
    afterAll(async () => {
      await pgRows(PG_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    });

    it('passes on good migrations and leaves the database alone', async () => {
      const result = await rehearse({ dir: folder(GOOD), database: url });
      expect(result.ok, result.output).toBe(true);
      expect(await pgRows(url, `SELECT to_regclass('users'), to_regclass('${HISTORY_TABLE}')`)).toEqual([
        [null, null],
      ]);
    });

    it('fails on a broken down file, naming the step and the file', async () => {
      const dir = folder(BAD_DOWN);
      const result = await rehearse({ dir, database: url });
      expect(result.ok).toBe(false);
      expect(result.summary).toBe(
        `rehearsal failed at down: ${path.join(dir, '002_add_email.down.sql')}: relation "nope" does not exist`,
      );
      const copies = await pgRows(
        PG_URL,
        "SELECT datname FROM pg_database WHERE datname LIKE 'shipcheck_rehearsal_%'",
      );
      const ours = result.output?.match(/shipcheck_rehearsal_[0-9a-f]+/)?.[0];
      expect(ours).toBeDefined();
      expect(copies.flat()).not.toContain(ours);
    });
  },
);

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)(
  'migration-rehearsal check on PostgreSQL (required)',
  () => {
    it('has a reachable PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
      expect.fail(pgUnreachable);
    });
  },
);
