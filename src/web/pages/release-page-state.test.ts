import { describe, expect, it } from 'vitest';
import type { Measurement, ShipcheckEvent } from '../api/types.js';
import {
  RefreshCoalescer,
  type Timer,
  appendMeasurement,
  appendSample,
  mergeEvents,
  staleAfter,
} from './release-page-state.js';

function event(id: number, type = 'release.weight'): ShipcheckEvent {
  return { id, service: 'web', releaseId: 3, at: id * 1000, type, message: `event ${id}`, data: {} };
}

/** A timer the test fires by hand. */
function manualTimer(): Timer & { fire: () => void; pending: () => number } {
  let callbacks = new Map<number, () => void>();
  let next = 0;
  return {
    set: (callback) => {
      callbacks.set(++next, callback);
      return next;
    },
    clear: (handle) => void callbacks.delete(handle as number),
    fire: () => {
      const due = callbacks;
      callbacks = new Map();
      for (const callback of due.values()) callback();
    },
    pending: () => callbacks.size,
  };
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

describe('RefreshCoalescer', () => {
  it('runs at once, then once more at the end of a burst, per resource', () => {
    const timer = manualTimer();
    const runs: string[] = [];
    const coalescer = new RefreshCoalescer<string>((key) => runs.push(key), 300, timer);
    coalescer.request('release');
    coalescer.request('release');
    coalescer.request('release');
    coalescer.request('status');
    expect(runs).toEqual(['release', 'status']);
    timer.fire();
    expect(runs).toEqual(['release', 'status', 'release']);
    timer.fire();
    expect(runs).toEqual(['release', 'status', 'release']);
    expect(timer.pending()).toBe(0);
    coalescer.request('release');
    expect(runs).toHaveLength(4);
  });

  it('runs nothing after it is disposed', () => {
    const timer = manualTimer();
    const runs: string[] = [];
    const coalescer = new RefreshCoalescer<string>((key) => runs.push(key), 300, timer);
    coalescer.request('release');
    coalescer.request('release');
    coalescer.dispose();
    timer.fire();
    coalescer.request('release');
    expect(runs).toEqual(['release']);
  });
});
