/**
 * Secrets handed to people and programs: API tokens and session ids. Each is 32 random bytes; only
 * its SHA-256 is stored, so a copy of the database does not let anyone in. A hash of a random
 * 256-bit value needs no salt or slow hash: it cannot be guessed.
 */
import crypto from 'node:crypto';

/** Every API token starts with this, so secret scanners and people recognise one. */
export const TOKEN_PREFIX = 'shc_';
/** Characters of a token kept in clear to tell tokens apart in lists. */
const SHOWN_CHARS = 8;

/** A new API token, its hash and the short prefix shown in lists. */
export function newToken(): { token: string; hash: string; prefix: string } {
  const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
  return { token, hash: hashSecret(token), prefix: token.slice(0, TOKEN_PREFIX.length + SHOWN_CHARS) };
}

/** A new random id for a session cookie, a CSRF token or a setup code. */
export function newSecret(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** SHA-256 (hex) of a token or session id, as stored. */
export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares two strings in time that does not depend on where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const left = crypto.createHash('sha256').update(a, 'utf8').digest();
  const right = crypto.createHash('sha256').update(b, 'utf8').digest();
  return crypto.timingSafeEqual(left, right) && a.length === b.length;
}
