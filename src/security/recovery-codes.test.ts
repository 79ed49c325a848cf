import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import {
  RECOVERY_CODE_ALPHABET,
  generateRecoveryCodes,
  hashRecoveryCode,
  matchRecoveryCode,
} from './recovery-codes.js';

describe('generateRecoveryCodes', () => {
  it('makes ten different codes of four groups of four unambiguous characters by default', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[2-9a-hjkmnp-z]{4}(-[2-9a-hjkmnp-z]{4}){3}$/);
  });

  it('draws from an alphabet without look-alikes, giving at least 60 bits a code', () => {
    expect(RECOVERY_CODE_ALPHABET).not.toMatch(/[01ilo]/);
    expect(new Set(RECOVERY_CODE_ALPHABET).size).toBe(RECOVERY_CODE_ALPHABET.length);
    const characters = generateRecoveryCodes(1)[0]!.replaceAll('-', '').length;
    expect(characters * Math.log2(RECOVERY_CODE_ALPHABET.length)).toBeGreaterThanOrEqual(60);
  });

  it('uses every character of the alphabet', () => {
    const seen = new Set(generateRecoveryCodes(200).join('').replaceAll('-', ''));
    expect([...seen].sort().join('')).toBe([...RECOVERY_CODE_ALPHABET].sort().join(''));
  });

  it('makes as many as asked and refuses a count that is not a positive integer', () => {
    expect(generateRecoveryCodes(3)).toHaveLength(3);
    expect(() => generateRecoveryCodes(0)).toThrow(InputError);
    expect(() => generateRecoveryCodes(2.5)).toThrow(InputError);
  });
});

describe('hashRecoveryCode', () => {
  it('is the SHA-256 hex of the code in lower case without dashes or spaces', () => {
    const expected = createHash('sha256').update('7kq2mh9wxc4ptz3e').digest('hex');
    expect(hashRecoveryCode('7kq2-mh9w-xc4p-tz3e')).toBe(expected);
    expect(hashRecoveryCode('7KQ2 MH9W XC4P TZ3E')).toBe(expected);
    expect(hashRecoveryCode(' 7kq2mh9w-xc4p tz3e\n')).toBe(expected);
    expect(hashRecoveryCode('7kq2-mh9w-xc4p-tz3f')).not.toBe(expected);
  });
});

describe('matchRecoveryCode', () => {
  const codes = generateRecoveryCodes();
  const hashes = codes.map(hashRecoveryCode);

  it('finds the index of the hash each code matches, however it is typed', () => {
    codes.forEach((code, index) => {
      expect(matchRecoveryCode(code, hashes)).toBe(index);
      expect(matchRecoveryCode(code.toUpperCase().replaceAll('-', ' '), hashes)).toBe(index);
    });
  });

  it('answers -1 for a code that is not there, an empty code and an empty list', () => {
    const other = generateRecoveryCodes(1)[0]!;
    expect(matchRecoveryCode(other, hashes)).toBe(-1);
    expect(matchRecoveryCode('', hashes)).toBe(-1);
    expect(matchRecoveryCode(' - ', hashes)).toBe(-1);
    expect(matchRecoveryCode(codes[0]!, [])).toBe(-1);
  });

  it('does not match a code once its hash is removed, as after use', () => {
    const left = hashes.filter((_, index) => index !== 3);
    expect(matchRecoveryCode(codes[3]!, left)).toBe(-1);
    expect(matchRecoveryCode(codes[4]!, left)).toBe(3);
  });

  it('skips entries that are not SHA-256 hex instead of failing', () => {
    const mixed = ['', 'not a hash', hashes[0]!.toUpperCase(), hashes[0]!.slice(0, 32), hashes[0]!];
    expect(matchRecoveryCode(codes[0]!, mixed)).toBe(4);
  });
});
