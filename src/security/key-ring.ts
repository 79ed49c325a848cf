/**
 * The master keys that seal secrets at rest (see secret-box.ts): 32-byte AES-256 keys, each known by
 * an id, the first 8 hex characters of the SHA-256 of the key, so a sealed value can name its key
 * without revealing it. The newest key is current and seals; older ones only open what they sealed.
 *
 * Keys come from one of two places:
 *
 * - `SHIPCHECK_MASTER_KEY`, when set: the key, as 64 hex characters or as the base64 (or base64url,
 *   padded or not) of 32 bytes, e.g. from `openssl rand -base64 32`. The operator rotates it: the
 *   new key goes in `SHIPCHECK_MASTER_KEY` and the old ones, comma-separated, in
 *   `SHIPCHECK_MASTER_KEY_PREVIOUS`, so what they sealed still opens. Their age is unknown.
 * - Otherwise the key file, created on first use with one fresh key:
 *   ```json
 *   { "keys": [{ "id": "1a2b3c4d", "key": "<base64 of 32 bytes>", "createdAt": "2025-01-31T12:00:00.000Z" }] }
 *   ```
 *   oldest first, the last one current. It is never readable by group or others, not even for an
 *   instant: it is written to a temporary file opened with mode 0600 and exclusive creation, then
 *   linked (when created) or renamed (when rotated) into place; new parent folders get mode 0700. A
 *   key file with any group or other permission bit is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { ConflictError, InputError, NotFoundError, errorMessage } from '../errors.js';

/** The environment variable that holds the master key; when set, the key file is not used. */
export const MASTER_KEY_ENV = 'SHIPCHECK_MASTER_KEY';
/** The environment variable that holds earlier master keys, comma-separated, to open old secrets. */
export const PREVIOUS_MASTER_KEYS_ENV = 'SHIPCHECK_MASTER_KEY_PREVIOUS';
/** Bytes in a master key: AES-256. */
export const MASTER_KEY_BYTES = 32;
/** Mode of the key file: read and write for its owner only. */
export const KEY_FILE_MODE = 0o600;
/** Mode of folders created to hold the key file. */
export const KEY_FOLDER_MODE = 0o700;

const KEY_ID_HEX_CHARS = 8;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]+={0,2}$/;
const KEY_ID = /^[0-9a-f]{8}$/;

/**
 * One master key. Its bytes stay out of JSON and of `util.inspect`, so a key ring that ends up in a
 * log line shows ids and dates only.
 */
export class MasterKey {
  /** First 8 hex characters of the SHA-256 of the key; names the key in sealed values and files. */
  readonly id: string;
  readonly #material: Buffer;

  constructor(
    material: Buffer,
    /** When the key was made (epoch ms); undefined for a key from the environment. */
    readonly createdAt: number | undefined,
  ) {
    if (material.length !== MASTER_KEY_BYTES)
      throw new InputError(`a master key must be ${MASTER_KEY_BYTES} bytes, not ${material.length}`);
    this.#material = Buffer.from(material);
    this.id = keyId(material);
  }

  /** The 32 key bytes, for the cipher. */
  get material(): Buffer {
    return this.#material;
  }

  /** The id and creation time, never the key. */
  toJSON(): { id: string; createdAt: string | undefined } {
    return {
      id: this.id,
      createdAt: this.createdAt === undefined ? undefined : new Date(this.createdAt).toISOString(),
    };
  }

  [inspect.custom](): string {
    return `MasterKey ${this.id}`;
  }
}

/** The master keys shipcheck can open secrets with, oldest first; the last is current and seals. */
export interface KeyRing {
  /** Every key, oldest first. Never empty. */
  readonly keys: readonly MasterKey[];
  /** The key new secrets are sealed with: the newest. */
  readonly current: MasterKey;
  /** Where the keys came from, for messages: `$SHIPCHECK_MASTER_KEY` or the key file's path. */
  readonly origin: string;
}

/** The id of a key: the first 8 hex characters of its SHA-256. */
export function keyId(material: Buffer): string {
  return createHash('sha256').update(material).digest('hex').slice(0, KEY_ID_HEX_CHARS);
}

