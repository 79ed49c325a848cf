import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onEachStore } from '../../test/support/store-suites.js';
import { capacityCheck } from '../checklist/kinds/capacity.js';
import type { CheckContext } from '../checklist/types.js';
import { type Config, configSchema } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Fleet } from '../providers/fleet/types.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import type { LoadSampleRow } from '../store/scaling-store.js';
import type { Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { UnitScaling } from './unit-scaling.js';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;

function config(extra: Record<string, unknown> = {}, instances = 3): Config {
  return configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'x', instances },
    rollback: { triggers: [{ metric: 'latency_p99', above: '200ms' }] },
    ...extra,
  });
}

/** These tests start no instance: the count, the store and the report are what they check. */
const noInstances = {
  type: 'local',
  instances: () => [],
  readyAddresses: () => [],
  versions: () => [],
} as unknown as Fleet;

interface Made {
  scaling: UnitScaling;
  events: { type: string; message: string; data: Record<string, unknown> }[];
  reconciles: number;
  requests: RequestMetrics;
}

function make(store: Store, clock: ManualClock, cfg: Config): Made {
  const requests = new RequestMetrics({ clock });
  const made: Made = { scaling: undefined as unknown as UnitScaling, events: [], reconciles: 0, requests };
  made.scaling = new UnitScaling({
    unit: 'web',
    config: cfg,
    store,
    fleet: noInstances,
    metrics: new BuiltinMetricSource(requests),
    clock,
    logger: pino({ level: 'silent' }),
    emit: async (type, message, data) => {
      made.events.push({ type, message, data });
    },
    reconcile: async () => {
      made.reconciles += 1;
    },
  });
  return made;
}

/** A sample of `rps` on `instances` with the given p99, `at` minutes before NOW. */
function sample(minutesAgo: number, rps: number, instances: number, p99: number, cpu = 0.3): LoadSampleRow {
  return {
    unit: 'web',
    at: NOW - minutesAgo * 60_000,
    version: 'v1',
    instances,
    rps,
    requests: Math.round(rps * 10),
    p99,
    errorRate: 0,
    cpu,
    rss: 50_000_000,
  };
}

function checkContext(scaling: UnitScaling, cfg: Config, clock: ManualClock): CheckContext {
  return {
    service: 'web',
    version: 'v1',
    fromVersion: null,
    proxyUrl: '',
    configDir: '.',
    metrics: new BuiltinMetricSource(new RequestMetrics({ clock })),
    instances: () => [],
    envOf: () => ({}),
    config: cfg,
    clock,
    signal: new AbortController().signal,
    scaling,
  };
}

