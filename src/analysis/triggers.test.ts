import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.js';
import { ProviderError } from '../errors.js';
import type { Instance } from '../providers/fleet/types.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import type { MetricSource } from '../providers/metrics/types.js';
import { ManualClock } from '../util/clock.js';
import { ForTracker, describeTrigger, measureHealth, measureMetric, sharedWindows } from './triggers.js';

/** Parses triggers the way the config loader does, so thresholds are normalised. */
function triggers(...raw: unknown[]) {
  return configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'x' },
    rollback: { triggers: raw },
  }).rollback.triggers;
}

function metricTrigger(raw: Record<string, unknown>) {
  const [t] = triggers(raw);
  if (!t || 'health' in t) throw new Error('expected a metric trigger');
  return t;
}

/** Records `count` requests for `version`, every `errorEvery`-th a 500, with the given latency. */
function traffic(
  metrics: RequestMetrics,
  version: string,
  count: number,
  errorEvery: number,
  latencyMs = 5,
): void {
  for (let i = 1; i <= count; i++) metrics.record(version, i % errorEvery === 0 ? 500 : 200, latencyMs);
}

describe('measureMetric', () => {
  it('fails error_rate above the threshold and says what it measured', async () => {
    const clock = new ManualClock();
    const metrics = new RequestMetrics({ clock });
    traffic(metrics, 'v3', 1204, 5);
    const m = await measureMetric(
      metricTrigger({ metric: 'error_rate', above: '5%', window: '1m', for: '5s' }),
      new BuiltinMetricSource(metrics),
      'v3',
    );
    expect(m).toMatchObject({ verdict: 'fail', requests: 1204, threshold: 0.05, windowMs: 60_000 });
    expect(m.value).toBeCloseTo(240 / 1204);
    expect(m.message).toBe('error_rate 19.9% > 5% over 1m on v3 (1,204 requests)');
    expect(m.trigger).toBe('error_rate > 5% over 1m for 5s');
  });

  it('passes a healthy canary and ignores the stable version', async () => {
    const clock = new ManualClock();
    const metrics = new RequestMetrics({ clock });
    traffic(metrics, 'v1', 500, 2);
    traffic(metrics, 'v2', 100, 1000);
    const m = await measureMetric(
      metricTrigger({ metric: 'error_rate', above: 5 }),
      new BuiltinMetricSource(metrics),
      'v2',
    );
    expect(m).toMatchObject({ verdict: 'pass', value: 0, requests: 100 });
  });

  it('is inconclusive, never pass, below minRequests', async () => {
    const clock = new ManualClock();
    const metrics = new RequestMetrics({ clock });
    traffic(metrics, 'v2', 9, 1000);
    const m = await measureMetric(
      metricTrigger({ metric: 'error_rate', above: '5%', minRequests: 10 }),
      new BuiltinMetricSource(metrics),
      'v2',
    );
    expect(m.verdict).toBe('inconclusive');
    expect(m.message).toMatch(/9 requests in 1m, fewer than minRequests 10/);
  });

  it('only counts requests inside the window', async () => {
    const clock = new ManualClock();
    const metrics = new RequestMetrics({ clock });
    traffic(metrics, 'v2', 100, 2);
    clock.advance(120_000);
    traffic(metrics, 'v2', 100, 1000);
    const m = await measureMetric(
      metricTrigger({ metric: 'error_rate', above: '5%', window: '1m' }),
      new BuiltinMetricSource(metrics),
      'v2',
    );
    expect(m).toMatchObject({ verdict: 'pass', requests: 100 });
  });

  it('compares latency quantiles in milliseconds', async () => {
    const clock = new ManualClock();
    const metrics = new RequestMetrics({ clock });
    for (let i = 0; i < 100; i++) metrics.record('v2', 200, i < 95 ? 10 : 2500);
    const source = new BuiltinMetricSource(metrics);
    const p99 = await measureMetric(metricTrigger({ metric: 'latency_p99', above: '2s' }), source, 'v2');
    expect(p99.verdict).toBe('fail');
    expect(p99.message).toMatch(/^latency_p99 2\.\d+s > 2s over 1m on v2 \(100 requests\)$/);
    const p50 = await measureMetric(metricTrigger({ metric: 'latency_p50', above: 50 }), source, 'v2');
    expect(p50.verdict).toBe('pass');
  });

  it('turns a failing source into an inconclusive measurement, not a throw', async () => {
    // The built-in source cannot fail; this stands in for a remote source (such as Prometheus) that is down.
    const down: MetricSource = {
      type: 'test-down',
      window: async () => {
        throw new ProviderError('connection refused');
      },
    };
    const m = await measureMetric(metricTrigger({ metric: 'error_rate', above: '5%' }), down, 'v2');
    expect(m).toMatchObject({
      verdict: 'inconclusive',
      message: 'test-down metrics unavailable: connection refused',
    });
  });
});