/** Where to find the keys and what time it is (epoch ms, the creation time of a new key). */
export interface LoadKeyRingOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** The key file, used when SHIPCHECK_MASTER_KEY is not set; created when missing. */
  file: string;
  now: number;
}

/**
 * The key ring from SHIPCHECK_MASTER_KEY (and SHIPCHECK_MASTER_KEY_PREVIOUS) when it is set,
 * otherwise from the key file, which is created with one fresh key when it does not exist. Throws
 * InputError for a key in the environment that is not 32 bytes of hex or base64, and for a key file
 * that is open to group or others or is not a valid key file; neither message shows a key.
 */
export function loadKeyRing({ env, file, now }: LoadKeyRingOptions): KeyRing {
  const master = env[MASTER_KEY_ENV];
  const previous = env[PREVIOUS_MASTER_KEYS_ENV];
  if (master === undefined) {
    if (previous !== undefined && previous.trim() !== '') {
      throw new InputError(
        `${PREVIOUS_MASTER_KEYS_ENV} is set but ${MASTER_KEY_ENV} is not: set the current key in ${MASTER_KEY_ENV}`,
      );
    }
    return loadOrCreateKeyFile(file, now);
  }
  const current = new MasterKey(parseKey(master, MASTER_KEY_ENV), undefined);
  const keys: MasterKey[] = [];
  (previous ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .forEach((entry, index) => {
      if (entry === '') return;
      const key = new MasterKey(parseKey(entry, `${PREVIOUS_MASTER_KEYS_ENV} entry ${index + 1}`), undefined);
      // The same key listed twice, or the current key left among the previous ones, is harmless.
      if (key.id !== current.id && !keys.some((k) => k.id === key.id)) keys.push(key);
    });
  keys.push(current);
  return { keys, current, origin: `$${MASTER_KEY_ENV}` };
}

/**
 * Adds a new current key to the key file and returns the new ring; older keys stay, so what they
 * sealed still opens. The file is replaced atomically (a 0600 temporary file renamed over it), and a
 * lock file beside it (`<file>.lock`) keeps two rotations from losing each other's key. Processes
 * already running keep their ring until they load it again. With SHIPCHECK_MASTER_KEY the operator
 * rotates instead (see the module comment).
 */
export function rotateKeyFile(file: string, now: number): KeyRing {
  const lock = `${file}.lock`;
  let lockFd: number;
  try {
    lockFd = fs.openSync(lock, 'wx', KEY_FILE_MODE);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new ConflictError(
        `another rotation of key file ${file} is under way (${lock} exists); if none is, remove ${lock}`,
        { cause: err },
      );
    }
    throw err;
  }
  try {
    const ring = readKeyFile(file);
    if (ring === undefined)
      throw new NotFoundError(
        `there is no key file at ${file} to rotate; shipcheck creates one when it first needs a key`,
      );
    const keys = [...ring.keys, freshKey(now)];
    replaceFile(file, keyFileText(keys));
    return ringOf(keys, file);
  } finally {
    fs.closeSync(lockFd);
    fs.rmSync(lock, { force: true });
  }
}

/** How old the current key is (ms), or undefined when its creation time is unknown (a key from the environment). */
export function keyAgeMs(ring: KeyRing, now: number): number | undefined {
  const createdAt = ring.current.createdAt;
  return createdAt === undefined ? undefined : Math.max(0, now - createdAt);
}

function loadOrCreateKeyFile(file: string, now: number): KeyRing {
  const existing = readKeyFile(file);
  if (existing !== undefined) return existing;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: KEY_FOLDER_MODE });
  const keys = [freshKey(now)];
  if (createFile(file, keyFileText(keys))) return ringOf(keys, file);
  // Another process created it first: use its key, not ours.
  const winner = readKeyFile(file);
  if (winner === undefined) throw new NotFoundError(`key file ${file} vanished while it was being created`);
  return winner;
}

/** The ring in `file`, or undefined when there is no file. */
function readKeyFile(file: string): KeyRing | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  if (!stat.isFile()) throw new InputError(`key file ${file} is not a regular file`);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new InputError(
      `key file ${file} has mode ${octal(mode)}, which lets group or others read it; the master keys must be ` +
        `readable by their owner only: run chmod 600 ${file} (and consider the keys in it exposed)`,
    );
  }
  return ringOf(parseKeyFile(fs.readFileSync(file, 'utf8'), file), file);
}

