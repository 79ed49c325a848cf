/**
 * One-time recovery codes, the way back in when a user has lost their authenticator. Each code is
 * 16 characters drawn uniformly from a 31-character alphabet with no look-alikes (no 0/o, 1/l/i),
 * shown as four groups of four, e.g. `7kq2-mh9w-xc4p-tz3e`: log2(31) × 16 ≈ 79 random bits.
 *
 * Only hashes are stored: SHA-256, hex, of the normalised code (lower case, spaces and dashes
 * removed). A fast unsalted hash is right here, unlike for passwords: nobody chose these codes, and
 * 79 random bits cannot be searched whatever the hash costs. The caller deletes or marks the hash
 * a code matched, so each code works once.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { InputError } from '../errors.js';

/** The characters a code is made of: digits and lower-case letters that cannot be read as another. */
export const RECOVERY_CODE_ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';
/** Characters in a group between dashes. */
export const RECOVERY_CODE_GROUP_LENGTH = 4;
/** Groups in a code. */
export const RECOVERY_CODE_GROUPS = 4;
/** Codes a user receives when they set up two-factor sign-in or ask for new ones. */
export const DEFAULT_RECOVERY_CODE_COUNT = 10;

/** What people type between the characters and what case they type them in makes no difference. */
const SEPARATORS = /[\s-]+/g;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `count` new recovery codes, `xxxx-xxxx-xxxx-xxxx`, from a cryptographic random source, all different. */
export function generateRecoveryCodes(count: number = DEFAULT_RECOVERY_CODE_COUNT): string[] {
  if (!Number.isSafeInteger(count) || count < 1)
    throw new InputError(`recovery code count ${count} is not a positive integer`);
  const codes = new Set<string>();
  while (codes.size < count) codes.add(randomCode());
  return [...codes];
}

/** The hash to store for `code`: SHA-256, hex, of the code in lower case without spaces or dashes. */
export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(normalise(code), 'utf8').digest('hex');
}

/**
 * The index in `hashes` of the hash `code` matches, or -1. Every hash is compared, in constant time,
 * so how long the answer takes says nothing about which hash nearly matched or where the match is.
 * Empty input, and entries that are not lower-case SHA-256 hex as hashRecoveryCode makes, never match.
 */
export function matchRecoveryCode(code: string, hashes: readonly string[]): number {
  if (normalise(code) === '') return -1;
  const candidate = Buffer.from(hashRecoveryCode(code), 'hex');
  let found = -1;
  hashes.forEach((hash, index) => {
    if (!SHA256_HEX.test(hash)) return;
    if (timingSafeEqual(candidate, Buffer.from(hash, 'hex')) && found === -1) found = index;
  });
  return found;
}

function normalise(code: string): string {
  return code.toLowerCase().replace(SEPARATORS, '');
}

function randomCode(): string {
  const groups: string[] = [];
  for (let g = 0; g < RECOVERY_CODE_GROUPS; g++) {
    let group = '';
    // randomInt draws without modulo bias, so every character is equally likely.
    for (let c = 0; c < RECOVERY_CODE_GROUP_LENGTH; c++)
      group += RECOVERY_CODE_ALPHABET[randomInt(RECOVERY_CODE_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}
