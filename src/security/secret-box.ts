/**
 * Secrets encrypted at rest (webhook tokens, OIDC client secrets, TOTP secrets...) with AES-256-GCM
 * under the master keys of a key ring (key-ring.ts, whose API this module re-exports).
 *
 * A sealed value is one line of ASCII: `v1.<key id>.<iv>.<ciphertext and tag>`, where
 * - `v1` is the format version;
 * - `<key id>` is the 8 hex characters naming the master key (first 8 hex of its SHA-256);
 * - `<iv>` is a fresh random 12-byte nonce, base64url without padding (16 characters);
 * - `<ciphertext and tag>` is the UTF-8 plaintext encrypted, followed by the 16-byte GCM tag,
 *   base64url without padding.
 * The GCM additional authenticated data is the UTF-8 of `v1.<key id>.` followed by the caller's
 * `aad` (nothing when absent). Pass as `aad` what the secret belongs to (e.g. `webhook:42:token`):
 * a sealed value copied into another row then fails to open instead of passing as that row's secret.
 * Any change to any part fails to open; nothing but `open` with the right key and aad returns text.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ShipcheckError } from '../errors.js';
import type { KeyRing, MasterKey } from './key-ring.js';

export {
  KEY_FILE_MODE,
  KEY_FOLDER_MODE,
  MASTER_KEY_BYTES,
  MASTER_KEY_ENV,
  MasterKey,
  PREVIOUS_MASTER_KEYS_ENV,
  keyAgeMs,
  keyId,
  loadKeyRing,
  rotateKeyFile,
  type KeyRing,
  type LoadKeyRingOptions,
} from './key-ring.js';

/** The format version every sealed value starts with. */
export const SEALED_VERSION = 'v1';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^v1\.([0-9a-f]{8})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$/;

/** Why a sealed value did not open. */
export type SecretBoxFailure = 'malformed' | 'unknown-key' | 'unauthentic';

/** A sealed value did not open; the message says why and never holds the value or its plaintext. */
export class SecretBoxError extends ShipcheckError {
  constructor(
    readonly reason: SecretBoxFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `plaintext` sealed under the ring's current key with a fresh random IV, bound to `aad` when given. */
export function seal(ring: KeyRing, plaintext: string, aad = ''): string {
  const key = ring.current;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key.material, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(key, aad));
  const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return [SEALED_VERSION, key.id, iv.toString('base64url'), sealed.toString('base64url')].join('.');
}

/**
 * The plaintext of `sealed`, opened with the key it names and the same `aad` it was sealed with.
 * Throws SecretBoxError: `malformed` when it is not a sealed value, `unknown-key` when the ring
 * lacks its key, `unauthentic` when any part was altered or the aad differs.
 */
export function open(ring: KeyRing, sealed: string, aad = ''): string {
  const { id, iv, body } = parse(sealed);
  const key = ring.keys.find((k) => k.id === id);
  if (key === undefined) {
    throw new SecretBoxError(
      'unknown-key',
      `a secret is sealed with master key ${id}, which is not among the keys from ${ring.origin} ` +
        `(${ring.keys.map((k) => k.id).join(', ')}); restore that key, or restart shipcheck if its keys were rotated since it started`,
    );
  }
  const decipher = createDecipheriv(CIPHER, key.material, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(key, aad));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    const text = Buffer.concat([
      decipher.update(body.subarray(0, body.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return text.toString('utf8');
  } catch (err) {
    throw new SecretBoxError(
      'unauthentic',
      `a secret sealed with master key ${id} failed authentication: it was altered, or it belongs to something else than it was sealed for`,
      { cause: err },
    );
  }
}

/** Whether `value` has the form of a sealed value (it may still fail to open). */
export function isSealed(value: string): boolean {
  return SEALED.test(value);
}

/** Whether `sealed` is under a key other than the current one and should be sealed again. Throws SecretBoxError when malformed. */
export function needsReseal(ring: KeyRing, sealed: string): boolean {
  return parse(sealed).id !== ring.current.id;
}

/** `sealed` under the current key: opened and sealed again when needsReseal says so, else as it was. */
export function reseal(ring: KeyRing, sealed: string, aad = ''): string {
  return needsReseal(ring, sealed) ? seal(ring, open(ring, sealed, aad), aad) : sealed;
}

function additionalData(key: MasterKey, aad: string): Buffer {
  return Buffer.from(`${SEALED_VERSION}.${key.id}.${aad}`, 'utf8');
}

/**
 * The parts of a sealed value. Each base64url part must be exactly how its bytes encode: Node's
 * decoder skips stray characters and ignores the spare bits of the last one, so without this check
 * a changed character could still open.
 */
function parse(sealed: string): { id: string; iv: Buffer; body: Buffer } {
  const match = SEALED.exec(sealed);
  const malformed = () =>
    new SecretBoxError(
      'malformed',
      `a stored secret is not a sealed value (${SEALED_VERSION}.<key id>.<iv>.<ciphertext>)`,
    );
  if (match === null) throw malformed();
  const [, id = '', ivText = '', bodyText = ''] = match;
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.toString('base64url') !== ivText || body.toString('base64url') !== bodyText) throw malformed();
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw malformed();
  return { id, iv, body };
}
