import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../errors.js';
import { BuiltinMetricSource } from '../../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../../providers/metrics/builtin/request-metrics.js';
import type { MetricSource } from '../../providers/metrics/types.js';
import { ManualClock } from '../../util/clock.js';
import { metricsCheck } from './metrics.js';
import { contextFor } from '../../../test/support/check-context.js';

/** A context whose built-in metrics the test feeds; stable is v1 and canary v2. */
function setup(overrides: Parameters<typeof contextFor>[0] = {}) {
  const clock = new ManualClock();
  const requests = new RequestMetrics({ clock });
  const context = contextFor({ clock, metrics: new BuiltinMetricSource(requests), ...overrides });
  return { clock, requests, context };
}

/** Records `count` requests, every `errorEvery`-th answered 500. */
function traffic(requests: RequestMetrics, version: string, count: number, errorEvery = 0, latencyMs = 5) {
  for (let i = 1; i <= count; i++) {
    requests.record(version, errorEvery > 0 && i % errorEvery === 0 ? 500 : 200, latencyMs);
  }
}

describe('metrics params', () => {
  it('defaults to stable requests over 5m with min 1', () => {
    expect(metricsCheck.params.parse({})).toEqual({
      version: 'stable',
      metric: 'requests',
      window: 300_000,
      min: 1,
      max: undefined,
      minRequests: 10,
    });
  });

  it('reads bounds in the unit of the metric', () => {
    expect(metricsCheck.params.parse({ metric: 'error_rate', max: '5%' })).toMatchObject({ max: 0.05 });
    expect(metricsCheck.params.parse({ metric: 'error_rate', max: 5 })).toMatchObject({ max: 0.05 });
    expect(metricsCheck.params.parse({ metric: 'latency_p99', max: '2s' })).toMatchObject({ max: 2000 });
    expect(metricsCheck.params.parse({ metric: 'latency_p50', max: 250 })).toMatchObject({ max: 250 });
    expect(metricsCheck.params.parse({ metric: 'rps', min: 0.5 })).toMatchObject({ min: 0.5 });
    expect(metricsCheck.params.parse({ metric: 'requests', max: 10 })).toMatchObject({
      min: undefined,
      max: 10,
    });
  });

  it('rejects a bound in the wrong unit, min above max and unknown fields', () => {
    const wrongUnit = metricsCheck.params.safeParse({ metric: 'error_rate', max: '2s' });
    expect(wrongUnit.success).toBe(false);
    expect(wrongUnit.error?.issues[0]).toMatchObject({
      path: ['max'],
      message: 'expected a percentage such as 5%',
    });
    expect(metricsCheck.params.safeParse({ metric: 'requests', min: '5%' }).success).toBe(false);
    expect(metricsCheck.params.safeParse({ metric: 'rps', min: 10, max: 1 }).success).toBe(false);
    expect(metricsCheck.params.safeParse({ metric: 'cpu' }).success).toBe(false);
    expect(metricsCheck.params.safeParse({ window: 5 }).success).toBe(false);
    expect(metricsCheck.params.safeParse({ threshold: 1 }).success).toBe(false);
  });
});

