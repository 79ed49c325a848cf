import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../util/clock.js';
import { RequestMetrics } from './request-metrics.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** DDSketch promises 1% relative error; allow 2% to cover the rank rounding of the exact quantile. */
const QUANTILE_TOLERANCE = 0.02;

/** A clock at the start of a whole second, so window boundaries in tests are exact. */
function alignedClock(): ManualClock {
  return new ManualClock(1_700_000_000_000);
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.round(q * (sorted.length - 1))]!;
}

describe('RequestMetrics', () => {
  it('counts requests by status class and counts 5xx as errors', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    for (const status of [200, 201, 204, 301, 404, 429, 500, 502, 503, 101]) metrics.record('v1', status, 5);

    const stats = metrics.window('v1', 10 * SECOND);
    expect(stats.requests).toBe(10);
    expect(stats.errors).toBe(3);
    expect(stats.byClass).toEqual({ '1xx': 1, '2xx': 3, '3xx': 1, '4xx': 2, '5xx': 3 });
  });

  it('keeps versions apart', () => {
    const metrics = new RequestMetrics({ clock: alignedClock() });
    metrics.record('v1', 200, 1);
    metrics.record('v2', 500, 1);
    metrics.record('v2', 200, 1);

    expect(metrics.window('v1', MINUTE)).toMatchObject({ requests: 1, errors: 0 });
    expect(metrics.window('v2', MINUTE)).toMatchObject({ requests: 2, errors: 1 });
    expect(metrics.versions().sort()).toEqual(['v1', 'v2']);
  });

  it('keeps forced requests out of the window analysis reads, in a window of their own', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    metrics.record('v2', 200, 5);
    for (let i = 0; i < 3; i++) metrics.record('v2', 500, 50, true);

    expect(metrics.window('v2', 10 * SECOND)).toMatchObject({ requests: 1, errors: 0 });
    expect(metrics.forcedWindow('v2', 10 * SECOND)).toMatchObject({ requests: 3, errors: 3 });
    expect(metrics.versions()).toEqual(['v2']);
    metrics.record('v3', 200, 5, true);
    expect(metrics.versions()).toEqual(['v2']);
  });

  it('answers zero requests and no quantiles for an unknown version', () => {
    const stats = new RequestMetrics({ clock: alignedClock() }).window('nope', MINUTE);
    expect(stats).toEqual({
      requests: 0,
      errors: 0,
      byClass: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
      p50: undefined,
      p90: undefined,
      p99: undefined,
      rps: 0,
    });
  });

  it('estimates latency quantiles within 2% across many buckets', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    const latencies: number[] = [];
    // A deterministic spread from 0.2 ms to ~2 s, recorded over 30 seconds.
    let seed = 12345;
    for (let i = 0; i < 30_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const latency = 0.2 * Math.pow(10, (seed / 2147483648) * 4);
      latencies.push(latency);
      metrics.record('v1', 200, latency);
      if (i % 1000 === 999) clock.advance(SECOND);
    }
    latencies.sort((a, b) => a - b);

    const stats = metrics.window('v1', MINUTE);
    expect(stats.requests).toBe(30_000);
    for (const [q, value] of [
      [0.5, stats.p50],
      [0.9, stats.p90],
      [0.99, stats.p99],
    ] as const) {
      const exact = exactQuantile(latencies, q);
      expect(Math.abs(value! - exact) / exact).toBeLessThan(QUANTILE_TOLERANCE);
    }
  });

  it('counts only the seconds inside the window and reports the rate over it', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    // 10 requests in each of 10 consecutive seconds; the last at t0+9s.
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 10; i++) metrics.record('v1', s < 5 ? 500 : 200, s + 1);
      clock.advance(SECOND);
    }
    // now = t0+10s exactly; the window [t0+5s, t0+10s] holds seconds 5..9.
    const last5 = metrics.window('v1', 5 * SECOND);
    expect(last5.requests).toBe(50);
    expect(last5.errors).toBe(0);
    expect(last5.rps).toBeCloseTo(10);
    expect(last5.p50).toBeGreaterThanOrEqual(6 * 0.99);

    const all = metrics.window('v1', 10 * SECOND);
    expect(all.requests).toBe(100);
    expect(all.errors).toBe(50);

    // Half a second later the bucket that is only half inside the window is left out.
    clock.advance(SECOND / 2);
    expect(metrics.window('v1', 5 * SECOND).requests).toBe(40);
    expect(metrics.window('v1', 5 * SECOND).rps).toBeCloseTo(40 / 4.5);
  });

  it('includes the current partial second', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    clock.advance(300);
    metrics.record('v1', 200, 3);
    clock.advance(200);
    expect(metrics.window('v1', SECOND).requests).toBe(1);
  });

  it('reuses ring slots once the ring wraps past retention', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock, retentionSeconds: 60 });
    for (let i = 0; i < 5; i++) metrics.record('v1', 500, 100);
    // Keep the version alive every 30 s so it is not forgotten, for more than two laps of the ring.
    for (let s = 0; s < 150; s += 30) {
      clock.advance(30 * SECOND);
      metrics.record('v1', 200, 1);
    }
    const stats = metrics.window('v1', 10 * MINUTE);
    // The window is cut to retention, [now-60s, now]: the samples at t0+90s, t0+120s and t0+150s.
    expect(stats.requests).toBe(3);
    expect(stats.errors).toBe(0);
    expect(stats.p99).toBeLessThan(1.1);
  });

  it('does not count a sample from one lap ago in the same slot', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock, retentionSeconds: 10 });
    metrics.record('v1', 500, 1);
    clock.advance(11 * SECOND); // same slot: 11 slots for 10 s of retention
    metrics.record('v1', 200, 1);
    expect(metrics.window('v1', 10 * SECOND)).toMatchObject({ requests: 1, errors: 0 });
  });

  it('counts a sample from a clock that stepped back in the latest second', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    clock.advance(5 * SECOND);
    metrics.record('v1', 200, 1);
    clock.advance(-3 * SECOND);
    metrics.record('v1', 200, 1);
    clock.advance(3 * SECOND);
    expect(metrics.window('v1', SECOND).requests).toBe(2);
  });

  it('forgets a version with no traffic for longer than retention', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock, retentionSeconds: 60 });
    metrics.record('old', 200, 1);
    metrics.record('live', 200, 1);
    clock.advance(40 * SECOND);
    metrics.record('live', 200, 1);
    clock.advance(21 * SECOND);

    expect(metrics.versions()).toEqual(['live']);
    expect(metrics.window('old', 10 * MINUTE).requests).toBe(0);
  });

  it('keeps at most 16 versions, evicting the least recently used', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    for (let v = 0; v < 40; v++) {
      metrics.record(`v${v}`, 200, 1);
      // v0 stays in use, so it must survive eviction.
      metrics.record('v0', 200, 1);
      clock.advance(SECOND);
    }
    const versions = metrics.versions();
    expect(versions).toHaveLength(16);
    expect(versions).toContain('v0');
    expect(versions).toContain('v39');
    expect(versions).not.toContain('v1');
    expect(metrics.window('v0', 10 * MINUTE).requests).toBe(41);
  });

  it('reads the part of a window older than ten minutes by the whole minute', () => {
    // At the start of a whole minute, so minute boundaries in this test are exact.
    const clock = new ManualClock(1_700_000_040_000);
    const metrics = new RequestMetrics({ clock });
    metrics.record('v1', 500, 400); // minute 0
    clock.advance(30 * SECOND);
    metrics.record('v1', 200, 10); // minute 0, its second half
    clock.advance(20 * MINUTE);
    metrics.record('v1', 200, 20); // now, one by one
    // 25 minutes back: minute 0 is inside the window whole, so both of its requests count.
    expect(metrics.window('v1', 25 * MINUTE)).toMatchObject({ requests: 3, errors: 1 });
    // 20 minutes back starts within minute 0: a partial minute is not read, only the newest second.
    expect(metrics.window('v1', 20 * MINUTE)).toMatchObject({ requests: 1, errors: 0 });
    // Retention (an hour) still bounds it.
    clock.advance(45 * MINUTE);
    metrics.record('v1', 200, 5);
    expect(metrics.window('v1', 2 * 60 * MINUTE).requests).toBe(2);
  });

  it('keeps a quiet bucket as values and a busy one as a sketch, with the same quantiles', () => {
    const clock = alignedClock();
    const metrics = new RequestMetrics({ clock });
    const latencies = Array.from({ length: 100 }, (_, i) => i + 1);
    // A second with a few requests, and one with many: both read the same way.
    for (const latency of latencies.slice(0, 3)) metrics.record('v1', 200, latency);
    expect(metrics.window('v1', SECOND).p50).toBeCloseTo(2, 1);
    clock.advance(SECOND);
    for (const latency of latencies) metrics.record('v2', 200, latency);
    const busy = metrics.window('v2', SECOND);
    expect(busy.requests).toBe(100);
    expect(Math.abs(busy.p99! - 99) / 99).toBeLessThan(QUANTILE_TOLERANCE);
    expect(Math.abs(busy.p50! - 50) / 50).toBeLessThan(QUANTILE_TOLERANCE);
  });
  it('hands its seconds to another RequestMetrics, which counts each once however often it pulls', () => {
    const clock = alignedClock();
    const source = new RequestMetrics({ clock });
    const copy = new RequestMetrics({ clock, retentionSeconds: 7200 });
    const latencies: number[] = [];
    let cursor = 0;
    const pull = (): void => {
      const answer = source.secondsSince(cursor);
      for (const bucket of answer.buckets) copy.importSecond(bucket, bucket.second < answer.now);
      cursor = answer.now;
    };
    // Ten seconds of traffic, pulled a few times within each second (so each is read while under way)
    for (let second = 0; second < 10; second++) {
      for (let i = 0; i < 100; i++) {
        const latency = 1 + ((second * 100 + i) % 250);
        latencies.push(latency);
        source.record('v1', i % 10 === 0 ? 503 : 200, latency);
        if (i % 40 === 0) pull();
      }
      clock.advance(SECOND);
    }
    pull();

    const stats = copy.window('v1', MINUTE);
    expect(stats).toMatchObject({ requests: 1000, errors: 100 });
    expect(stats).toMatchObject({ byClass: source.window('v1', MINUTE).byClass });
    const sorted = [...latencies].sort((a, b) => a - b);
    for (const [q, value] of [
      [0.5, stats.p50],
      [0.99, stats.p99],
    ] as const) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(value! - exact) / exact).toBeLessThanOrEqual(QUANTILE_TOLERANCE);
    }
    // Finished seconds also went into the minute buckets, once: a window reaching past ten minutes reads them
    clock.advance(15 * MINUTE);
    expect(copy.window('v1', 20 * MINUTE).requests).toBe(1000);
  });
});
