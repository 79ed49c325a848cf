import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../test/support/postgres.js';
import { configSchema } from '../config/schema.js';
import { LocalFleet } from '../providers/fleet/local/local-fleet.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import { ProxyRouter } from '../providers/traffic/proxy/proxy-router.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { ManualClock } from '../util/clock.js';
import { Engine } from './engine.js';
import { EngineMetrics } from './engine-metrics.js';

/** Short, so that a held-up pass spans many ticks of the loop. */
const TICK_MS = 20;
/** Ticks the loop must skip while a pass is held up before the test lets it go. */
const SKIPS_WANTED = 5;

const pgProblem = await probePostgres();
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the engine's PostgreSQL tests: ${unreachableMessage(pgProblem)}`);

/** One log line the engine wrote, as pino writes it. */
interface LogLine {
  level: number;
  msg?: string;
  err?: { code?: string; message?: string };
}

/**
 * An engine looping over a PostgresStore in a fresh schema, and a connection of the test's own that
 * holds the store up with table locks and ends the store's connections.
 */
class Rig {
  readonly clock = new ManualClock();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-engine-pg-'));
  readonly schema = `sc_engine_${crypto.randomBytes(5).toString('hex')}`;
  /** The application_name of the store's connections, unique to the test. */
  readonly app = `shipcheck-engine-${crypto.randomBytes(4).toString('hex')}`;
  readonly admin = new pg.Client({ connectionString: PG_URL });
  readonly registry = new Registry();
  readonly logs: LogLine[] = [];
  readonly store: PostgresStore;
  readonly fleet: LocalFleet;
  readonly router: ProxyRouter;
  readonly engine: Engine;

