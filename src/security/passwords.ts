/**
 * Passwords, hashed with argon2id (OWASP's first choice) at @node-rs/argon2's defaults: 19 MiB, two
 * passes, one lane. The PHC string keeps its parameters, so stronger ones can come later without
 * breaking stored hashes.
 */
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { InputError } from '../errors.js';

/** Shortest password accepted. */
export const MIN_PASSWORD_CHARS = 12;
/** Longest password accepted: hashing is deliberately slow, so a huge one must not tie up the server. */
export const MAX_PASSWORD_CHARS = 1024;

/** A hash computed once, verified against when a name is unknown, so the answer takes as long either way. */
let decoy: Promise<string> | undefined;

/** Refuses a password too short or too long to be used; the message says what is needed. */
export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_CHARS)
    throw new InputError(`a password needs at least ${MIN_PASSWORD_CHARS} characters`);
  if (password.length > MAX_PASSWORD_CHARS)
    throw new InputError(`a password has at most ${MAX_PASSWORD_CHARS} characters`);
}

/** The argon2id PHC string of `password`. */
export function hashPassword(password: string): Promise<string> {
  checkPassword(password);
  return hash(password, { algorithm: Algorithm.Argon2id });
}

/**
 * Whether `password` matches `stored`. With no stored hash (an unknown user, or one who signs in
 * through single sign-on) a decoy is checked anyway and false returned, so timing does not tell
 * which names exist.
 */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_CHARS) return false;
  if (stored === null) {
    decoy ??= hash('decoy password never used', { algorithm: Algorithm.Argon2id });
    await verify(await decoy, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}
