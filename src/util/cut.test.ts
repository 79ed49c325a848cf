import { describe, expect, it } from 'vitest';
import { cutNote, keepTail } from './cut.js';

describe('keepTail', () => {
  it('returns text that fits as it is', () => {
    expect(keepTail('', 3)).toBe('');
    expect(keepTail('abc', 3)).toBe('abc');
  });

  it('keeps the end after a note of how much was cut', () => {
    expect(keepTail('a'.repeat(12_345) + 'tail', 4)).toBe('[… 12,345 earlier characters cut]\ntail');
  });

  it('never starts with half of a character', () => {
    // '😀' is two UTF-16 units; a cut between them drops the orphaned half and counts it as cut.
    expect(keepTail('ab😀c', 2)).toBe('[… 4 earlier characters cut]\nc');
  });
});

describe('cutNote', () => {
  it('names the unit', () => {
    expect(cutNote(1, 'bytes')).toBe('[… 1 earlier bytes cut]');
  });
});
