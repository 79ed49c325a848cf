import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatsSnapshot } from '../../app-database/query-stats.js';
import { configSchema } from '../../config/schema.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/types.js';
import { ManualClock } from '../../util/clock.js';
import { testContext } from '../../../test/support/check-context.js';
import { PG_URL, probePostgres, REQUIRE_REAL, unreachableMessage } from '../../../test/support/postgres.js';
import {
  postgresServerMissing,
  startPostgresServer,
  type PostgresServer,
} from '../../../test/support/postgres-server.js';
import type { CheckContext } from '../types.js';
import { queriesCheck, type QueriesParams } from './queries.js';
import { compareSnapshots } from './query-compare.js';

const missingServer = postgresServerMissing();
if (missingServer !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the queries tests against a PostgreSQL of their own: ${missingServer}`);

/** Rows in the test table: enough that a lookup without its index takes milliseconds, not microseconds. */
const ROWS = 200_000;
/** Calls of each statement per round, above the default minCalls (20). */
const CALLS = 30;

function params(overrides: Record<string, unknown> = {}): QueriesParams {
  return queriesCheck.params.parse(overrides);
}

function snapshot(
  statements: [string, string, number, number][],
  statsReset: number | null = 1,
): StatsSnapshot {
  return {
    database: 'app',
    serverVersion: 150000,
    statsReset,
    statements: statements.map(([queryid, query, calls, totalMs]) => ({ queryid, query, calls, totalMs })),
  };
}

const OPTIONS = { top: 10, slowerBy: 0.5, minCalls: 20, minIncreaseMs: 1 };

describe.runIf(missingServer !== undefined && REQUIRE_REAL)('queries against PostgreSQL (required)', () => {
  it('has PostgreSQL server binaries because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(missingServer);
  });
});

describe('queries: params and what needs no server', () => {
  it('fills in defaults and refuses what is not a database', () => {
    expect(params()).toEqual({
      phase: 'after',
      top: 10,
      slowerBy: 0.5,
      minCalls: 20,
      minIncrease: 1,
      timeout: 30_000,
    });
    expect(queriesCheck.params.safeParse({ database: 'mysql://db' }).success).toBe(false);
    expect(queriesCheck.params.safeParse({ phase: 'during' }).success).toBe(false);
    expect(queriesCheck.params.safeParse({ slowerBy: '150%' }).success).toBe(false);
  });

  it('is inconclusive without a database, on SQLite, and without a store', async () => {
    const none = await queriesCheck.run(params(), testContext());
    expect(none).toEqual({
      ok: false,
      inconclusive: true,
      summary: 'no database to read: set migrations.database, or the database param',
    });
    const sqlite = await queriesCheck.run(params({ database: 'sqlite:app.db' }), testContext());
    expect(sqlite.inconclusive).toBe(true);
    expect(sqlite.summary).toBe(
      'sqlite:app.db is a SQLite database, which has no pg_stat_statements; query statistics need PostgreSQL',
    );
    const noStore = await queriesCheck.run(
      params({ database: 'postgres://app:secret@db/app' }),
      testContext(),
    );
    expect(noStore.inconclusive).toBe(true);
    expect(noStore.summary).toBe('no store to keep the snapshot in');
    expect(JSON.stringify(noStore)).not.toContain('secret');
  });

  it('compares means over the span since the snapshot, matching by queryid or by text', () => {
    const before = snapshot([
      ['1', 'SELECT a', 100, 100], // 1ms mean
      ['2', 'SELECT b', 100, 100],
      ['3', 'SELECT c', 100, 10_000], // 100ms mean
      ['4', 'SELECT d', 5, 5], // too few calls before
    ]);
    const now = snapshot([
      ['1', 'SELECT a', 150, 400], // 50 calls, 300ms: 6ms mean
      ['9', 'SELECT b', 150, 150], // new queryid, same text: 50 calls, 1ms mean: unchanged
      ['3', 'SELECT c', 200, 20_000], // 100 calls, 100ms mean: unchanged
      ['4', 'SELECT d', 100, 1_000],
      ['5', 'SELECT e', 30, 30], // new
    ]);
    const result = compareSnapshots(before, now, OPTIONS);
    expect(result.reset).toBe(false);
    expect(result.compared).toBe(3);
    expect(result.slower).toEqual([
      {
        queryid: '1',
        query: 'SELECT a',
        before: { calls: 100, meanMs: 1 },
        after: { calls: 50, meanMs: 6 },
        growth: 5,
        extraMs: 250,
      },
    ]);
    expect(result.before.map((s) => s.query)).toEqual(['SELECT c', 'SELECT a', 'SELECT b', 'SELECT d']);
    expect(result.after.map((s) => [s.query, s.calls, s.totalMs])).toEqual([
      ['SELECT c', 100, 10_000],
      ['SELECT d', 95, 995],
      ['SELECT a', 50, 300],
      ['SELECT b', 50, 50],
      ['SELECT e', 30, 30],
    ]);
  });

  it('ignores growth under minIncrease, and counts from a reset', () => {
    const before = snapshot([['1', 'SELECT a', 100, 1]]); // 0.01ms mean
    const jitter = snapshot([['1', 'SELECT a', 200, 5]]); // 0.04ms mean: 300% but 0.03ms
    expect(compareSnapshots(before, jitter, OPTIONS).slower).toEqual([]);
    const afterReset = snapshot([['1', 'SELECT a', 40, 400]], 2); // reset: 40 calls, 10ms mean
    const result = compareSnapshots(before, afterReset, OPTIONS);
    expect(result.reset).toBe(true);
    expect(result.slower.map((s) => [s.before.meanMs, s.after.meanMs])).toEqual([[0.01, 10]]);
  });
});

describe.runIf(missingServer === undefined)('queries against a PostgreSQL with pg_stat_statements', () => {
  let server: PostgresServer;
  let admin: pg.Client;
  let tempDir: string;
  let store: Store;
  let database: string;
  const clock = new ManualClock();

  function context(overrides: Partial<CheckContext> = {}): CheckContext {
    return testContext({ store, clock, version: 'v2', unit: 'web', ...overrides });
  }

  /** Runs each statement of the workload CALLS times, as an application would (one prepared form each). */
  async function workload(): Promise<void> {
    const app = new pg.Client({ connectionString: database });
    await app.connect();
    try {
      for (let i = 0; i < CALLS; i += 1) {
        await app.query('SELECT v FROM items WHERE k = $1', [i * 7]);
        await app.query('SELECT v FROM items WHERE id = $1', [i * 11 + 1]);
      }
    } finally {
      await app.end();
    }
  }

  beforeAll(async () => {
    server = await startPostgresServer({ shared_preload_libraries: 'pg_stat_statements' });
    admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    await admin.query('CREATE DATABASE app');
    await admin.query('CREATE DATABASE plain');
    database = server.url('app');
    const app = new pg.Client({ connectionString: database });
    await app.connect();
    await app.query('CREATE EXTENSION pg_stat_statements');
    await app.query('CREATE TABLE items (id serial PRIMARY KEY, k int NOT NULL, v text NOT NULL)');
    await app.query(`INSERT INTO items (k, v) SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) AS g`);
    await app.query('CREATE INDEX items_k ON items (k)');
    await app.query('ANALYZE items');
    await app.end();
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-queries-'));
    store = SqliteStore.open(path.join(tempDir, 'state.db'));
    await store.migrate();
  }, 90_000);

  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    await store?.close();
    await server?.stop();
    if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
  });

  it('records a snapshot before the release, and after a restart names the query that got slower', async () => {
    await workload();
    const before = await queriesCheck.run(params({ phase: 'before', database }), context());
    expect(before.ok).toBe(true);
    expect(before.summary).toMatch(/^recorded \d+ statements of app before v2$/);
    const top = (before.data?.before ?? []) as { query: string }[];
    expect(top.map((s) => s.query)).toContain('SELECT v FROM items WHERE k = $1');

    // The release drops the index the lookup by k relied on.
    const app = new pg.Client({ connectionString: database });
    await app.connect();
    await app.query('DROP INDEX items_k');
    await app.end();
    await workload();

    // A restarted control plane reads the snapshot from the store.
    await store.close();
    store = SqliteStore.open(path.join(tempDir, 'state.db'));
    await store.migrate();
    clock.advance(3_600_000);

    // The snapshot is found through migrations.database when the item names no database.
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'true' },
      migrations: { dir: 'migrations', database },
    });
    const after = await queriesCheck.run(params(), context({ config }));
    expect(after.ok).toBe(false);
    expect(after.inconclusive).toBeUndefined();
    expect(after.summary).toMatch(
      /^1 query slower by more than 50% in the 1h since v2's snapshot: SELECT v FROM items WHERE k = \$1 \S+ -> \S+ mean \(30 calls\)$/,
    );
    const slower = after.data?.slower as {
      query: string;
      before: { meanMs: number };
      after: { meanMs: number };
    }[];
    expect(slower).toHaveLength(1);
    expect(slower[0]!.after.meanMs).toBeGreaterThan(slower[0]!.before.meanMs * 1.5);
    const afterTop = after.data?.after as { query: string; calls: number }[];
    expect(afterTop.find((s) => s.query === 'SELECT v FROM items WHERE id = $1')?.calls).toBe(CALLS);
    expect(after.output).toContain('Slower');
    expect(after.output).toContain('Top by total time before the release');
    expect(after.output).toContain('Top by total time since');
  });

  it("passes when nothing got slower, judging before on the previous version's span", async () => {
    const app = new pg.Client({ connectionString: database });
    await app.connect();
    await app.query('CREATE INDEX IF NOT EXISTS items_k ON items (k)');
    await app.end();
    // v3 is released over v2.5, whose own snapshot starts the span "before" covers.
    await queriesCheck.run(params({ phase: 'before', database }), context({ version: 'v2.5' }));
    await workload();
    clock.advance(60_000);
    await queriesCheck.run(params({ phase: 'before', database }), context({ version: 'v3' }));
    await workload();
    clock.advance(60_000);
    const result = await queriesCheck.run(params({ database }), context({ version: 'v3' }));
    expect(result.summary).toMatch(/^no query slower by more than 50% \(2 statements compared over 1m\)/);
    expect(result.ok).toBe(true);
    expect(result.data?.beforeFrom).toBe("since v2.5's snapshot");
    const before = result.data?.before as { query: string; calls: number }[];
    expect(before.find((s) => s.query === 'SELECT v FROM items WHERE k = $1')?.calls).toBe(CALLS);
  });

  it('records a first snapshot when there is none, and compares with it next time', async () => {
    const version = { version: 'v4' };
    const first = await queriesCheck.run(params({ database }), context(version));
    expect(first.ok).toBe(false);
    expect(first.inconclusive).toBe(true);
    expect(first.summary).toMatch(
      /^first snapshot recorded \(\d+ statements of app\); the next run compares with it$/,
    );
    const idle = await queriesCheck.run(params({ database }), context(version));
    expect(idle.inconclusive).toBe(true);
    expect(idle.summary).toMatch(/^too few calls to compare: no query ran 20 times/);
  });

  it('is inconclusive, saying how to install it, where the extension is not created', async () => {
    const result = await queriesCheck.run(params({ database: server.url('plain') }), context());
    expect(result.inconclusive).toBe(true);
    expect(result.summary).toBe(
      `${server.url('plain')}: pg_stat_statements is not installed in database plain: run CREATE EXTENSION pg_stat_statements; in database plain`,
    );
  });
});

describe('queries against the shared PostgreSQL', () => {
  it('is inconclusive, saying how to load it, where pg_stat_statements is not loaded', async (ctx) => {
    const problem = await probePostgres();
    if (problem !== undefined) {
      if (REQUIRE_REAL) expect.fail(unreachableMessage(problem));
      console.warn(`SKIPPING: ${unreachableMessage(problem)}`);
      ctx.skip();
    }
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const preload = (
      await admin.query<{ s: string }>('SELECT current_setting($1) AS s', ['shared_preload_libraries'])
    ).rows[0]?.s;
    if (preload?.includes('pg_stat_statements')) {
      await admin.end();
      ctx.skip('the shared server loads pg_stat_statements');
    }
    // A database of this test's own: the extension is created per database, and others must not see it.
    const name = `sc_queries_${crypto.randomBytes(5).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${name}`);
    const store = SqliteStore.open(':memory:');
    await store.migrate();
    try {
      const url = new URL(PG_URL);
      url.pathname = `/${name}`;
      const run = () => queriesCheck.run(params({ database: url.href }), testContext({ store }));

      const missing = await run();
      expect(missing.ok).toBe(false);
      expect(missing.inconclusive).toBe(true);
      expect(missing.summary).toContain(
        "pg_stat_statements is not set up: add it to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'pg_stat_statements'), restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements;",
      );

      const client = new pg.Client({ connectionString: url.href });
      await client.connect();
      await client.query('CREATE EXTENSION pg_stat_statements');
      await client.end();
      const notLoaded = await run();
      expect(notLoaded.inconclusive).toBe(true);
      expect(notLoaded.summary).toContain(
        `pg_stat_statements is not loaded on this server: add it to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'pg_stat_statements') and restart PostgreSQL (database ${name})`,
      );
    } finally {
      await store.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