describe('metrics check', () => {
  it('passes when the stable version has recorded requests', async () => {
    const { requests, context } = setup();
    traffic(requests, 'v1', 1204);
    const result = await metricsCheck.run(metricsCheck.params.parse({}), context);
    expect(result).toMatchObject({ ok: true, value: 1204 });
    expect(result.summary).toBe('requests 1,204 >= 1 over 5m on v1 (stable)');
    expect(result.data).toMatchObject({ version: 'v1', requests: 1204 });
  });

  it('is inconclusive, not failed, when nobody called the version: no traffic says nothing about it', async () => {
    const { requests, context } = setup();
    traffic(requests, 'v2', 10); // the canary has traffic, stable does not
    const result = await metricsCheck.run(metricsCheck.params.parse({}), context);
    expect(result).toMatchObject({ ok: false, inconclusive: true, value: 0 });
    expect(result.summary).toMatch(/^requests 0 < min 1 over 5m on v1 \(stable\); it is checked again/);
  });

  it('is inconclusive below minRequests, and judges a rate once there are enough', async () => {
    const { requests, context } = setup();
    const params = metricsCheck.params.parse({ version: 'canary', metric: 'error_rate', max: '5%' });
    traffic(requests, 'v2', 3, 1); // three requests, all 500: too few to call it 100% errors
    const few = await metricsCheck.run(params, context);
    expect(few).toMatchObject({ ok: false, inconclusive: true });
    expect(few.summary).toMatch(
      /^error_rate not judged over 5m on v2 \(canary\): 3 requests, fewer than minRequests 10/,
    );
    traffic(requests, 'v2', 20);
    const enough = await metricsCheck.run(params, context);
    expect(enough).toMatchObject({ ok: false });
    expect(enough.inconclusive).toBeUndefined();
  });

  it('labels synthetic requests in the evidence', async () => {
    const { requests, context } = setup({
      synthetic: (version) => (version === 'v2' ? { requests: 40, errors: 0, unanswered: 0 } : undefined),
    });
    traffic(requests, 'v2', 50);
    const params = metricsCheck.params.parse({ version: 'canary', metric: 'error_rate', max: '5%' });
    const result = await metricsCheck.run(params, context);
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(
      'error_rate 0% <= 5% over 5m on v2 (canary) (50 requests, 40 of them synthetic)',
    );
    expect(result.data).toMatchObject({ synthetic: { requests: 40, errors: 0 } });
  });

  it('reads the new version for stable on a first release, and for canary', async () => {
    const { requests, context } = setup({ fromVersion: null });
    traffic(requests, 'v2', 3);
    const stable = await metricsCheck.run(metricsCheck.params.parse({}), context);
    expect(stable.summary).toBe('requests 3 >= 1 over 5m on v2 (stable)');
    const canary = await metricsCheck.run(metricsCheck.params.parse({ version: 'canary' }), context);
    expect(canary.summary).toBe('requests 3 >= 1 over 5m on v2 (canary)');
  });

  it('fails error_rate above max with the measured rate and request count', async () => {
    const { requests, context } = setup();
    traffic(requests, 'v2', 200, 10);
    const params = metricsCheck.params.parse({
      version: 'canary',
      metric: 'error_rate',
      max: '5%',
      window: '1m',
    });
    const result = await metricsCheck.run(params, context);
    expect(result.ok).toBe(false);
    expect(result.value).toBeCloseTo(0.1);
    expect(result.summary).toBe('error_rate 10% > max 5% over 1m on v2 (canary) (200 requests)');
  });

  it('passes latency within both bounds', async () => {
    const { requests, context } = setup();
    traffic(requests, 'v1', 50, 0, 40);
    const params = metricsCheck.params.parse({ metric: 'latency_p99', min: '1ms', max: '500ms' });
    const result = await metricsCheck.run(params, context);
    expect(result.ok).toBe(true);
    expect(result.value).toBeCloseTo(40, 0);
    expect(result.summary).toMatch(
      /^latency_p99 \d+(\.\d)?ms >= 1ms and <= 500ms over 5m on v1 \(stable\) \(50 requests\)$/,
    );
  });

  it('is inconclusive for a latency metric with no requests: there is no value to check', async () => {
    const { context } = setup();
    const result = await metricsCheck.run(metricsCheck.params.parse({ metric: 'latency_p50' }), context);
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toMatch(
      /^latency_p50 has no value over 5m on v1 \(stable\): no requests recorded; it is checked again/,
    );
  });

  it('requires traffic for rps without bounds, and compares rps with a bound', async () => {
    const { clock, requests, context } = setup();
    const none = await metricsCheck.run(metricsCheck.params.parse({ metric: 'rps' }), context);
    expect(none).toMatchObject({ ok: false, inconclusive: true });
    expect(none.summary).toMatch(/^rps 0\/s over 5m on v1 \(stable\): no requests recorded/);

    // 60 requests spread over the minute before now: 1 rps over a 1m window.
    for (let second = 0; second < 60; second++) {
      traffic(requests, 'v1', 1);
      clock.advance(1000);
    }
    const params = metricsCheck.params.parse({ metric: 'rps', window: '1m', max: 0.5 });
    const result = await metricsCheck.run(params, context);
    expect(result).toMatchObject({ ok: false, value: 1 });
    expect(result.summary).toBe('rps 1/s > max 0.5/s over 1m on v1 (stable) (60 requests)');
  });

  it('is inconclusive with the source error message when metrics are unavailable', async () => {
    const broken: MetricSource = {
      type: 'prometheus',
      window: async () => {
        throw new ProviderError('connect ECONNREFUSED 127.0.0.1:9090');
      },
    };
    const result = await metricsCheck.run(metricsCheck.params.parse({}), contextFor({ metrics: broken }));
    expect(result).toEqual({
      ok: false,
      inconclusive: true,
      summary: 'prometheus metrics unavailable for v1: connect ECONNREFUSED 127.0.0.1:9090',
    });
  });
});
