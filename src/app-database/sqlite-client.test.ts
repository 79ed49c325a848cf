import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../errors.js';
import { SqliteRunner, SqliteRunnerStopped } from './sqlite-client.js';

/** A query that runs for seconds, far past the moment the tests stop it. */
const SLOW_QUERY =
  'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n';
const BUSY_TIMEOUT_MS = 1_000;

describe('the SQLite runner', () => {
  let dir: string;
  let file: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-sqlite-runner-'));
    file = path.join(dir, 'app.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, photo BLOB);
      INSERT INTO users (name, photo) VALUES ('ada', x'0102'), ('grace', NULL), ('linus', NULL);`);
    db.close();
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = (readonly: boolean, signal = new AbortController().signal) =>
    SqliteRunner.open(file, { readonly, busyTimeoutMs: BUSY_TIMEOUT_MS, signal });

  it('given an open database, when asked several things in turn, then it answers each, and closes', async () => {
    const runner = await open(true);
    try {
      const rows = await runner.request({
        op: 'query',
        sql: 'SELECT name, photo FROM users ORDER BY id',
        sampleRows: 2,
      });
      expect(rows).toEqual({
        columns: ['name', 'photo'],
        rowCount: 3,
        rows: [
          ['ada', Buffer.from([1, 2])],
          ['grace', null],
        ],
      });
      expect(await runner.request({ op: 'count', check: true })).toEqual({ tables: { users: 3 } });
      expect(await runner.request({ op: 'history' })).toEqual([]);
    } finally {
      await runner.close();
    }
  });

  it('given a failing request, when it fails, then the error is SQLite’s and the runner still answers', async () => {
    const runner = await open(true);
    try {
      await expect(
        runner.request({ op: 'query', sql: 'SELECT * FROM orders', sampleRows: 1 }),
      ).rejects.toThrow(new ProviderError('no such table: orders'));
      await expect(runner.request({ op: 'ensureHistory' })).rejects.toThrow(/readonly database/);
      expect((await runner.request({ op: 'count', check: false })).tables).toEqual({ users: 3 });
    } finally {
      await runner.close();
    }
  });

  it('given a file that does not exist, when opened, then it fails and creates nothing', async () => {
    const missing = path.join(dir, 'missing.db');
    await expect(
      SqliteRunner.open(missing, {
        readonly: false,
        busyTimeoutMs: BUSY_TIMEOUT_MS,
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow(ProviderError);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('given a slow query, when the signal fires, then the runner is killed and the request stops at once', async () => {
    const controller = new AbortController();
    const runner = await open(true, controller.signal);
    const answer = runner.request({ op: 'query', sql: SLOW_QUERY, sampleRows: 1 });
    setTimeout(() => controller.abort(), 100);
    await expect(answer).rejects.toThrow(SqliteRunnerStopped);
    await runner.close();
    await expect(runner.request({ op: 'history' })).rejects.toThrow(SqliteRunnerStopped);
  });

  it('given a stopped signal, when opening, then no runner starts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(open(true, controller.signal)).rejects.toThrow(SqliteRunnerStopped);
  });
});
