import { describe, expect, it } from 'vitest';
import type { Measurement, Sample, SampleFigures, ShipcheckEvent } from '../api/types.js';
import {
  CHARTS,
  alignedData,
  describeChart,
  formatChartValue,
  formatMeasured,
  latestValue,
  markersFrom,
  thresholdFor,
  timeRange,
  valueRange,
  type ChartKey,
  type ChartSpec,
} from './chart-data.js';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

function figures(version: string, over: Partial<SampleFigures> = {}): SampleFigures {
  return { version, rps: 40, requests: 400, errors: 0, errorRate: 0, p50: 2, p99: 9, ...over };
}

function chart(key: ChartKey): ChartSpec {
  const spec = CHARTS.find((c) => c.key === key);
  if (!spec) throw new Error(`no chart ${key}`);
  return spec;
}

function measurement(over: Partial<Measurement>): Measurement {
  return {
    at: T0,
    trigger: 'error_rate > 5% over 1m',
    metric: 'error_rate',
    version: 'v2',
    value: 0.01,
    threshold: 0.05,
    verdict: 'pass',
    windowMs: 60_000,
    requests: 100,
    message: '',
    inputs: {},
    ...over,
  };
}

function event(type: string, at: number, data: Record<string, unknown> = {}): ShipcheckEvent {
  return { id: at, service: 'web', releaseId: 2, at, type, message: type, data };
}

describe('chart data', () => {
  it('has the four charts with the keys and captions the page promises', () => {
    expect(CHARTS.map((c) => [c.key, c.caption])).toEqual([
      ['error-rate', 'Error rate'],
      ['p50', 'Latency p50'],
      ['p99', 'Latency p99'],
      ['rps', 'Request rate'],
    ]);
  });

  it('aligns samples in epoch seconds, error rate in percent, and keeps missing figures as gaps', () => {
    const samples: Sample[] = [
      { at: T0, stable: figures('v1', { errorRate: 0.01 }), canary: null },
      {
        at: T0 + 1000,
        stable: figures('v1', { errorRate: 0.02 }),
        canary: figures('v2', { errorRate: null }),
      },
      { at: T0 + 2000, stable: figures('v1', { errorRate: 0 }), canary: figures('v2', { errorRate: 0.25 }) },
    ];
    expect(alignedData(samples, chart('error-rate'))).toEqual([
      [T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 2],
      [1, 2, 0],
      [null, null, 25],
    ]);
    expect(alignedData(samples, chart('p99'))[2]).toEqual([null, 9, 9]);
    expect(alignedData(samples, chart('rps'))[1]).toEqual([40, 40, 40]);
  });

  it('sorts samples that arrive out of order, since uPlot needs ascending x', () => {
    const samples: Sample[] = [
      { at: T0 + 1000, stable: figures('v1', { p50: 3 }), canary: null },
      { at: T0, stable: figures('v1', { p50: 1 }), canary: null },
    ];
    expect(alignedData(samples, chart('p50'))).toEqual([
      [T0 / 1000, T0 / 1000 + 1],
      [1, 3],
      [null, null],
    ]);
  });

  it('takes each chart its threshold from the newest measurement of its metric', () => {
    const measurements = [
      measurement({ at: T0, metric: 'error_rate', threshold: 0.05 }),
      measurement({ at: T0 + 5000, metric: 'error_rate', threshold: 0.02 }),
      measurement({ at: T0, metric: 'latency_p99', threshold: 250 }),
      measurement({ at: T0, metric: 'latency_p90', threshold: 100 }),
      measurement({ at: T0, metric: 'health', threshold: null }),
    ];
    expect(thresholdFor(measurements, chart('error-rate'))).toBe(2);
    expect(thresholdFor(measurements, chart('p99'))).toBe(250);
    expect(thresholdFor(measurements, chart('p50'))).toBeNull();
    expect(thresholdFor(measurements, chart('rps'))).toBeNull();
    expect(thresholdFor([measurement({ metric: 'p50', threshold: 40 })], chart('p50'))).toBe(40);
  });

  it('marks only the decisions, oldest first, labelled with the weight where there is one', () => {
    const markers = markersFrom([
      event('release.rolling_back', T0 + 9000),
      event('release.created', T0),
      event('release.weight', T0 + 1000, { weight: 10 }),
      event('checklist.item', T0 + 2000),
      event('release.paused', T0 + 3000),
      event('release.weight', T0 + 4000),
    ]);
    expect(markers).toEqual([
      { at: T0 / 1000 + 1, label: '10%', bad: false },
      { at: T0 / 1000 + 3, label: 'paused', bad: false },
      { at: T0 / 1000 + 4, label: 'weight', bad: false },
      { at: T0 / 1000 + 9, label: 'rolling back', bad: true },
    ]);
  });

  it('describes a chart in words with its latest values, threshold and decisions', () => {
    const spec = chart('error-rate');
    const data = alignedData(
      [
        { at: T0, stable: figures('v1', { errorRate: 0.001 }), canary: figures('v2', { errorRate: 0.2 }) },
        { at: T0 + 30_000, stable: figures('v1', { errorRate: 0.002 }), canary: null },
      ],
      spec,
    );
    const text = describeChart(spec, data, 5, [
      { at: T0 / 1000 + 10, label: '10%', bad: false },
      { at: T0 / 1000 + 99, label: 'later', bad: false },
    ]);
    expect(text).toBe(
      'Error rate of stable and canary over 30s (2 samples); latest stable 0.2%; latest canary 20%; ' +
        'threshold 5%; decisions marked: 10%, later.',
    );
    expect(describeChart(spec, [[], [], []], null, [])).toBe(
      'Error rate of stable and canary: no samples yet.',
    );
  });

  it('finds the latest value past trailing gaps', () => {
    expect(latestValue([1, 2, null])).toBe(2);
    expect(latestValue([null])).toBeNull();
  });

  it('writes values in each unit and measured values per metric', () => {
    expect(formatChartValue('percent', 2.5)).toBe('2.5%');
    expect(formatChartValue('ms', 3.44)).toBe('3.4 ms');
    expect(formatChartValue('rps', 45.06)).toBe('45.1/s');
    expect(formatChartValue('ms', null)).toBe('—');
    expect(formatMeasured('error_rate', 0.214)).toBe('21.4%');
    expect(formatMeasured('latency_p99', 1200)).toBe('1.20 s');
    expect(formatMeasured('health', 2)).toBe('2 failing');
    expect(formatMeasured('error_rate', null)).toBe('—');
  });

  it('keeps the threshold in view and widens the time axis to the decisions', () => {
    expect(valueRange(2, 5)).toEqual([0, 5 * 1.15]);
    expect(valueRange(10, null)).toEqual([0, 10 * 1.15]);
    expect(valueRange(null, null)).toEqual([0, 1]);
    const marker = { label: 'x', bad: false };
    expect(
      timeRange(
        [100, 200],
        [
          { ...marker, at: 90 },
          { ...marker, at: 250 },
        ],
      ),
    ).toEqual([90, 250]);
    expect(timeRange([100], [])).toEqual([70, 130]);
    expect(timeRange([], [{ ...marker, at: 90 }])).toBeNull();
  });
});
