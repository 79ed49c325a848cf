/**
 * The `Idempotency-Key` request header of `POST .../releases`: a key the client makes for one deploy
 * (a UUID), so a request it repeats after a lost answer starts no second release.
 */
import { InputError } from '../errors.js';

/** The request header, as Node lowercases it. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Longest key taken. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;
/** Printable ASCII without spaces: what a UUID, a ULID or a CI job's id is made of. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/**
 * The key a request sent, undefined when it sent none; InputError for one that is empty, too long,
 * sent twice, or holds anything but printable ASCII. A key in double quotes (a structured-field
 * string, `"8e03978e-..."`) is taken without them.
 */
export function parseIdempotencyKey(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new InputError('send one Idempotency-Key header, not several');
  const value = raw.trim().replace(/^"(.*)"$/, '$1');
  if (value === '') throw new InputError('the Idempotency-Key header is empty; send a new UUID per deploy');
  if (value.length > MAX_IDEMPOTENCY_KEY_CHARS)
    throw new InputError(
      `the Idempotency-Key header is ${value.length} characters long; at most ${MAX_IDEMPOTENCY_KEY_CHARS}`,
    );
  if (!KEY_PATTERN.test(value))
    throw new InputError(
      'the Idempotency-Key header may hold only printable ASCII without spaces (a UUID is a good key)',
    );
  return value;
}
