import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { RetentionPolicy } from '../src/store/retention.js';
import type { Database } from '../src/store/schema.js';
import { RetentionPruner } from '../src/store/retention-pruner.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { ChecklistItemRow, ReleaseRow, Store } from '../src/store/types.js';
import { ManualClock } from '../src/util/clock.js';
import { PG_URL, probePostgres, unreachableMessage } from '../test/support/postgres.js';

/**
 * (j) Store retention soak: 10,000 releases over two years of a fast-forwarded clock, each with the
 *     events, measurements, checklist evidence and effects a real one leaves, written through the
 *     store into two stores side by side: one with the default retention (measurements 14 days,
 *     releases and events 365 days) and its pruner run once a simulated day, and one with retention
 *     off, the reference. At checkpoints it prints each store's size on disk and their ratio: the
 *     size with retention stays flat once a year has passed, the reference keeps growing.
 *     SQLite files live in /dev/shm when there is one (the soak measures size, not fsync). On
 *     PostgreSQL the size is pg_total_relation_size of the store's tables; each checkpoint runs
 *     VACUUM on both schemas first, standing in for autovacuum, which has months where the soak has
 *     seconds.
 */

const DAY = 86_400_000;
const DEFAULT_RELEASES = 10_000;
const SIMULATED_DAYS = 730;
const SERVICES = 10;
const CHECKPOINTS = 10;
/** The pruner's pass, in simulated time: less often than the default hour, so the soak stays short. */
const PRUNE_EVERY_MS = 3 * DAY;
/** A release lasts this long from creation to its end. */
const RELEASE_MS = 30 * 60_000;
/** Releases written at once, each to its own service: PostgreSQL answers several connections at a time. */
const CONCURRENCY = SERVICES;
/** Every this many releases, one rolls back on two failed measurements. */
const ROLLBACK_EVERY = 20;
const POLICY: RetentionPolicy = { measurementsMs: 14 * DAY, releasesMs: 365 * DAY, eventsMs: 365 * DAY };
const BATCH_SIZE = 500;
const START = Date.UTC(2024, 0, 1);
const MB = 1024 * 1024;

/** What each release leaves behind, about as a canary with three steps and a six-item checklist does. */
const MEASUREMENTS_PER_RELEASE = 10;
const ITEMS_PER_RELEASE = 5;
const WEIGHTS = [10, 50];
const EVENT_TYPES = ['release.started', 'release.step', 'release.step', 'release.verify', 'release.ended'];

/** One store of the soak and how to measure it. */
interface Side {
  store: Store;
  size(): Promise<number>;
  pruner?: RetentionPruner;
}

/** A dialect's two sides, retention on and off, and how to drop them afterwards. */
interface Pair {
  name: string;
  on: Side;
  off: Side;
  /** Run before measuring both sides (VACUUM on PostgreSQL). */
  settle(): Promise<void>;
  tearDown(): Promise<void>;
}

