import { describe, expect, it } from 'vitest';
import { RefreshCoalescer, type Timer } from './refresh-coalescer.js';

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
