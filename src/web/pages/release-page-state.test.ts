import { describe, expect, it } from 'vitest';
import type { Measurement, ShipcheckEvent } from '../api/types.js';
import { appendMeasurement, appendSample, mergeEvents, staleAfter } from './release-page-state.js';

function event(id: number, type = 'release.weight'): ShipcheckEvent {
  return { id, service: 'web', releaseId: 3, at: id * 1000, type, message: `event ${id}`, data: {} };
}

describe('mergeEvents', () => {
  it('adds each id once, oldest first, even when the stream replays what was read', () => {
    const merged = mergeEvents([event(1), event(2)], [event(4), event(2), event(3), event(4)]);
    expect(merged.map((e) => e.id)).toEqual([1, 2, 3, 4]);
  });

  it('keeps the same list when nothing is new', () => {
    const events = [event(1)];
    expect(mergeEvents(events, [event(1)])).toBe(events);
  });
});

describe('appendSample', () => {
  const sample = { at: 5, stable: null, canary: null };
  it('takes only samples of this release, once per moment, in time order', () => {
    expect(appendSample([], { ...sample, releaseId: 4 }, 3)).toEqual([]);
    const one = appendSample([{ at: 9, stable: null, canary: null }], { ...sample, releaseId: 3 }, 3);
    expect(one.map((s) => s.at)).toEqual([5, 9]);
    expect(one[0]).not.toHaveProperty('releaseId');
    expect(appendSample(one, { ...sample, releaseId: 3 }, 3)).toBe(one);
  });
});

describe('appendMeasurement', () => {
  const m: Measurement = {
    id: 7,
    releaseId: 3,
    at: 10,
    trigger: 'errors',
    metric: 'error_rate',
    version: 'v2',
    value: 0.01,
    threshold: 0.05,
    verdict: 'pass',
    windowMs: 5000,
    requests: 100,
    message: '',
    inputs: {},
  };
  it("takes only this release's measurements, once each", () => {
    expect(appendMeasurement([], { ...m, releaseId: 9 }, 3)).toEqual([]);
    const one = appendMeasurement([], m, 3);
    expect(one).toHaveLength(1);
    expect(appendMeasurement(one, { ...m }, 3)).toBe(one);
    expect(appendMeasurement(one, { ...m, id: 8, at: 11 }, 3)).toHaveLength(2);
  });
});

describe('staleAfter', () => {
  it('refreshes the release on every event, the checklist at gates, the status when traffic moves', () => {
    expect(staleAfter('release.paused')).toEqual(['release']);
    expect(staleAfter('checklist.item')).toEqual(['release', 'checklist']);
    expect(staleAfter('release.waiting')).toEqual(['release', 'checklist']);
    expect(staleAfter('release.weight')).toEqual(['release', 'status']);
  });
});