function parseKeyFile(text: string, file: string): MasterKey[] {
  const problem = (what: string) => new InputError(`key file ${file}: ${what}`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InputError(`key file ${file} is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  if (!isRecord(data) || !Array.isArray(data.keys) || data.keys.length === 0) {
    throw problem('expected {"keys": [{"id", "key", "createdAt"}, ...]} with at least one key');
  }
  const seen = new Set<string>();
  return data.keys.map((entry: unknown, index: number) => {
    const at = `keys[${index}]`;
    if (!isRecord(entry)) throw problem(`${at} is not an object`);
    const { id, key, createdAt } = entry;
    if (typeof id !== 'string' || !KEY_ID.test(id))
      throw problem(`${at}.id is not 8 lower-case hex characters`);
    if (typeof key !== 'string') throw problem(`${at}.key is not a string`);
    if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt)))
      throw problem(`${at}.createdAt is not an ISO date`);
    const material = parseKey(key, `${at}.key`, (what) => problem(what));
    const masterKey = new MasterKey(material, Date.parse(createdAt));
    if (masterKey.id !== id)
      throw problem(`${at}.id is ${id} but the key's id is ${masterKey.id}: the id or the key was altered`);
    if (seen.has(id)) throw problem(`${at} repeats key ${id}`);
    seen.add(id);
    return masterKey;
  });
}

function keyFileText(keys: readonly MasterKey[]): string {
  const entries = keys.map((k) => ({
    id: k.id,
    key: k.material.toString('base64'),
    createdAt: new Date(k.createdAt ?? 0).toISOString(),
  }));
  return `${JSON.stringify({ keys: entries }, null, 2)}\n`;
}

/**
 * The 32 bytes of `text`: 64 hex characters, or base64 / base64url of 32 bytes. The message says
 * what is wrong without repeating the text, which may be a real key with a typo.
 */
function parseKey(
  raw: string,
  name: string,
  fail: (what: string) => Error = (what) => new InputError(what),
): Buffer {
  const text = raw.trim();
  const expected = `must be ${MASTER_KEY_BYTES} bytes as 64 hex characters or as base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`;
  if (text === '') throw fail(`${name} is empty; it ${expected}`);
  if (HEX_KEY.test(text)) return Buffer.from(text, 'hex');
  if (!BASE64_KEY.test(text))
    throw fail(`${name} is neither hex nor base64 (it has characters of neither); it ${expected}`);
  const bytes = Buffer.from(text.replace(/=+$/, ''), 'base64url');
  if (
    bytes.length !== MASTER_KEY_BYTES ||
    bytes.toString('base64url') !== text.replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_')
  ) {
    throw fail(`${name} is ${text.length} characters that decode to ${bytes.length} bytes; it ${expected}`);
  }
  return bytes;
}

function freshKey(now: number): MasterKey {
  return new MasterKey(randomBytes(MASTER_KEY_BYTES), now);
}

function ringOf(keys: readonly MasterKey[], origin: string): KeyRing {
  const current = keys[keys.length - 1];
  if (current === undefined) throw new InputError(`${origin} holds no key`);
  return { keys, current, origin };
}

/** Writes `text` to `file` unless it exists (false then); the file never exists half-written or with a wider mode. */
function createFile(file: string, text: string): boolean {
  const temp = writeTemp(file, text);
  try {
    fs.linkSync(temp, file);
    syncFolder(path.dirname(file));
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Replaces `file` with `text` at once: readers see the old file or the new one, nothing between. */
function replaceFile(file: string, text: string): void {
  const temp = writeTemp(file, text);
  try {
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  syncFolder(path.dirname(file));
}

/** A new file beside `file` holding `text`, mode 0600 from its creation, flushed to disk. */
function writeTemp(file: string, text: string): string {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = fs.openSync(temp, 'wx', KEY_FILE_MODE);
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  return temp;
}

/** Makes a new name in `folder` survive a crash; platforms that cannot sync a folder are left as they are. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(folder, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open a folder for syncing; the rename itself has still happened.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
