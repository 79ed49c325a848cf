import { describe, expect, it } from 'vitest';
import type { LoadSampleRow } from '../store/scaling-store.js';
import { capacityReport } from './capacity.js';

function sample(i: number, rps: number, requests: number, p99: number | null): LoadSampleRow {
  return {
    unit: 'web',
    at: 1_000_000 + i * 10_000,
    version: 'v1',
    instances: 2,
    rps,
    requests,
    p99,
    errorRate: 0,
    cpu: null,
    rss: null,
  };
}

const tenGood = Array.from({ length: 10 }, (_, i) => sample(i, 20 + i, 300, 90));

describe('capacityReport', () => {
  it('gives no figure without a latency_p99 trigger to judge by', () => {
    const report = capacityReport({
      samples: tenGood,
      p99LimitMs: undefined,
      instances: 2,
      rps: 10,
      bounds: undefined,
    });
    expect(report).toMatchObject({ enough: false, peakRpsPerInstance: null, headroomRps: null, samples: 10 });
    expect(report.notes).toEqual([
      'the unit has no latency_p99 trigger in rollback.triggers to judge the samples by',
    ]);
  });

  it('leaves out samples with too few requests to tell a p99', () => {
    const thin = [...tenGood.slice(0, 9), sample(9, 500, 5, 10)];
    const report = capacityReport({
      samples: thin,
      p99LimitMs: 100,
      instances: 2,
      rps: 10,
      bounds: undefined,
    });
    expect(report).toMatchObject({ enough: false, withTraffic: 9, underLimit: 9 });
  });

  it('sizes a rate within the scaling bounds, saying when it clamped', () => {
    const report = capacityReport({
      samples: tenGood,
      p99LimitMs: 100,
      instances: 2,
      rps: 29,
      bounds: { min: 3, max: 10 },
      rate: 20,
    });
    // The peak is 29 rps on 2 instances: 14.5 per instance
    expect(report).toMatchObject({
      enough: true,
      peakRpsPerInstance: 14.5,
      capacityRps: 29,
      headroomRps: 0,
      headroomPercent: 0,
      neededUnclamped: 2,
      needed: 3,
      from: 1_000_000,
      to: 1_090_000,
    });
    expect(report.notes).toContain('20 rps needs 2 instances; scaling.min keeps 3');
  });
});