describe('ForTracker', () => {
  it('fires only after the condition held continuously for `for`', () => {
    const tracker = new ForTracker();
    expect(tracker.observe('r', 'fail', 1000)).toBe(0);
    expect(tracker.observe('r', 'fail', 3000)).toBe(2000);
    expect(tracker.observe('r', 'pass', 4000)).toBeUndefined();
    expect(tracker.observe('r', 'fail', 5000)).toBe(0);
    expect(tracker.observe('r', 'inconclusive', 6000)).toBeUndefined();
    expect(tracker.observe('r', 'fail', 7000)).toBe(0);
    expect(tracker.observe('other', 'fail', 9000)).toBe(0);
    expect(tracker.observe('r', 'fail', 9000)).toBe(2000);
  });
});

describe('measureHealth', () => {
  const instance = (id: string, state: Instance['state'], lastError?: string): Instance => ({
    id,
    version: 'v2',
    index: 0,
    address: '127.0.0.1:1',
    pid: 1,
    state,
    healthFailures: state === 'unhealthy' ? 3 : 0,
    failedChecks: 0,
    restarts: 0,
    lastError,
    exitCode: undefined,
    logFile: undefined,
  });

  it('fails on an unhealthy or exited instance, naming it', () => {
    const m = measureHealth('v2', [
      instance('web-v2-0', 'ready'),
      instance('web-v2-1', 'unhealthy', 'GET /healthz: 503'),
    ]);
    expect(m.verdict).toBe('fail');
    expect(m.message).toBe(
      'health: 1 of 2 v2 instances failing; web-v2-1 failed 3 health checks in a row (GET /healthz: 503)',
    );
  });

  it('passes when every instance is ready and is inconclusive before any check', () => {
    expect(measureHealth('v2', [instance('a', 'ready')]).verdict).toBe('pass');
    expect(measureHealth('v2', [instance('a', 'starting')]).verdict).toBe('inconclusive');
  });
});

describe('describeTrigger', () => {
  it('writes rules as a user reads them', () => {
    const [a, b, c] = triggers(
      { metric: 'error_rate', above: '5%', for: '5m' },
      { metric: 'latency_p99', above: '2s', window: '30s' },
      { health: 'failed' },
    );
    expect(describeTrigger(a!)).toBe('error_rate > 5% over 1m for 5m');
    expect(describeTrigger(b!)).toBe('latency_p99 > 2s over 30s');
    expect(describeTrigger(c!)).toBe('health failed');
  });
});

describe('sharedWindows', () => {
  it('asks the source once per version and window within one analysis pass', async () => {
    const asked: string[] = [];
    const source: MetricSource = {
      type: 'counting',
      window: async (version, windowMs) => {
        asked.push(`${version}/${windowMs}`);
        return { requests: 10, errors: 1, byClass: { '5xx': 1 }, p50: 1, p90: 2, p95: 2.5, p99: 3, rps: 1 };
      },
    };
    const shared = sharedWindows(source);
    await Promise.all([shared.window('v2', 1000), shared.window('v2', 1000), shared.window('v2', 5000)]);
    await shared.window('v1', 1000);
    expect(asked).toEqual(['v2/1000', 'v2/5000', 'v1/1000']);
    expect(shared.type).toBe('counting');
  });
});
