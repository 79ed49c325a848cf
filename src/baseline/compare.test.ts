import { describe, expect, it } from 'vitest';
import { baselineSchema } from '../config/baseline-schema.js';
import { type BaselineFigures, compareBaselines, groupOf } from './compare.js';

const SETTINGS = baselineSchema.parse(undefined);
const MB = 1024 * 1024;

function figures(overrides: Partial<BaselineFigures> = {}): BaselineFigures {
  return {
    requests: 1500,
    windowMs: 30_000,
    instances: 2,
    p50: 40,
    p95: 80,
    p99: 100,
    rps: 50,
    errorRate: 0.002,
    cpuPer1k: 0.5,
    rssBytes: 100 * MB,
    rssPer1k: 2000,
    resourcesReason: null,
    ...overrides,
  };
}

describe('baseline settings', () => {
  it('defaults: p99 +20%, throughput -20%, error rate +1 point, CPU and memory +25%, load within 50%, 500 requests', () => {
    expect(SETTINGS).toEqual({
      tolerance: { latencyP99: 0.2, throughput: -0.2, errorRate: 0.01, cpuPer1k: 0.25, memory: 0.25 },
      comparableLoad: 0.5,
      minWindow: 30_000,
      minRequests: 500,
    });
    expect(baselineSchema.safeParse({ tolerance: { throughput: '20%' } }).success).toBe(false);
    expect(baselineSchema.safeParse({ tolerance: { latencyP95: '+15%' } }).data?.tolerance.latencyP95).toBe(
      0.15,
    );
  });
});

describe('compareBaselines', () => {
  it('passes the same figures', () => {
    const result = compareBaselines(figures(), figures(), SETTINGS);
    expect(result.verdict).toBe('pass');
    expect(result.comparable).toBe(true);
    // p50 and p95 have no tolerance by default: shown, not judged.
    expect(result.figures.find((f) => f.figure === 'latencyP50')?.verdict).toBe('not-judged');
  });

  it('fails a p99 beyond tolerance with both figures', () => {
    const result = compareBaselines(figures(), figures({ p99: 130 }), SETTINGS);
    expect(result.verdict).toBe('regressed');
    const latency = groupOf(result, 'latency');
    expect(latency.verdict).toBe('regressed');
    expect(latency.reason).toBe('p99 latency 100 ms -> 130 ms (+30.0%, tolerance +20.0%)');
    expect(groupOf(result, 'throughput').verdict).toBe('pass');
  });

  it('treats a latency change under 5 ms as noise whatever its percentage', () => {
    const result = compareBaselines(figures({ p99: 2 }), figures({ p99: 3 }), SETTINGS);
    expect(groupOf(result, 'latency').verdict).toBe('pass');
    expect(groupOf(result, 'latency').reason).toContain('noise floor');
  });

  it('fails a throughput drop beyond tolerance at comparable load, and an error rate up more than a point', () => {
    const result = compareBaselines(figures(), figures({ rps: 35, errorRate: 0.02 }), SETTINGS);
    expect(groupOf(result, 'throughput').verdict).toBe('regressed');
    expect(groupOf(result, 'errors').reason).toBe(
      'error rate 0.20% -> 2.00% (+1.80 pp, tolerance 1.00% points)',
    );
  });

  it('fails CPU and memory per 1,000 requests beyond 25%', () => {
    const result = compareBaselines(figures(), figures({ cpuPer1k: 0.7, rssBytes: 140 * MB }), SETTINGS);
    const resources = groupOf(result, 'resources');
    expect(resources.verdict).toBe('regressed');
    expect(resources.figures.map((f) => f.verdict)).toEqual(['regressed', 'regressed']);
  });

  it('is inconclusive at incomparable load, even with a p99 far beyond tolerance', () => {
    const result = compareBaselines(figures(), figures({ rps: 120, p99: 400 }), SETTINGS);
    expect(result.verdict).toBe('inconclusive');
    expect(result.comparable).toBe(false);
    expect(groupOf(result, 'latency').reason).toBe(
      'load not comparable: 50.0 rps -> 120.0 rps (+140.0%, comparable within ±50%)',
    );
  });

  it('is inconclusive with too few requests on either side', () => {
    const result = compareBaselines(figures({ requests: 120 }), figures({ p99: 400 }), SETTINGS);
    expect(result.verdict).toBe('inconclusive');
    expect(result.reason).toBe('too few requests: the previous baseline has 120, 500 needed');
  });

  it('says why resources are missing: a fleet whose processes are elsewhere', () => {
    const remote = figures({
      cpuPer1k: null,
      rssBytes: null,
      instances: null,
      resourcesReason: 'not on this host',
    });
    const result = compareBaselines(figures(), remote, SETTINGS);
    expect(groupOf(result, 'resources')).toMatchObject({ verdict: 'inconclusive' });
    expect(groupOf(result, 'resources').reason).toContain(
      'this baseline has no CPU per 1,000 requests (not on this host)',
    );
    expect(groupOf(result, 'latency').verdict).toBe('pass');
  });
});