function runSuite(name: string, open: () => Promise<Store>): void {
  describe(`scaling on ${name}`, () => {
    let store: Store;
    let clock: ManualClock;
    beforeEach(async () => {
      store = await open();
      clock = new ManualClock(NOW);
    });
    afterEach(async () => {
      await store.close();
    });

    it('stores the count, which a restarted control plane or another replica then uses', async () => {
      const first = make(store, clock, config());
      expect(first.scaling.count()).toBe(3);
      const view = await first.scaling.scale(5, { name: 'ana', source: 'user', reason: 'sale' });
      expect(view).toMatchObject({ instances: 5, previous: 3, source: 'user', setBy: 'ana', setAt: NOW });
      expect(first.scaling.count()).toBe(5);
      expect(first.reconciles).toBe(1);
      expect(first.events).toEqual([
        {
          type: 'fleet.scaled',
          message: 'stable instances 3 -> 5 (by ana: sale)',
          data: { instances: 5, previous: 3, by: 'ana', source: 'user' },
        },
      ]);
      const again = make(store, clock, config());
      await again.scaling.refresh();
      expect(again.scaling.count()).toBe(5);
      expect((await again.scaling.view()).reason).toBe('sale');
    });

    it('gives way to the config once fleet.instances changes', async () => {
      await make(store, clock, config()).scaling.scale(5, { name: 'ana', source: 'user' });
      const changed = make(store, clock, config({}, 4));
      await changed.scaling.refresh();
      expect(changed.scaling.count()).toBe(4);
      expect(await changed.scaling.view()).toMatchObject({ source: 'config', setBy: null });
    });

    it('refuses a count outside scaling.min..max, and keeps the count within them', async () => {
      const cfg = config({ scaling: { min: 2, max: 4, target: { rpsPerInstance: 10 } } }, 6);
      const { scaling, events } = make(store, clock, cfg);
      expect(scaling.count()).toBe(4);
      await expect(scaling.scale(5, { name: 'ana', source: 'user' })).rejects.toThrow(InputError);
      await expect(scaling.scale(0, { name: 'ana', source: 'user' })).rejects.toThrow(/whole number/);
      await expect(scaling.scale(1, { name: 'ana', source: 'user' })).rejects.toThrow(
        /outside scaling.min..max \(2..4\)/,
      );
      expect(events).toEqual([]);
      expect(await store.scaling.getScale('web')).toBeUndefined();
    });

    it('keeps load samples and prunes them by age', async () => {
      await store.scaling.addLoadSample(sample(60 * 24 * 40, 10, 2, 50));
      await store.scaling.addLoadSample(sample(5, 20.5, 2, 51.5));
      await store.scaling.addLoadSample({
        ...sample(1, 0, 2, 0),
        requests: 0,
        p99: null,
        cpu: null,
        rss: null,
      });
      const all = await store.scaling.loadSamples('web', 0);
      expect(all.map((s) => s.rps)).toEqual([10, 20.5, 0]);
      expect(all[1]).toEqual(sample(5, 20.5, 2, 51.5));
      expect(all[2]).toMatchObject({ p99: null, cpu: null, rss: null, errorRate: 0 });
      expect(await store.scaling.pruneLoadSamples(NOW - 30 * DAY)).toBe(1);
      expect(await store.scaling.loadSamples('web', 0)).toHaveLength(2);
      expect(await store.scaling.loadSamples('other', 0)).toEqual([]);
      expect((await store.scaling.latestLoadSample('web'))?.at).toBe(NOW - 60_000);
      expect(await store.scaling.latestLoadSample('other')).toBeUndefined();
    });

    it('reports no capacity from too few samples, and never a made-up number', async () => {
      const { scaling } = make(store, clock, config());
      for (let i = 0; i < 5; i++) await store.scaling.addLoadSample(sample(i + 1, 40, 2, 80));
      const report = await scaling.capacity(500);
      expect(report).toMatchObject({ enough: false, samples: 5, underLimit: 5, peakRpsPerInstance: null });
      expect(report.needed).toBeNull();
      expect(report.notes.join()).toMatch(/not enough samples: 5 .* 10 needed/);
      const result = await capacityCheck.run(
        capacityCheck.params.parse({ check: 'planning', targetRate: '500' }),
        checkContext(scaling, config(), clock),
      );
      expect(result).toMatchObject({ ok: false, inconclusive: true });
    });

    it('reports the peak under the p99 trigger, the headroom now and the instances a rate needs', async () => {
      const cfg = config({ scaling: { min: 2, max: 8, target: { rpsPerInstance: 30 } } }, 3);
      const { scaling, requests } = make(store, clock, cfg);
      await store.saveService({
        name: 'web',
        stableVersion: 'v1',
        previousVersion: null,
        previousRetireAt: null,
        updatedAt: NOW,
      });
      // 12 samples: up to 50 rps per instance with p99 under 200ms, then 70 per instance went over
      for (let i = 0; i < 12; i++)
        await store.scaling.addLoadSample(sample(60 - i, 30 + (i % 6) * 10, 3, 120));
      await store.scaling.addLoadSample(sample(10, 210, 3, 450));
      // The load now: 60 rps over the last 30 s
      for (let s = 0; s < 30; s++) {
        for (let r = 0; r < 60; r++) requests.record('v1', 200, 20);
        clock.advance(1000);
      }
      const report = await scaling.capacity(1000);
      expect(report).toMatchObject({
        enough: true,
        samples: 13,
        underLimit: 12,
        p99LimitMs: 200,
        peakRpsPerInstance: 80 / 3,
        breachRpsPerInstance: 70,
        instances: 3,
        capacityRps: 80,
        neededUnclamped: 38,
        needed: 8,
      });
      expect(report.rps).toBeCloseTo(60, 0);
      expect(report.headroomPercent).toBeCloseTo(25, 0);
      expect(report.notes.join()).toMatch(/1000 rps needs 38 instances, above scaling.max 8/);

      const context = checkContext(scaling, cfg, clock);
      const headroom = await capacityCheck.run(capacityCheck.params.parse({ check: 'headroom' }), context);
      expect(headroom.ok).toBe(false);
      expect(headroom.summary).toMatch(/^headroom 25% \(20 rps\) at 60 rps, minimum 30%$/);
      const lenient = await capacityCheck.run(
        capacityCheck.params.parse({ check: 'headroom', minHeadroom: '20%' }),
        context,
      );
      expect(lenient.ok).toBe(true);
      const planning = await capacityCheck.run(
        capacityCheck.params.parse({ check: 'planning', targetRate: 150 }),
        context,
      );
      expect(planning).toMatchObject({ ok: true, value: 6 });
      const over = await capacityCheck.run(
        capacityCheck.params.parse({ check: 'planning', targetRate: 1000 }),
        context,
      );
      expect(over).toMatchObject({ ok: false, value: 38 });
      expect(over.summary).toMatch(/scaling.max is 8/);
    });

    it('checks that the autoscaler has recent data and stays within bounds', async () => {
      const cfg = config({ scaling: { min: 2, max: 4, target: { cpuPercent: 50 } } }, 3);
      const { scaling } = make(store, clock, cfg);
      const params = capacityCheck.params.parse({ check: 'autoscaling' });
      const context = checkContext(scaling, cfg, clock);
      expect(await capacityCheck.run(params, context)).toMatchObject({ ok: false, inconclusive: true });
      await store.scaling.addLoadSample(sample(1, 12, 3, 40, 0.45));
      expect(await capacityCheck.run(params, context)).toMatchObject({ ok: true, value: 3 });
      const none = make(store, clock, config());
      const result = await capacityCheck.run(params, checkContext(none.scaling, config(), clock));
      expect(result).toMatchObject({ ok: false });
      expect(result.inconclusive).toBeUndefined();
    });

    it('fails headroom when CPU per instance stays above maxCpu', async () => {
      const cfg = config();
      const { scaling } = make(store, clock, cfg);
      for (let i = 0; i < 3; i++) await store.scaling.addLoadSample(sample(i + 1, 5, 3, 40, 0.95));
      const result = await capacityCheck.run(
        capacityCheck.params.parse({ check: 'headroom' }),
        checkContext(scaling, cfg, clock),
      );
      expect(result).toMatchObject({ ok: false });
      expect(result.inconclusive).toBeUndefined();
      expect(result.summary).toMatch(/stayed above 80%/);
    });
  });
}

await onEachStore('scaling', 'sc-scaling', runSuite);
