import { describe, expect, it } from 'vitest';
import { formatDuration, formatMs, formatPercent, formatRps } from './format.js';

describe('the dashboard writes figures the same way everywhere', () => {
  it('writes fractions as percentages with the decimals they need', () => {
    expect(formatPercent(0.05)).toBe('5%');
    expect(formatPercent(0.214)).toBe('21.4%');
    expect(formatPercent(0.0035)).toBe('0.35%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(null)).toBe('—');
  });

  it('writes latencies, rates and durations', () => {
    expect(formatMs(3.42)).toBe('3.4 ms');
    expect(formatMs(2000)).toBe('2.00 s');
    expect(formatRps(45.12)).toBe('45.1/s');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(200_000)).toBe('3m 20s');
    expect(formatDuration(7_500_000)).toBe('2h 5m');
  });
});
