import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { MAX_IDEMPOTENCY_KEY_CHARS, parseIdempotencyKey } from './idempotency-key.js';

describe('parseIdempotencyKey', () => {
  it('takes a key as sent, or in the quotes of a structured-field string, and none when absent', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey('5f0c2a9e-8d7b-4b8e-9a53-0c6d2f1e4b7a')).toBe(
      '5f0c2a9e-8d7b-4b8e-9a53-0c6d2f1e4b7a',
    );
    expect(parseIdempotencyKey('"ci-run-4711"')).toBe('ci-run-4711');
    expect(parseIdempotencyKey(' ci/run:4711 ')).toBe('ci/run:4711');
    expect(parseIdempotencyKey('k'.repeat(MAX_IDEMPOTENCY_KEY_CHARS))).toHaveLength(
      MAX_IDEMPOTENCY_KEY_CHARS,
    );
  });

  it('refuses a key that is empty, too long, sent twice, or not printable ASCII', () => {
    const refused: [string | string[], RegExp][] = [
      ['', /is empty/],
      ['""', /is empty/],
      ['k'.repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1), /256 characters long; at most 255/],
      ['two words', /printable ASCII without spaces/],
      ['clé', /printable ASCII without spaces/],
      [['a', 'b'], /one Idempotency-Key header, not several/],
    ];
    for (const [raw, problem] of refused) {
      expect(() => parseIdempotencyKey(raw), String(raw)).toThrow(InputError);
      expect(() => parseIdempotencyKey(raw), String(raw)).toThrow(problem);
    }
  });
});