/** Writes one release of `service` at `at` with everything it leaves, as the engine would. */
async function writeRelease(store: Store, service: string, n: number, at: number): Promise<void> {
  let release: ReleaseRow = await store.createRelease({
    service,
    version: `1.${n}.0`,
    fromVersion: `1.${n - 1}.0`,
    kind: 'deploy',
    state: 'progressing',
    phase: 'starting',
    step: 0,
    weight: 0,
    reason: null,
    outcome: null,
    stepStartedAt: at,
    phaseStartedAt: at,
    createdAt: at,
  });
  const rolledBack = n % ROLLBACK_EVERY === 0;
  const items: ChecklistItemRow[] = Array.from({ length: ITEMS_PER_RELEASE }, (_, i) => ({
    releaseId: release.id,
    id: `deployment/check-${i}`,
    position: i,
    section: 'Deployment',
    title: `Check ${i} of the deployment checklist`,
    kind: 'http',
    gate: 'pre-deploy',
    params: { url: `http://127.0.0.1:8080/healthz?item=${i}`, expect: 200 },
    hint: null,
    automated: true,
    state: 'passed',
    evidence: [
      {
        at,
        summary: `GET /healthz: 200 in 12ms (item ${i})`,
        output: 'ok '.repeat(40),
        data: { status: 200, ms: 12 },
      },
    ],
    updatedAt: at,
  }));
  await store.createChecklist(items);
  for (let i = 0; i < EVENT_TYPES.length; i++)
    await store.addEvent({
      service,
      releaseId: release.id,
      at: at + i * 60_000,
      type: EVENT_TYPES[i] ?? 'release.step',
      message: `release #${release.id} of ${service}: step ${i}`,
      data: { state: 'progressing', phase: 'canary', weight: i * 20, version: release.version },
    });
  for (let i = 0; i < MEASUREMENTS_PER_RELEASE; i++)
    await store.addMeasurement({
      releaseId: release.id,
      service,
      at: at + i * 120_000,
      trigger: 'error_rate > 5% for 30s',
      metric: 'error_rate',
      version: release.version,
      value: 0.012,
      threshold: 0.05,
      verdict: rolledBack && i >= MEASUREMENTS_PER_RELEASE - 2 ? 'fail' : 'pass',
      windowMs: 60_000,
      requests: 1204,
      message: 'error_rate 1.2% <= 5% over 60s on canary (1,204 requests)',
      inputs: { errors: 14, requests: 1204, source: 'builtin', window: '60s' },
    });
  for (const [i, weight] of WEIGHTS.entries())
    await store.saveEffect({
      key: `${service}#${release.id}:traffic:${weight}`,
      service,
      releaseId: release.id,
      kind: 'traffic',
      state: 'done',
      holder: 'soak',
      at: at + i * 300_000,
      data: { weight },
    });
  const end = at + RELEASE_MS;
  release = await store.updateRelease(
    release.id,
    rolledBack
      ? { state: 'rolled_back', phase: 'completed', reason: 'error_rate 6.1% > 5% for 30s on canary' }
      : { state: 'succeeded', phase: 'completed' },
    end,
  );
  // Now and then a unit's own event: a takeover, a reload.
  if (n % 10 === 0)
    await store.addEvent({
      service,
      releaseId: null,
      at: end,
      type: 'replica.leading',
      message: 'leading',
      data: {},
    });
}

function pruner(store: Store, clock: ManualClock): RetentionPruner {
  return new RetentionPruner({
    store,
    policy: POLICY,
    intervalMs: PRUNE_EVERY_MS,
    batchSize: BATCH_SIZE,
    clock,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    pauseMs: 0,
  });
}