  constructor(options: { statementTimeoutMs?: number } = {}) {
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${this.app}`;
    this.store = PostgresStore.open(url, { schema: this.schema, ...options });
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'unused', instances: 1 },
    });
    const metrics = new RequestMetrics({ clock: this.clock });
    this.fleet = new LocalFleet({
      service: config.service,
      command: [process.execPath, '-e', ''],
      cwd: this.dir,
      env: {},
      stopTimeoutMs: 2000,
      health: { path: '/healthz', intervalMs: 50, timeoutMs: 500, unhealthyAfter: 2 },
      logDir: path.join(this.dir, 'logs'),
      records: this.store,
      drainer: { drain: (address, timeoutMs) => this.router.drain(address, timeoutMs) },
    });
    this.router = new ProxyRouter({
      listen: '127.0.0.1:0',
      upstreams: (version) => this.fleet.readyAddresses(version),
      metrics,
    });
    const logger = pino({ level: 'debug' }, { write: (line: string) => this.logs.push(JSON.parse(line)) });
    this.engine = new Engine({
      config,
      store: this.store,
      fleet: this.fleet,
      router: this.router,
      metrics: new BuiltinMetricSource(metrics),
      logger,
      clock: this.clock,
      tickMs: TICK_MS,
      ownMetrics: new EngineMetrics(this.registry),
    });
  }

  /** Makes the schema, migrates, and starts the engine's loop. */
  async start(): Promise<void> {
    await this.admin.connect();
    await this.admin.query(`CREATE SCHEMA ${this.schema}`);
    await this.store.migrate();
    await this.router.start();
    await this.engine.start();
  }

  /** Takes a lock on the services table that every pass's first read waits for, until `unlock`. */
  async lock(): Promise<void> {
    await this.admin.query('BEGIN');
    await this.admin.query(`LOCK TABLE ${this.schema}.services IN ACCESS EXCLUSIVE MODE`);
  }

  async unlock(): Promise<void> {
    await this.admin.query('ROLLBACK');
  }

  /** The store's connections running a statement now, and how many of those wait for a lock. */
  async storeBackends(): Promise<{ active: number; waiting: number }> {
    // Inside a transaction pg_stat_activity keeps the snapshot it first read: take a new one each time.
    await this.admin.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await this.admin.query<{ active: string; waiting: string }>(
      `SELECT count(*) FILTER (WHERE state = 'active') AS active,
              count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting
         FROM pg_stat_activity WHERE application_name = $1`,
      [this.app],
    );
    return { active: Number(rows[0]?.active), waiting: Number(rows[0]?.waiting) };
  }

  /** Ends every connection of the store; resolves to how many there were. */
  async terminate(): Promise<number> {
    await this.admin.query('SELECT pg_stat_clear_snapshot()');
    const { rowCount } = await this.admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [this.app],
    );
    return rowCount ?? 0;
  }

  /** Passes the loop finished, and ticks it skipped because a pass was still running. */
  async passes(): Promise<{ finished: number; skipped: number }> {
    const metrics = await this.registry.getMetricsAsJSON();
    const value = (metric: string, sample: string): number =>
      metrics
        .find((m) => m.name === metric)
        ?.values.find((v) => (v as { metricName?: string }).metricName === sample || sample === metric)
        ?.value ?? 0;
    return {
      finished: value('shipcheck_reconcile_duration_seconds', 'shipcheck_reconcile_duration_seconds_count'),
      skipped: value('shipcheck_reconcile_skipped_total', 'shipcheck_reconcile_skipped_total'),
    };
  }

  /** Polls until `check` holds (real time runs: the loop is driven by a real timer). */
  async until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 500; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
    throw new Error(`never reached: ${what}`);
  }

  async close(): Promise<void> {
    await this.admin.query('ROLLBACK').catch(() => undefined);
    await this.engine.stop();
    await this.fleet.close({ stopInstances: true });
    await this.router.close();
    await this.store.close();
    await this.admin.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    await this.admin.end();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)('Engine over PostgreSQL (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(unreachableMessage(pgProblem));
  });
});

describe.runIf(pgProblem === undefined)('Engine over a held-up PostgreSQL', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('skips the ticks that come while a pass waits for the store, and goes on once it answers', async () => {
    // Given an engine whose loop runs passes over PostgreSQL
    rig = new Rig();
    await rig.start();
    await rig.until('a pass of the loop finished', async () => (await rig!.passes()).finished >= 2);
    // When another client locks a table every pass reads, for many ticks
    await rig.lock();
    await rig.until('a pass waits for the lock', async () => (await rig!.storeBackends()).waiting > 0);
    const held = await rig.passes();
    await rig.until(`${SKIPS_WANTED} more ticks skipped`, async () => {
      // Then never more than one pass is in flight: the store serves one statement of this engine
      const backends = await rig!.storeBackends();
      expect(backends.active).toBeLessThanOrEqual(1);
      return (await rig!.passes()).skipped >= held.skipped + SKIPS_WANTED;
    });
    // And no pass ended meanwhile, and none was queued: each tick was skipped and counted
    expect((await rig.passes()).finished).toBe(held.finished);
    const skippedLines = rig.logs.filter((l) => l.msg?.includes('tick skipped'));
    expect(skippedLines.length).toBeGreaterThanOrEqual(SKIPS_WANTED);
    // And once the lock goes, the held pass ends and the loop runs passes again
    await rig.unlock();
    await rig.until('passes finish again', async () => (await rig!.passes()).finished >= held.finished + 3);
    expect(rig.logs.filter((l) => l.msg === 'reconcile failed')).toEqual([]);
  });

  it('fails a pass whose connection is ended mid-pass, and the next pass works on a new one', async () => {
    // Given a pass waiting for a lock another client holds
    rig = new Rig();
    await rig.start();
    await rig.lock();
    await rig.until('a pass waits for the lock', async () => (await rig!.storeBackends()).waiting > 0);
    const held = await rig.passes();
    // When its connection is ended under it (a failover, an operator's pg_terminate_backend)
    expect(await rig.terminate()).toBeGreaterThan(0);
    // Then that pass fails with the reason, the process lives on, and the next pass reconnects
    await rig.until('the pass failed', async () => rig!.logs.some((l) => l.msg === 'reconcile failed'));
    const failed = rig.logs.find((l) => l.msg === 'reconcile failed');
    expect(failed?.err?.message).toMatch(/terminating connection due to administrator command/);
    await rig.until('a new pass waits for the lock', async () => (await rig!.storeBackends()).waiting > 0);
    await rig.unlock();
    await rig.until('passes finish again', async () => (await rig!.passes()).finished >= held.finished + 2);
    expect((await rig.engine.status()).stable).toBeNull();
  });

  it('fails a pass held up past the statement limit, and the loop goes on', async () => {
    // Given an engine whose statements may run 500 ms
    rig = new Rig({ statementTimeoutMs: 500 });
    await rig.start();
    // When a pass waits for a lock longer than that
    await rig.lock();
    await rig.until('a pass waits for the lock', async () => (await rig!.storeBackends()).waiting > 0);
    // Then PostgreSQL cancels it, the pass fails with the reason, and the next pass starts
    await rig.until('the pass failed', async () => rig!.logs.some((l) => l.msg === 'reconcile failed'));
    const failed = rig.logs.find((l) => l.msg === 'reconcile failed');
    expect(failed?.err).toMatchObject({ code: '57014', message: expect.stringMatching(/statement timeout/) });
    await rig.until('a new pass waits for the lock', async () => (await rig!.storeBackends()).waiting > 0);
    const held = await rig.passes();
    await rig.unlock();
    await rig.until('passes finish again', async () => (await rig!.passes()).finished >= held.finished + 2);
  });
});
