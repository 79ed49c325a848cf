import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlCheck, type SqlParams } from './sql.js';
import { testContext } from '../../../test/support/check-context.js';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../../test/support/postgres.js';

/** A query that runs for seconds, far past the timeouts below. */
const SQLITE_SLOW_QUERY =
  'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n';

const pgProblem = await probePostgres(PG_URL);
const pgUnreachable = unreachableMessage(pgProblem);
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the PostgreSQL tests of the sql check: ${pgUnreachable}`);

async function run(input: Record<string, unknown>, overrides: Parameters<typeof testContext>[0] = {}) {
  const params: SqlParams = sqlCheck.params.parse(input);
  return sqlCheck.run(params, testContext(overrides));
}

describe('sql params', () => {
  it('fills defaults and accepts either database kind', () => {
    expect(sqlCheck.params.parse({ database: 'sqlite:state.db', query: ' SELECT 1 ' })).toEqual({
      database: 'sqlite:state.db',
      query: 'SELECT 1',
      timeout: 10_000,
    });
    expect(sqlCheck.params.safeParse({ database: 'postgresql://db/app', query: 'SELECT 1' }).success).toBe(
      true,
    );
  });

  it('rejects other databases, empty queries and two expectations at once', () => {
    expect(sqlCheck.params.safeParse({ database: 'mysql://db/app', query: 'SELECT 1' }).success).toBe(false);
    expect(sqlCheck.params.safeParse({ database: 'sqlite:', query: 'SELECT 1' }).success).toBe(false);
    expect(sqlCheck.params.safeParse({ database: 'sqlite:a.db', query: '  ' }).success).toBe(false);
    const both = sqlCheck.params.safeParse({
      database: 'sqlite:a.db',
      query: 'SELECT 1',
      expect: 1,
      expectRows: 1,
    });
    expect(both.success).toBe(false);
  });
});

describe('sql check on SQLite', () => {
  let configDir: string;

  beforeAll(() => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-sql-'));
    const db = new Database(path.join(configDir, 'app.db'));
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, active BOOLEAN);
      INSERT INTO users (name, active) VALUES ('ada', 1), ('grace', 1), ('linus', 0);`);
    db.close();
  });

  afterAll(() => {
    fs.rmSync(configDir, { recursive: true, force: true });
  });

  const sqlite = (input: Record<string, unknown>, overrides: Parameters<typeof testContext>[0] = {}) =>
    run({ database: 'sqlite:app.db', ...input }, { configDir, ...overrides });

  it('compares the first value, numbers by value', async () => {
    const result = await sqlite({ query: 'SELECT count(*) FROM users WHERE active', expect: 2 });
    expect(result).toMatchObject({
      ok: true,
      summary: 'SELECT count(*) FROM users WHERE active: 2 (expected 2)',
      value: 2,
    });
    const wrong = await sqlite({ query: 'SELECT count(*) FROM users', expect: 42 });
    expect(wrong).toMatchObject({ ok: false, summary: 'SELECT count(*) FROM users: 3, expected 42' });
    expect((await sqlite({ query: 'SELECT name FROM users WHERE id = 2', expect: 'grace' })).ok).toBe(true);
    expect((await sqlite({ query: 'SELECT active FROM users WHERE id = 3', expect: false })).ok).toBe(true);
    expect((await sqlite({ query: 'SELECT NULL', expect: null })).ok).toBe(true);
    const none = await sqlite({ query: 'SELECT id FROM users WHERE id > 10', expect: 1 });
    expect(none.summary).toBe('SELECT id FROM users WHERE id > 10: no rows, expected 1');
  });

  it('counts rows, and checks for some', async () => {
    const exact = await sqlite({ query: 'SELECT * FROM users', expectRows: 3 });
    expect(exact).toMatchObject({ ok: true, summary: 'SELECT * FROM users: 3 rows (expected 3)', value: 3 });
    expect(exact.data).toMatchObject({
      columns: ['id', 'name', 'active'],
      rowCount: 3,
      rows: [
        [1, 'ada', 1],
        [2, 'grace', 1],
        [3, 'linus', 0],
      ],
    });
    expect(exact.output).toBe('id\tname\tactive\n1\t"ada"\t1\n2\t"grace"\t1\n3\t"linus"\t0');
    const nonEmpty = await sqlite({ query: 'SELECT id FROM users WHERE NOT active', expectNonEmpty: true });
    expect(nonEmpty.summary).toBe('SELECT id FROM users WHERE NOT active: 1 row (expected at least 1)');
    const empty = await sqlite({ query: "SELECT id FROM users WHERE name = 'bob'", expectNonEmpty: true });
    expect(empty).toMatchObject({
      ok: false,
      summary: "SELECT id FROM users WHERE name = 'bob': no rows, expected at least 1",
    });
  });

  it('passes when the query merely succeeds, and fails with the database error', async () => {
    expect(await sqlite({ query: 'SELECT 1' })).toMatchObject({ ok: true, summary: 'SELECT 1: 1 row' });
    const broken = await sqlite({ query: 'SELECT * FROM orders' });
    expect(broken).toMatchObject({ ok: false, summary: 'SELECT * FROM orders: no such table: orders' });
  });

  it('opens the database read-only', async () => {
    const result = await sqlite({ query: "INSERT INTO users (name) VALUES ('mallory')" });
    expect(result).toMatchObject({ ok: false, summary: expect.stringContaining('readonly database') });
    expect((await sqlite({ query: 'SELECT count(*) FROM users', expect: 3 })).ok).toBe(true);
  });

  it('fails when the file does not exist', async () => {
    const result = await sqlite({ database: 'sqlite:missing.db', query: 'SELECT 1' });
    expect(result.summary).toBe(
      `SELECT 1: database file ${path.join(configDir, 'missing.db')} does not exist`,
    );
  });

  it('stops a slow query at the timeout or on abort', async () => {
    const slow = await sqlite({ query: SQLITE_SLOW_QUERY, timeout: '200ms' });
    expect(slow).toMatchObject({ ok: false, summary: expect.stringMatching(/: no result within 200ms$/) });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const aborted = await sqlite({ query: SQLITE_SLOW_QUERY }, { signal: controller.signal });
    expect(aborted).toMatchObject({ ok: false, summary: expect.stringMatching(/: aborted$/) });
  });
});