/** SQLite files in /dev/shm (or the temp folder). */
async function sqlitePair(clock: ManualClock): Promise<Pair> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'shipcheck-retention-soak-'));
  const side = async (name: string, prune: boolean): Promise<Side> => {
    const file = path.join(dir, `${name}.db`);
    const store = SqliteStore.open(file);
    await store.migrate();
    const size = async (): Promise<number> =>
      ['', '-wal'].reduce(
        (sum, suffix) => sum + (fs.statSync(`${file}${suffix}`, { throwIfNoEntry: false })?.size ?? 0),
        0,
      );
    return { store, size, ...(prune ? { pruner: pruner(store, clock) } : {}) };
  };
  const on = await side('on', true);
  const off = await side('off', false);
  return {
    name: `SQLite (${base})`,
    on,
    off,
    settle: async () => undefined,
    tearDown: async () => {
      await on.store.close();
      await off.store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Two fresh schemas in the PostgreSQL at SHIPCHECK_TEST_PG. */
async function postgresPair(clock: ManualClock): Promise<Pair> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const schemas: string[] = [];
  const side = async (prune: boolean): Promise<Side> => {
    const schema = `sc_soak_${crypto.randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    await admin.query(`CREATE SCHEMA ${schema}`);
    // Commits need not wait for the disk: the soak measures size, and waiting would make it minutes longer.
    const options = encodeURIComponent(`-c search_path=${schema} -c synchronous_commit=off`);
    const store = PostgresStore.open(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${options}`);
    await store.migrate();
    const size = async (): Promise<number> => {
      const { rows } = await admin.query<{ bytes: string }>(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [schema],
      );
      return Number(rows[0]?.bytes ?? 0);
    };
    return { store, size, ...(prune ? { pruner: pruner(store, clock) } : {}) };
  };
  const on = await side(true);
  const off = await side(false);
  return {
    name: 'PostgreSQL',
    on,
    off,
    settle: async () => {
      for (const schema of schemas)
        for (const table of ['releases', 'events', 'measurements', 'checklist_items', 'effects'])
          await admin.query(`VACUUM ${schema}.${table}`);
    },
    tearDown: async () => {
      await on.store.close();
      await off.store.close();
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** Rows left in a store's pruned tables. */
async function rowCount(store: Store): Promise<number> {
  // The Store interface counts nothing; the soak reads its tables directly.
  const db = (store as unknown as { db: Kysely<Database> }).db;
  const { rows } = await sql<{ n: string }>`
    SELECT (SELECT count(*) FROM releases) + (SELECT count(*) FROM events) + (SELECT count(*) FROM measurements)
         + (SELECT count(*) FROM checklist_items) + (SELECT count(*) FROM effects) AS n
  `.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Runs the soak on one pair of stores; returns its table, a line per checkpoint. */
async function soak(make: (clock: ManualClock) => Promise<Pair>, releases: number): Promise<string[]> {
  const out: string[] = [];
  const clock = new ManualClock(START);
  const pair = await make(clock);
  const started = performance.now();
  let pruneMs = 0;
  try {
    out.push(`  ${pair.name}: ${releases.toLocaleString('en-US')} releases over ${SIMULATED_DAYS} days`);
    out.push('    day  releases  rows (on / off)      size on    size off  on/off');
    const spacing = (SIMULATED_DAYS * DAY) / releases;
    const checkpointEvery = Math.ceil(releases / CHECKPOINTS);
    let nextPrune = START + PRUNE_EVERY_MS;
    for (let n = 0; n < releases; n += CONCURRENCY) {
      const group = Array.from({ length: Math.min(CONCURRENCY, releases - n) }, (_, i) => n + i);
      clock.set(START + (n + group.length - 1) * spacing);
      while (clock.now() >= nextPrune) {
        const now = clock.now();
        clock.set(nextPrune);
        const before = performance.now();
        await pair.on.pruner?.runOnce();
        pruneMs += performance.now() - before;
        clock.set(now);
        nextPrune += PRUNE_EVERY_MS;
      }
      await Promise.all(
        group.map(async (k) => {
          const at = START + k * spacing;
          const service = `svc-${k % SERVICES}`;
          await Promise.all([
            writeRelease(pair.on.store, service, k + 1, at),
            writeRelease(pair.off.store, service, k + 1, at),
          ]);
        }),
      );
      const written = n + group.length;
      const crossed = Math.floor(written / checkpointEvery) > Math.floor(n / checkpointEvery);
      if (crossed || written === releases) {
        await pair.settle();
        const [on, off, onRows, offRows] = await Promise.all([
          pair.on.size(),
          pair.off.size(),
          rowCount(pair.on.store),
          rowCount(pair.off.store),
        ]);
        const day = Math.round((clock.now() - START) / DAY);
        out.push(
          `    ${String(day).padStart(3)}  ${written.toLocaleString('en-US').padStart(8)}  ` +
            `${`${onRows.toLocaleString('en-US')} / ${offRows.toLocaleString('en-US')}`.padEnd(19)}` +
            `${(on / MB).toFixed(1).padStart(8)} MB ${(off / MB).toFixed(1).padStart(8)} MB  ${(on / off).toFixed(2).padStart(6)}`,
        );
      }
    }
    const seconds = (performance.now() - started) / 1000;
    out.push(`    took ${seconds.toFixed(1)} s, of which pruning ${(pruneMs / 1000).toFixed(1)} s`);
  } finally {
    await pair.tearDown();
  }
  return out;
}

export async function main(options: { releases?: number } = {}): Promise<void> {
  const releases = options.releases ?? DEFAULT_RELEASES;
  const problem = await probePostgres();
  const started = performance.now();
  // Side by side: the SQLite soak keeps this process busy while the PostgreSQL one mostly waits.
  const [sqlite, postgres] = await Promise.all([
    soak(sqlitePair, releases),
    problem === undefined
      ? soak(postgresPair, releases)
      : Promise.resolve([`  PostgreSQL: skipped, ${unreachableMessage(problem)}`]),
  ]);
  for (const line of [...sqlite, ...postgres]) console.log(line);
  console.log(`  both soaks, at once: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const index = process.argv.indexOf('--releases');
  main({ releases: index > 0 ? Number(process.argv[index + 1]) : undefined }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
