import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Config, configSchema } from '../config/schema.js';
import { LocalFleet } from '../providers/fleet/local/local-fleet.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import { ProxyRouter } from '../providers/traffic/proxy/proxy-router.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ManualClock } from '../util/clock.js';
import { ChecklistRunner, type Signer } from '../checklist/checklist-runner.js';
import { checkKinds } from '../checklist/kinds/index.js';
import type { ResolvedItem } from '../checklist/template.js';
import { Engine } from './engine.js';

/** A signer with no team restrictions, as when authentication is off. */
const as = (name: string): Signer => ({ name, groups: undefined });

const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));
const MINUTE = 60_000;

/** An engine over real processes, a real proxy and a real SQLite file, with time in the test's hands. */
class Rig {
  readonly clock = new ManualClock();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-engine-'));
  readonly store = SqliteStore.open(path.join(this.dir, 'state.db'));
  readonly fleet: LocalFleet;
  readonly router: ProxyRouter;
  readonly engine: Engine;

  constructor(
    readonly config: Config,
    items: readonly ResolvedItem[] = [],
  ) {
    const metrics = new RequestMetrics({ clock: this.clock });
    const source = new BuiltinMetricSource(metrics);
    const runner = new ChecklistRunner({
      store: this.store,
      kinds: checkKinds(),
      clock: this.clock,
      logger: pino({ level: 'silent' }),
      recheckMs: config.analysis.interval,
      context: (release) => ({
        service: config.service,
        version: release.version,
        fromVersion: release.fromVersion,
        proxyUrl: `http://${this.router.address()}`,
        configDir: this.dir,
        metrics: source,
        instances: (version) => this.fleet.instances(version),
        envOf: () => ({}),
        config,
        clock: this.clock,
      }),
    });
    this.fleet = new LocalFleet({
      service: config.service,
      command: [process.execPath, SAMPLE_APP],
      cwd: this.dir,
      env: config.fleet.env,
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
    this.engine = new Engine({
      config,
      store: this.store,
      fleet: this.fleet,
      router: this.router,
      metrics: source,
      logger: pino({ level: 'silent' }),
      clock: this.clock,
      ...(items.length > 0 ? { checklist: { runner, items: () => items } } : {}),
    });
  }

  async start(): Promise<void> {
    await this.store.migrate();
    await this.router.start();
    await this.engine.start({ loop: false });
  }

  /** Ticks (without moving the clock) until `check` holds; processes and health checks run in real time. */
  async settle(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
    for (let i = 0; i < 400; i++) {
      await this.engine.tick();
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(
      `never reached: ${what} (release: ${JSON.stringify((await this.engine.status()).release)})`,
    );
  }

  async state(): Promise<string | undefined> {
    return (await this.engine.status()).release?.state;
  }

  /** Sends `count` requests through the proxy. */
  async requests(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await (await fetch(`http://${this.router.address()}/`)).text();
  }

  async close(): Promise<void> {
    await this.engine.stop();
    await this.fleet.close({ stopInstances: true });
    await this.router.close();
    await this.store.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A checklist item bound to `gate`; manual ones are signed, others run their kind. */
function item(
  id: string,
  gate: ResolvedItem['gate'],
  kind: string,
  params: Record<string, unknown> = {},
): ResolvedItem {
  return { id, section: 'Test', title: id, kind, gate, params, automated: kind !== 'manual' };
}

function config(overrides: Record<string, unknown>): Config {
  return configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'unused', instances: 2 },
    ...overrides,
  });
}

describe('Engine, with an injected clock', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('holds a timed pause until the clock passes it, then retires the previous version after keepPreviousFor', async () => {
    rig = new Rig(
      config({
        strategy: { steps: [{ setWeight: 50 }, { pause: '10m' }] },
        rollback: { keepPreviousFor: '10m' },
      }),
    );
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle('v1 stable', async () => (await rig!.state()) === 'succeeded');
    await rig.engine.deploy('v2');
    await rig.settle('v2 at 50%', async () => (await rig!.engine.status()).release?.weight === 50);

    // Real time passes, the clock does not: the pause holds.
    for (let i = 0; i < 10; i++) await rig.engine.tick();
    expect((await rig.engine.status()).release).toMatchObject({
      phase: 'canary',
      state: 'progressing',
      step: 1,
    });

    rig.clock.advance(10 * MINUTE);
    await rig.settle('v2 stable', async () => (await rig!.state()) === 'succeeded');
    expect(await rig.engine.status()).toMatchObject({ stable: 'v2', previous: 'v1' });
    expect(rig.fleet.readyAddresses('v1')).toHaveLength(2);

    rig.clock.advance(10 * MINUTE - 1000);
    await rig.engine.tick();
    expect((await rig.engine.status()).previous).toBe('v1');
    rig.clock.advance(2000);
    await rig.settle('v1 stopped', () => rig!.fleet.instances('v1').length === 0);
    expect((await rig.engine.status()).previous).toBeNull();
  });

  it('pauses a release whose analysis stays inconclusive, and resumes it on command', async () => {
    rig = new Rig(
      config({
        strategy: { steps: [{ setWeight: 10 }, { pause: '1m' }] },
        analysis: { interval: '5s', inconclusiveLimit: 3 },
        rollback: { triggers: [{ metric: 'error_rate', above: '5%', minRequests: 10 }] },
      }),
    );
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle('v1 stable', async () => (await rig!.state()) === 'succeeded');
    await rig.engine.deploy('v2');
    await rig.settle('v2 at 10%', async () => (await rig!.engine.status()).release?.weight === 10);

    // No traffic: every evaluation is inconclusive, and the release must not promote blind.
    for (let i = 0; i < 3; i++) {
      rig.clock.advance(5000);
      await rig.engine.tick();
    }
    expect((await rig.engine.status()).release).toMatchObject({
      state: 'paused',
      reason: expect.stringMatching(
        /^analysis inconclusive 3 times in a row: error_rate on v2: 0 requests in 1m/,
      ),
    });
    await rig.engine.resume();
    expect(await rig.state()).toBe('progressing');
  });

  it('counts no inconclusive evaluation while the canary waits at its gate with no weight', async () => {
    rig = new Rig(
      config({
        strategy: { steps: [{ setWeight: 10 }, { pause: '1h' }] },
        analysis: { interval: '5s', inconclusiveLimit: 3 },
        rollback: {
          triggers: [{ metric: 'error_rate', above: '5%', minRequests: 10 }, { health: 'failed' }],
        },
      }),
      [item('canary/approve', 'canary', 'manual')],
    );
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle('v1 stable', async () => (await rig!.state()) === 'succeeded');
    const v2 = await rig.engine.deploy('v2');
    await rig.settle('v2 waiting at the canary gate', async () => (await rig!.state()) === 'waiting');

    // Ten minutes at the gate, ticking every 200 ms as the loop does: no exposure, no streak.
    for (let i = 0; i < 3000; i++) {
      rig.clock.advance(200);
      await rig.engine.tick();
    }
    expect((await rig.engine.status()).release).toMatchObject({ state: 'waiting', weight: 0 });
    // Stored once per interval, not once per tick.
    const stored = await rig.store.listMeasurements(v2.id, 10_000);
    expect(stored.length, 'two triggers, one evaluation per 5s interval').toBeLessThanOrEqual(
      2 * (10 * 12 + 1),
    );

    await rig.engine.signItem('canary/approve', as('alice'), undefined);
    await rig.settle('v2 at 10%', async () => (await rig!.engine.status()).release?.weight === 10);
    // The grace is inconclusiveLimit x interval of real exposure: 2 intervals in, still progressing.
    for (let i = 0; i < 2; i++) {
      rig.clock.advance(5000);
      await rig.engine.tick();
      expect(await rig.state(), `after ${i + 1} intervals at 10%`).toBe('progressing');
    }
    rig.clock.advance(5000);
    await rig.engine.tick();
    expect((await rig.engine.status()).release).toMatchObject({
      state: 'paused',
      reason: expect.stringMatching(/^analysis inconclusive 3 times in a row/),
    });
  });

  it('holds a first release with no traffic at a metrics item, then passes it once traffic arrives', async () => {
    rig = new Rig(config({ analysis: { interval: '5s' } }), [
      item('verify/monitor-metrics', 'verify', 'metrics', {
        version: 'canary',
        metric: 'error_rate',
        window: '10m',
        max: '5%',
      }),
    ]);
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle('v1 waiting at verify', async () => {
      const items = (await rig!.engine.checklistOf()).items;
      return items[0]?.state === 'inconclusive' && (await rig!.state()) === 'waiting';
    });
    // Not failed and not rolled back: nobody called v1 yet. It serves while it waits.
    for (let i = 0; i < 20; i++) {
      rig.clock.advance(5000);
      await rig.engine.tick();
    }
    const waiting = (await rig.engine.status()).release;
    expect(waiting).toMatchObject({ state: 'waiting', phase: 'verify', weight: 100 });
    expect(waiting?.reason).toMatch(/1 item inconclusive .*verify\/monitor-metrics.*no requests recorded/);
    const evidence = (await rig.engine.checklistOf()).items[0]?.evidence ?? [];
    expect(evidence, 'a re-run that still cannot judge keeps one entry').toHaveLength(1);

    await rig.requests(20);
    rig.clock.advance(5000);
    await rig.settle('v1 succeeded', async () => (await rig!.state()) === 'succeeded');
    expect((await rig.engine.checklistOf()).items[0]).toMatchObject({ state: 'passed' });
  });

  it('rolls back on an item that stays inconclusive, when analysis.onInconclusive is rollback', async () => {
    rig = new Rig(
      config({
        strategy: { steps: [{ setWeight: 50 }] },
        analysis: { interval: '5s', inconclusiveLimit: 3, onInconclusive: 'rollback' },
      }),
      [item('verify/monitor-metrics', 'verify', 'metrics', { version: 'canary', metric: 'error_rate' })],
    );
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle(
      'v1 waiting',
      async () => (await rig!.engine.checklistOf()).items[0]?.state === 'inconclusive',
    );
    await rig.requests(20);
    rig.clock.advance(5000);
    await rig.settle('v1 succeeded', async () => (await rig!.state()) === 'succeeded');

    await rig.engine.deploy('v2');
    await rig.settle('v2 inconclusive at verify', async () => {
      const view = await rig!.engine.checklistOf();
      return view.release.version === 'v2' && view.items[0]?.state === 'inconclusive';
    });
    // Two intervals in, it still holds; past inconclusiveLimit x interval, it rolls back.
    rig.clock.advance(10_000);
    await rig.engine.tick();
    expect(await rig.state()).toBe('waiting');
    rig.clock.advance(5000);
    await rig.settle('v2 rolled back', async () => (await rig!.state()) === 'rolled_back');
    expect((await rig.engine.status()).release?.reason).toMatch(
      /^verify check inconclusive for too long \(analysis.onInconclusive: rollback\): "verify\/monitor-metrics"/,
    );
  });

  it('keeps a failed first release serving: a version that answers beats a proxy that answers 503', async () => {
    rig = new Rig(
      config({
        fleet: {
          kind: 'local',
          command: 'unused',
          instances: 2,
          env: { SAMPLE_FAULTS: '{"v1":{"errorRate":0.5}}' },
        },
        analysis: { interval: '1s' },
        rollback: { triggers: [{ metric: 'error_rate', above: '5%', window: '1m', minRequests: 10 }] },
      }),
      [item('verify/approve', 'verify', 'manual')],
    );
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle('v1 waiting at verify', async () => (await rig!.state()) === 'waiting');
    await rig.requests(40);
    rig.clock.advance(1000);
    await rig.settle('v1 failed', async () => (await rig!.state()) === 'failed');
    const status = await rig.engine.status();
    expect(status.release?.reason).toMatch(/^first release failed, nothing to roll back to/);
    expect(status.stable).toBe('v1');
    expect(rig.fleet.readyAddresses('v1')).toHaveLength(2);
    const response = await fetch(`http://${rig.router.address()}/`);
    await response.text();
    expect(response.status).not.toBe(503);
  });

  it('fires a trigger only once its condition has held for `for`', async () => {
    rig = new Rig(
      config({
        fleet: {
          kind: 'local',
          command: 'unused',
          instances: 2,
          env: { SAMPLE_FAULTS: '{"v2":{"errorRate":0.5}}' },
        },
        strategy: { steps: [{ setWeight: 100 }, { pause: '1h' }] },
        analysis: { interval: '1s' },
        rollback: {
          triggers: [{ metric: 'error_rate', above: '5%', window: '1m', for: '3s', minRequests: 10 }],
        },
      }),
    );
    await rig.start();
    await rig.engine.deploy('v1');
    await rig.settle('v1 stable', async () => (await rig!.state()) === 'succeeded');
    await rig.engine.deploy('v2');
    await rig.settle('v2 at 100%', async () => (await rig!.engine.status()).release?.weight === 100);
    await rig.requests(40);

    for (let second = 0; second < 3; second++) {
      rig.clock.advance(1000);
      await rig.engine.tick();
      expect(await rig.state(), `at +${second + 1}s`).toBe('progressing');
    }
    rig.clock.advance(1000);
    await rig.engine.tick();
    const release = (await rig.engine.status()).release;
    expect(release?.reason).toMatch(
      /^rollback trigger "error_rate > 5% over 1m for 3s" fired: error_rate 50% > 5% .* for 3s$/,
    );
    await rig.settle('rolled back', async () => (await rig!.state()) === 'rolled_back');
    expect(rig.fleet.instances('v2')).toHaveLength(0);
  });
});
