import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.js';
import { createMigrator } from './create-migrator.js';
import { HISTORY_TABLE, MigrationError, type Migrator } from './migrator.js';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../test/support/postgres.js';

const pgProblem = await probePostgres(PG_URL);
const pgUnreachable = unreachableMessage(pgProblem);
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the PostgreSQL tests of the migrator: ${pgUnreachable}`);

/** Runs `sql` on a PostgreSQL URL with a short-lived connection, so no session lingers on the database. */
async function pgRows(url: string, sql: string, values: unknown[] = []): Promise<unknown[][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query({ text: sql, values, rowMode: 'array' })).rows as unknown[][];
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.href;
}

/** One database engine the shared suite runs on. */
interface Backend {
  /** A fresh, empty database for one test, written as the config writes it. */
  fresh(): Promise<string>;
  /** Names of the tables in `database`, sorted. */
  tables(database: string): Promise<string[]>;
  /** History rows as [id, release_id]. */
  history(database: string): Promise<[string, number][]>;
  /** Whether the rehearsal copy named in a step still exists. */
  copyExists(name: string): Promise<boolean>;
}

const sqliteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-migrator-sqlite-'));
let sqliteCount = 0;
const sqliteBackend: Backend = {
  async fresh() {
    const file = path.join(sqliteDir, `app-${++sqliteCount}.db`);
    new Database(file).close();
    return `sqlite:${file}`;
  },
  async tables(database) {
    const db = new Database(database.slice('sqlite:'.length), { readonly: true });
    try {
      const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[];
      return rows.map((row) => row.name);
    } finally {
      db.close();
    }
  },
  async history(database) {
    const db = new Database(database.slice('sqlite:'.length), { readonly: true });
    try {
      return db.prepare(`SELECT id, release_id FROM ${HISTORY_TABLE} ORDER BY id`).raw(true).all() as [
        string,
        number,
      ][];
    } finally {
      db.close();
    }
  },
  async copyExists(name) {
    return fs.existsSync(name);
  },
};

/** A PostgreSQL database for this test file; each test gets its own schema in it. */
const pgDatabase = `sc_mig_${crypto.randomBytes(6).toString('hex')}`;
const pgDatabaseUrl = withDatabase(PG_URL, pgDatabase);
let pgSchemaCount = 0;
const pgBackend: Backend = {
  async fresh() {
    const schema = `s${++pgSchemaCount}`;
    await pgRows(pgDatabaseUrl, `CREATE SCHEMA ${schema}`);
    const url = new URL(pgDatabaseUrl);
    // The migrations name tables without a schema, as real ones do.
    url.searchParams.set('options', `-c search_path=${schema}`);
    return url.href;
  },
  async tables(database) {
    const rows = await pgRows(
      database,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    return rows.map((row) => String(row[0]));
  },
  async history(database) {
    const rows = await pgRows(database, `SELECT id, release_id FROM ${HISTORY_TABLE} ORDER BY id`);
    return rows.map((row) => [String(row[0]), Number(row[1])]);
  },
  async copyExists(name) {
    return (await pgRows(PG_URL, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length > 0;
  },
};

const USERS_UP = 'CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);';
const USERS_DOWN = 'DROP TABLE users;';
const EMAIL_UP = 'ALTER TABLE users ADD COLUMN email text;';
// Fails unless users still exists: running the downs in the wrong order shows.
const EMAIL_DOWN = 'ALTER TABLE users DROP COLUMN email;';
const GOOD = {
  '001_create_users.up.sql': USERS_UP,
  '001_create_users.down.sql': USERS_DOWN,
  '002_add_email.up.sql': EMAIL_UP,
  '002_add_email.down.sql': EMAIL_DOWN,
};

/** Config folders made by setup(), removed once the file's tests are done. */
const configDirs: string[] = [];
afterAll(() => {
  for (const dir of configDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A config folder with `migrations/` holding `files`, and the migrator for it. */
function setup(
  database: string,
  files: Record<string, string>,
  options: { timeout?: string; rollback?: 'down' | 'keep' } = {},
): { migrator: Migrator; configDir: string; write(files: Record<string, string>): void } {
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-migrator-'));
  configDirs.push(configDir);
  fs.mkdirSync(path.join(configDir, 'migrations'));
  const write = (more: Record<string, string>) => {
    for (const [name, text] of Object.entries(more))
      fs.writeFileSync(path.join(configDir, 'migrations', name), text);
  };
  write(files);
  const config = configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'true' },
    migrations: { dir: 'migrations', database, ...(options.timeout ? { timeout: options.timeout } : {}) },
    rollback: { migrations: options.rollback ?? 'down' },
  });
  return { migrator: createMigrator(config, configDir)!, configDir, write };
}

/** The rehearsal copy a step line names. */
function copyName(steps: string[]): string {
  const line = steps.find((step) => step.startsWith('drop: removed '));
  expect(line, steps.join('\n')).toBeDefined();
  return line!.slice('drop: removed '.length);
}

/** The same behaviour, asserted on every engine. */
function migratorContract(engine: 'sqlite' | 'postgres', backend: Backend): void {
  const missingTableError =
    engine === 'sqlite' ? 'no such table: missing_table' : 'line 2: relation "missing_table" does not exist';
  const slowSql =
    engine === 'sqlite'
      ? 'CREATE TABLE slow AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) AS c FROM n;'
      : 'CREATE TABLE slow (id integer);\nSELECT pg_sleep(30);';

  it('given two migrations, when up runs, then it applies them in order and records the release', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, GOOD);
    expect(await migrator.pending()).toEqual([
      { id: '001_create_users', reversible: true },
      { id: '002_add_email', reversible: true },
    ]);
    // pending() only reads: the history table does not exist yet.
    expect(await backend.tables(database)).toEqual([]);

    const applied = await migrator.up(1);
    expect(applied.map((row) => [row.id, row.releaseId])).toEqual([
      ['001_create_users', 1],
      ['002_add_email', 1],
    ]);
    expect(applied.every((row) => Math.abs(row.appliedAt - Date.now()) < 60_000)).toBe(true);
    expect(await backend.tables(database)).toEqual([HISTORY_TABLE, 'users']);
    expect(await backend.history(database)).toEqual([
      ['001_create_users', 1],
      ['002_add_email', 1],
    ]);
    expect(await migrator.pending()).toEqual([]);
  });

  it('given applied migrations, when up runs again, then nothing runs twice and only new files apply', async () => {
    const database = await backend.fresh();
    const { migrator, write } = setup(database, GOOD);
    await migrator.up(1);
    expect(await migrator.up(1)).toEqual([]);
    expect(await migrator.up(2)).toEqual([]);
    write({ '003_add_index.up.sql': 'CREATE INDEX users_email ON users (email);' });
    expect(await migrator.pending()).toEqual([{ id: '003_add_index', reversible: false }]);
    expect((await migrator.up(2)).map((row) => row.id)).toEqual(['003_add_index']);
    expect(await backend.history(database)).toEqual([
      ['001_create_users', 1],
      ['002_add_email', 1],
      ['003_add_index', 2],
    ]);
  });

  it('given two migrators at once, when both run up, then each migration is applied exactly once', async () => {
    const database = await backend.fresh();
    const first = setup(database, GOOD).migrator;
    const second = setup(database, GOOD).migrator;
    const [a, b] = await Promise.all([first.up(1), second.up(2)]);
    expect([...a, ...b].map((row) => row.id).sort()).toEqual(['001_create_users', '002_add_email']);
    expect((await backend.history(database)).map(([id]) => id)).toEqual([
      '001_create_users',
      '002_add_email',
    ]);
  });

  it('given a failing 002, when up runs, then it names the file and the error, and 002 leaves nothing', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, {
      '001_create_users.up.sql': USERS_UP,
      '002_bad.up.sql':
        'CREATE TABLE orders (id integer PRIMARY KEY);\nINSERT INTO missing_table VALUES (1);',
      '003_never.up.sql': 'CREATE TABLE never (id integer);',
    });
    const failure = await migrator.up(1).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as MigrationError).message).toBe(
      `${path.join('migrations', '002_bad.up.sql')}: ${missingTableError}`,
    );
    expect((failure as MigrationError).file).toBe(path.join('migrations', '002_bad.up.sql'));
    expect((failure as MigrationError).done.map((row) => row.id)).toEqual(['001_create_users']);
    // 001 stays; 002's first statement is gone with its transaction; 003 never ran.
    expect(await backend.tables(database)).toEqual([HISTORY_TABLE, 'users']);
    expect(await backend.history(database)).toEqual([['001_create_users', 1]]);
    expect((await migrator.pending()).map((m) => m.id)).toEqual(['002_bad', '003_never']);
  });

  it('given migrations of two releases, when down runs, then it undoes only that release, newest first', async () => {
    const database = await backend.fresh();
    const { migrator, write } = setup(database, GOOD);
    await migrator.up(1);
    write({
      '003_create_orders.up.sql': 'CREATE TABLE orders (id integer PRIMARY KEY);',
      '003_create_orders.down.sql': 'DROP TABLE orders;',
    });
    await migrator.up(2);
    expect((await migrator.down(2)).map((row) => row.id)).toEqual(['003_create_orders']);
    expect(await backend.tables(database)).toEqual([HISTORY_TABLE, 'users']);

    const undone = await migrator.down(1);
    expect(undone.map((row) => [row.id, row.releaseId])).toEqual([
      ['002_add_email', 1],
      ['001_create_users', 1],
    ]);
    expect(await backend.tables(database)).toEqual([HISTORY_TABLE]);
    expect(await backend.history(database)).toEqual([]);
    expect(await migrator.down(1)).toEqual([]);
    expect((await migrator.pending()).length).toBe(3);
  });

  it('given an irreversible migration, when down runs, then it refuses before undoing anything', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, {
      '001_create_users.up.sql': USERS_UP,
      '002_add_email.up.sql': EMAIL_UP,
      '002_add_email.down.sql': EMAIL_DOWN,
    });
    await migrator.up(1);
    await expect(migrator.down(1)).rejects.toThrow(
      new MigrationError('001_create_users has no down step: a rollback cannot undo it'),
    );
    expect(await backend.history(database)).toEqual([
      ['001_create_users', 1],
      ['002_add_email', 1],
    ]);
  });

  it('given a slow migration, when the timeout passes, then it is rolled back and named', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, { '001_slow.up.sql': slowSql }, { timeout: '1s' });
    const failure = await migrator.up(1).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toBe(
      `up timed out after 1s (migrations.timeout) while running ${path.join('migrations', '001_slow.up.sql')}, whose transaction was not committed`,
    );
    expect(await backend.tables(database)).toEqual([HISTORY_TABLE]);
    expect(await backend.history(database)).toEqual([]);
  });

  it('given a running migration, when the caller aborts, then up stops with the reason', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, { '001_slow.up.sql': slowSql });
    const controller = new AbortController();
    // Long enough for the runner to start and reach the migration, far shorter than the migration.
    setTimeout(() => controller.abort(), 1000);
    await expect(migrator.up(1, controller.signal)).rejects.toThrow(/^up was aborted while running /);
    expect(await backend.tables(database)).toEqual([HISTORY_TABLE]);
  });

  it('given good migrations, when rehearsed, then up, down and up run on a copy that is then removed', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, GOOD);
    const result = await migrator.rehearse();
    expect(result.ok, result.steps.join('\n')).toBe(true);
    expect(result.summary).toBe(
      'up, down and up again rehearsed on a copy for 2 pending migrations (001_create_users, 002_add_email)',
    );
    expect(result.steps.map((step) => step.split(':')[0])).toEqual([
      'copy',
      'up',
      'down',
      'up again',
      'drop',
    ]);
    expect(result.steps.slice(1, 4)).toEqual([
      'up: applied 001_create_users, 002_add_email',
      'down: undid 002_add_email, 001_create_users',
      'up again: applied 001_create_users, 002_add_email',
    ]);
    expect(await backend.copyExists(copyName(result.steps))).toBe(false);
    expect(await backend.tables(database)).toEqual([]);
    expect((await migrator.pending()).length).toBe(2);
  });

  it('given a broken down file, when rehearsed, then it fails naming the step and file, and the database is untouched', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, {
      ...GOOD,
      '002_add_email.down.sql': 'ALTER TABLE nope DROP COLUMN email;',
    });
    const result = await migrator.rehearse();
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(
      new RegExp(`^rehearsal failed at down: ${path.join('migrations', '002_add_email.down.sql')}: .*nope`),
    );
    expect(result.steps.at(-2)).toMatch(/^down: FAILED: /);
    expect(await backend.copyExists(copyName(result.steps))).toBe(false);
    expect(await backend.tables(database)).toEqual([]);
  });

  it('given applied and new migrations, when rehearsed, then only the new ones are rehearsed', async () => {
    const database = await backend.fresh();
    const { migrator, write } = setup(database, { '001_create_users.up.sql': USERS_UP });
    await migrator.up(1);
    write({ '002_add_email.up.sql': EMAIL_UP, '002_add_email.down.sql': EMAIL_DOWN });
    const result = await migrator.rehearse();
    expect(result.ok, result.steps.join('\n')).toBe(true);
    expect(result.steps[2]).toBe('down: undid 002_add_email');
    expect(await backend.history(database)).toEqual([['001_create_users', 1]]);
  });

  it('given an irreversible migration, when rehearsed, then down fails, or is skipped with rollback.migrations: keep', async () => {
    const database = await backend.fresh();
    const files = { '001_create_users.up.sql': USERS_UP };
    const strict = await setup(database, files, { rollback: 'down' }).migrator.rehearse();
    expect(strict).toMatchObject({
      ok: false,
      summary: 'rehearsal failed at down: 001_create_users has no down step: a rollback cannot undo it',
    });
    const kept = await setup(database, files, { rollback: 'keep' }).migrator.rehearse();
    expect(kept.ok).toBe(true);
    expect(kept.steps[2]).toBe(
      'down: skipped: 001_create_users has no down step: a rollback cannot undo it (rollback.migrations: keep)',
    );
    expect(await backend.tables(database)).toEqual([]);
  });

  it('given nothing pending, when rehearsed, then it says so without copying', async () => {
    const database = await backend.fresh();
    const { migrator } = setup(database, GOOD);
    await migrator.up(1);
    expect(await migrator.rehearse()).toEqual({
      ok: true,
      summary: 'no pending migrations to rehearse',
      steps: [],
    });
  });
}

describe('createMigrator', () => {
  it('returns undefined without a migrations block', () => {
    const config = configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' } });
    expect(createMigrator(config, os.tmpdir())).toBeUndefined();
  });

  it('refuses release ids a rehearsal or the history column could not tell apart', async () => {
    const { migrator } = setup('sqlite:nowhere.db', GOOD);
    await expect(migrator.up(0)).rejects.toThrow(/a release id is a whole number above 0, got 0/);
    await expect(migrator.down(1.5)).rejects.toThrow(MigrationError);
  });

  it('fails clearly on a SQLite file that does not exist, rather than creating one', async () => {
    const { migrator, configDir } = setup('sqlite:missing.db', GOOD);
    await expect(migrator.up(1)).rejects.toThrow(
      new MigrationError(`up: database file ${path.join(configDir, 'missing.db')} does not exist`),
    );
    expect(fs.existsSync(path.join(configDir, 'missing.db'))).toBe(false);
  });
});

describe('migrator on SQLite', () => {
  afterAll(() => fs.rmSync(sqliteDir, { recursive: true, force: true }));
  migratorContract('sqlite', sqliteBackend);
});

describe.skipIf(pgProblem !== undefined)(
  `migrator on PostgreSQL${pgProblem === undefined ? '' : ` (skipped: ${pgUnreachable})`}`,
  () => {
    beforeAll(async () => {
      await pgRows(PG_URL, `CREATE DATABASE ${pgDatabase}`);
    });
    afterAll(async () => {
      await pgRows(PG_URL, `DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
    });

    migratorContract('postgres', pgBackend);

    it('given no other session on the database, when rehearsed, then the copy is made with TEMPLATE', async () => {
      const database = await pgBackend.fresh();
      const result = await setup(database, GOOD).migrator.rehearse();
      expect(result.ok, result.steps.join('\n')).toBe(true);
      expect(result.steps[0]).toMatch(
        /^copy: created shipcheck_rehearsal_[0-9a-f]+ from sc_mig_\w+ with CREATE DATABASE \.\.\. TEMPLATE$/,
      );
    });

    it('given another session on the database, when rehearsed, then the copy is made with pg_dump | psql', async () => {
      const database = await pgBackend.fresh();
      const { migrator, write } = setup(database, {
        '001_create_users.up.sql': USERS_UP,
        '001_create_users.down.sql': USERS_DOWN,
      });
      await migrator.up(1);
      await pgRows(database, "INSERT INTO users (id, name) VALUES (1, 'ada')");
      write({ '002_add_email.up.sql': EMAIL_UP, '002_add_email.down.sql': EMAIL_DOWN });
      const holder = new pg.Client({ connectionString: pgDatabaseUrl });
      await holder.connect();
      try {
        const result = await migrator.rehearse();
        expect(result.ok, result.steps.join('\n')).toBe(true);
        expect(result.steps[0]).toMatch(
          /with pg_dump \| psql \(sc_mig_\w+ has other connections, which TEMPLATE does not allow\)$/,
        );
        expect(result.steps[1]).toBe('up: applied 002_add_email');
        expect(await pgBackend.copyExists(copyName(result.steps))).toBe(false);
      } finally {
        await holder.end();
      }
      expect(await pgBackend.history(database)).toEqual([['001_create_users', 1]]);
    });

    it('given another session and no pg_dump, when rehearsed, then it fails saying why and leaves no copy', async () => {
      const database = await pgBackend.fresh();
      const { migrator } = setup(database, GOOD);
      const holder = new pg.Client({ connectionString: pgDatabaseUrl });
      await holder.connect();
      const savedPath = process.env.PATH;
      let copy = '';
      // An empty PATH hides pg_dump and psql; the SQLite runner and pg need neither.
      process.env.PATH = '';
      try {
        const result = await migrator.rehearse();
        expect(result.ok).toBe(false);
        expect(result.summary).toMatch(
          /^rehearsal failed at copy: cannot copy sc_mig_\w+ into shipcheck_rehearsal_[0-9a-f]+: sc_mig_\w+ has other connections, which TEMPLATE does not allow, and pg_dump \| psql failed: pg_dump is not installed/,
        );
        copy = /shipcheck_rehearsal_[0-9a-f]+/.exec(result.summary)?.[0] ?? '';
      } finally {
        process.env.PATH = savedPath;
        await holder.end();
      }
      expect(await pgBackend.copyExists(copy)).toBe(false);
      expect(await pgBackend.tables(database)).toEqual([]);
    });

    it('keeps the password out of its errors', async () => {
      const url = new URL(PG_URL);
      url.password = 'hunter2';
      url.port = '1'; // nothing listens: the point is what the failure shows
      const { migrator } = setup(url.href, GOOD);
      const failure = await migrator.pending().catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(MigrationError);
      expect((failure as Error).message).toMatch(
        /^cannot list pending migrations: cannot connect to postgres:\/\/.*\*\*\*@/,
      );
      expect((failure as Error).message).not.toContain('hunter2');
    });
  },
);

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)('migrator on PostgreSQL (required)', () => {
  it('has a reachable PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(pgUnreachable);
  });
});
