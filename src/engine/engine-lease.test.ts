import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandMigrator } from '../app-database/command-migrator.js';
import { configSchema } from '../config/schema.js';
import { ConflictError } from '../errors.js';
import { LocalFleet } from '../providers/fleet/local/local-fleet.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import { ProxyRouter } from '../providers/traffic/proxy/proxy-router.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ManualClock } from '../util/clock.js';
import { Engine } from './engine.js';
import { Lease } from './lease.js';

const TTL = 10_000;
/** The share of the TTL after its last renewal past which a holder that could not renew stops acting. */
const SAFE_SHARE = 0.8;

/**
 * An engine holding its unit's lease over a real SQLite store, whose release migrates with a real
 * command that sleeps until it is stopped; the test moves the clock.
 */
class Rig {
  readonly clock = new ManualClock();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-engine-lease-'));
  readonly store = SqliteStore.open(path.join(this.dir, 'state.db'));
  /** Where the migration command writes its pid once it runs. */
  readonly pidFile = path.join(this.dir, 'migration.pid');
  readonly lease: Lease;
  readonly fleet: LocalFleet;
  readonly router: ProxyRouter;
  readonly engine: Engine;

  constructor() {
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'unused', instances: 1 },
    });
    const logger = pino({ level: 'silent' });
    const metrics = new RequestMetrics({ clock: this.clock });
    this.lease = new Lease({
      store: this.store,
      name: 'web',
      holder: 'a',
      ttlMs: TTL,
      clock: this.clock,
      logger,
    });
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
    const migrator = new CommandMigrator({
      up: ['sh', '-c', `echo $$ > "${this.pidFile}"; exec sleep 60`],
      down: undefined,
      database: undefined,
      configDir: this.dir,
      timeoutMs: 120_000,
      keepOnRollback: false,
    });
    this.engine = new Engine({
      config,
      store: this.store,
      fleet: this.fleet,
      router: this.router,
      metrics: new BuiltinMetricSource(metrics),
      logger,
      clock: this.clock,
      lease: this.lease,
      migrator,
    });
  }

  async start(): Promise<void> {
    await this.store.migrate();
    await this.router.start();
    await this.engine.start({ loop: false });
  }

  /** The pid of the migration command, once it runs. */
  migrationPid(): number | undefined {
    return fs.existsSync(this.pidFile) ? Number(fs.readFileSync(this.pidFile, 'utf8')) : undefined;
  }

  async eventTypes(): Promise<string[]> {
    return (await this.store.listEvents({ service: 'web', limit: 100 })).map((e) => e.type);
  }

  async close(): Promise<void> {
    await this.engine.stop();
    await this.fleet.close({ stopInstances: true });
    await this.router.close();
    await this.store.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits (real time) until `check` holds. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never reached: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('Engine and its lease', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('does not start a migration when the lease lapsed while the write before it was retried', async () => {
    // Given an engine that holds its unit's lease
    rig = new Rig();
    await rig.start();
    expect(rig.lease.held).toBe(true);
    // When the write that moves a release into migrating takes most of the TTL (a store retrying)
    const update = rig.store.updateReleaseWithEvent.bind(rig.store);
    rig.store.updateReleaseWithEvent = async (id, patch, now, eventOf) => {
      const written = await update(id, patch, now, eventOf);
      if (patch.phase === 'migrating') rig!.clock.advance(TTL * SAFE_SHARE);
      return written;
    };
    const release = await rig.engine.deploy('v1');
    // Then the pass stops before the migration: the time after the write says the lease may be gone
    expect(release.phase).toBe('migrating');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(rig.migrationPid()).toBeUndefined();
    expect(await rig.eventTypes()).not.toContain('release.migrated');
    expect((await rig.store.getRelease(release.id))?.state).toBe('progressing');
    // And once the lease is renewed, the next pass starts the migration
    await rig.engine.tick();
    await until('the migration runs', () => rig!.migrationPid() !== undefined);
  });

  it('stops a running migration through its signal when the lease is lost, and does not mark it migrated', async () => {
    // Given a release whose migration runs (a command that takes long)
    rig = new Rig();
    await rig.start();
    const release = await rig.engine.deploy('v1');
    expect(release.phase).toBe('migrating');
    await until('the migration runs', () => rig!.migrationPid() !== undefined);
    const pid = rig.migrationPid()!;
    expect(running(pid)).toBe(true);
    // When the lease can no longer be counted on (not renewed for 80% of the TTL: the store is gone)
    rig.store.acquireLease = () => Promise.reject(new Error('Connection terminated unexpectedly'));
    rig.clock.advance(TTL * SAFE_SHARE);
    // Then the migration's signal fires and its command is stopped, without any reconcile pass
    await until('the migration command is stopped', () => !running(pid));
    // And this replica neither marks the release migrated nor fails it; the migration's record is not done
    expect(await rig.eventTypes()).not.toContain('release.migrated');
    const current = await rig.store.getRelease(release.id);
    expect(current).toMatchObject({ phase: 'migrating', state: 'progressing' });
    const effects = await rig.store.listEffects(release.id);
    expect(effects.find((e) => e.kind === 'migration')?.state).not.toBe('done');
    // And the next pass, without the lease, steps down and starts nothing again
    fs.rmSync(rig.pidFile);
    await rig.engine.tick();
    expect(rig.lease.held).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(rig.migrationPid()).toBeUndefined();
  });

  it("refuses an instance's log on a replica that does not drive the unit, naming the one that does", async () => {
    // Given replica b holding the unit's lease before this engine (replica a) starts
    rig = new Rig();
    await rig.store.migrate();
    expect(await rig.store.acquireLease('web', 'b', rig.clock.now(), TTL)).toBeDefined();
    await rig.start();
    expect(rig.lease.held).toBe(false);
    // Then a's engine sends the caller to b, which runs the instances
    await expect(rig.engine.instanceLog('web-v1-0', 50)).rejects.toThrow(
      new ConflictError('replica a does not run the instances of web; replica b does: ask it'),
    );
  });
});