describe.skipIf(pgProblem !== undefined)(
  `sql check on PostgreSQL${pgProblem === undefined ? '' : ` (skipped: ${pgUnreachable})`}`,
  () => {
    const schema = `sc_${crypto.randomBytes(6).toString('hex')}`;
    let admin: pg.Client;
    let database: string;

    beforeAll(async () => {
      admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`CREATE TABLE ${schema}.users (id serial PRIMARY KEY, name text NOT NULL, active boolean NOT NULL,
        balance numeric(10, 2) NOT NULL, created timestamptz NOT NULL)`);
      await admin.query(`INSERT INTO ${schema}.users (name, active, balance, created) VALUES
        ('ada', true, 10.50, '2024-01-02T03:04:05Z'), ('grace', true, 0, now()), ('linus', false, 3, now())`);
      // The check's queries name tables without the schema, as a real config would.
      database = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    });

    afterAll(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });

    const postgres = (input: Record<string, unknown>, overrides: Parameters<typeof testContext>[0] = {}) =>
      run({ database, ...input }, overrides);

    it('compares count(*) as a number, and other values by type', async () => {
      const count = await postgres({ query: 'SELECT count(*) FROM users WHERE active', expect: 2 });
      expect(count).toMatchObject({
        ok: true,
        summary: 'SELECT count(*) FROM users WHERE active: 2 (expected 2)',
        value: 2,
      });
      const wrong = await postgres({ query: 'SELECT count(*) FROM users', expect: 42 });
      expect(wrong).toMatchObject({ ok: false, summary: 'SELECT count(*) FROM users: 3, expected 42' });
      const balance = await postgres({ query: "SELECT balance FROM users WHERE name = 'ada'", expect: 10.5 });
      expect(balance).toMatchObject({ ok: true, value: 10.5 });
      expect(
        (await postgres({ query: "SELECT active FROM users WHERE name = 'linus'", expect: false })).ok,
      ).toBe(true);
      const created = await postgres({
        query: "SELECT created FROM users WHERE name = 'ada'",
        expect: '2024-01-02T03:04:05.000Z',
      });
      expect(created.ok, created.summary).toBe(true);
      expect(created.data).toMatchObject({ firstValue: '2024-01-02T03:04:05.000Z' });
    });

    it('counts rows, and checks for some', async () => {
      const exact = await postgres({ query: 'SELECT id, name FROM users ORDER BY id', expectRows: 3 });
      expect(exact).toMatchObject({ ok: true, value: 3, data: { columns: ['id', 'name'], rowCount: 3 } });
      const fewer = await postgres({ query: 'SELECT id FROM users WHERE active', expectRows: 3 });
      expect(fewer).toMatchObject({
        ok: false,
        summary: 'SELECT id FROM users WHERE active: 2 rows, expected 3',
      });
      expect((await postgres({ query: 'SELECT 1 FROM users', expectNonEmpty: true })).ok).toBe(true);
    });

    it('fails with the database error, and runs read-only', async () => {
      const missing = await postgres({ query: 'SELECT * FROM orders' });
      expect(missing).toMatchObject({
        ok: false,
        summary: 'SELECT * FROM orders: relation "orders" does not exist',
      });
      const write = await postgres({
        query: "INSERT INTO users (name, active, balance, created) VALUES ('x', true, 0, now())",
      });
      expect(write.summary).toContain('cannot execute INSERT in a read-only transaction');
      expect((await postgres({ query: 'SELECT count(*) FROM users', expect: 3 })).ok).toBe(true);
    });

    it('stops a slow query at the timeout or on abort', async () => {
      const slow = await postgres({ query: 'SELECT pg_sleep(30)', timeout: '300ms' });
      expect(slow).toMatchObject({ ok: false, summary: 'SELECT pg_sleep(30): no result within 300ms' });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const aborted = await postgres({ query: 'SELECT pg_sleep(30)' }, { signal: controller.signal });
      expect(aborted).toMatchObject({ ok: false, summary: 'SELECT pg_sleep(30): aborted' });
    });

    it('keeps the password out of evidence', async () => {
      const url = new URL(PG_URL);
      url.password = 'hunter2';
      url.port = '1'; // nothing listens: the point is what the failure shows
      const result = await run({ database: url.href, query: 'SELECT 1', timeout: '2s' });
      expect(result.ok).toBe(false);
      expect(JSON.stringify(result)).not.toContain('hunter2');
    });
  },
);

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)('sql check on PostgreSQL (required)', () => {
  it('has a reachable PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(pgUnreachable);
  });
});
