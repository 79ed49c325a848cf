import { describe, expect, it } from 'vitest';
import { appendEvidence, droppedBy } from './evidence.js';
import type { Evidence } from '../domain/checklist.js';

const entry = (at: number): Evidence => ({ at, summary: `run ${at}` });

/** Appends entries 1..count one at a time, as the store does. */
function grow(count: number, limit: number): Evidence[] {
  let list: Evidence[] = [];
  for (let at = 1; at <= count; at++) list = appendEvidence(list, entry(at), limit);
  return list;
}

describe('appendEvidence', () => {
  it('keeps everything up to the limit', () => {
    expect(grow(5, 5).map((e) => e.at)).toEqual([1, 2, 3, 4, 5]);
  });

  it('past the limit keeps the first and newest entries, with one marker counting the rest', () => {
    const list = grow(6, 5);
    expect(list.map((e) => e.summary)).toEqual([
      'run 1',
      '2 earlier evidence entries dropped: an item keeps its first and its newest 3',
      'run 4',
      'run 5',
      'run 6',
    ]);
    expect(list[1]).toMatchObject({ at: 3, by: 'shipcheck' });
    expect(droppedBy(list[1]!)).toBe(2);
  });

  it('adds to the one marker as more entries go', () => {
    expect(droppedBy(grow(100, 5)[1]!)).toBe(96);
    expect(grow(100, 5).map((e) => e.at)).toEqual([1, 97, 98, 99, 100]);
    expect(grow(5, 4)[1]!.summary).toBe(
      '2 earlier evidence entries dropped: an item keeps its first and its newest 2',
    );
    expect(grow(4, 3)[1]!.summary).toBe(
      '2 earlier evidence entries dropped: an item keeps its first and its newest 1',
    );
    expect(appendEvidence([entry(1), entry(2), entry(3)], entry(4), 4)).toHaveLength(4);
    expect(grow(4, 3)).toHaveLength(3);
  });

  it('does not take an ordinary entry for a marker', () => {
    expect(droppedBy({ at: 1, summary: 'x', by: 'shipcheck', data: { rows: 3 } })).toBeUndefined();
    expect(droppedBy({ at: 1, summary: 'x', by: 'alice', data: { droppedEntries: 3 } })).toBeUndefined();
  });

  it('needs room for the first entry, the marker and a newest one', () => {
    expect(() => appendEvidence([], entry(1), 2)).toThrow(RangeError);
  });
});
