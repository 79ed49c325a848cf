import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { keyAgeMs, keyId, loadKeyRing, rotateKeyFile } from './key-ring.js';

const NOW = Date.parse('2025-01-31T12:00:00.000Z');
const DAY_MS = 86_400_000;

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-key-ring-'));
  file = path.join(dir, 'secrets', 'keys.json');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

describe('the key file', () => {
  it('is created on first load with one key, mode 0600, in a new folder of mode 0700', () => {
    const ring = loadKeyRing({ env: {}, file, now: NOW });
    expect(modeOf(file)).toBe(0o600);
    expect(modeOf(path.dirname(file))).toBe(0o700);
    expect(ring.keys).toHaveLength(1);
    expect(ring.current).toBe(ring.keys[0]);
    expect(ring.current.id).toMatch(/^[0-9a-f]{8}$/);
    expect(ring.current.createdAt).toBe(NOW);
    expect(ring.origin).toBe(file);
    const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(stored).toEqual({
      keys: [
        {
          id: ring.current.id,
          key: ring.current.material.toString('base64'),
          createdAt: '2025-01-31T12:00:00.000Z',
        },
      ],
    });
    expect(keyId(Buffer.from(stored.keys[0].key, 'base64'))).toBe(ring.current.id);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['keys.json']);
  });

  it('is read, not replaced, on the next load', () => {
    const first = loadKeyRing({ env: {}, file, now: NOW });
    const again = loadKeyRing({ env: {}, file, now: NOW + DAY_MS });
    expect(again.current.id).toBe(first.current.id);
    expect(again.current.material.equals(first.current.material)).toBe(true);
    expect(again.current.createdAt).toBe(NOW);
  });

  it.each([0o644, 0o640, 0o604, 0o660])('is refused with mode %o, saying how to fix it', (mode) => {
    loadKeyRing({ env: {}, file, now: NOW });
    fs.chmodSync(file, mode);
    let thrown: unknown;
    try {
      loadKeyRing({ env: {}, file, now: NOW });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as Error).message).toContain(file);
    expect((thrown as Error).message).toContain(`mode 0${mode.toString(8)}`);
    expect((thrown as Error).message).toContain(`chmod 600 ${file}`);
  });

  it('is accepted with mode 0400', () => {
    const ring = loadKeyRing({ env: {}, file, now: NOW });
    fs.chmodSync(file, 0o400);
    expect(loadKeyRing({ env: {}, file, now: NOW }).current.id).toBe(ring.current.id);
  });

  it.each([
    ['not JSON', '{', /is not JSON/],
    ['no keys', '{"keys": []}', /at least one key/],
    [
      'a key of the wrong length',
      JSON.stringify({
        keys: [
          { id: '00000000', key: randomBytes(16).toString('base64'), createdAt: '2025-01-01T00:00:00Z' },
        ],
      }),
      /keys\[0\]\.key is 24 characters that decode to 16 bytes/,
    ],
    [
      'an id that does not match its key',
      JSON.stringify({
        keys: [
          { id: '00000000', key: randomBytes(32).toString('base64'), createdAt: '2025-01-01T00:00:00Z' },
        ],
      }),
      /keys\[0\]\.id is 00000000 but the key's id is/,
    ],
    [
      'a bad date',
      JSON.stringify({
        keys: [{ id: '00000000', key: randomBytes(32).toString('base64'), createdAt: 'yesterday' }],
      }),
      /keys\[0\]\.createdAt is not an ISO date/,
    ],
  ])('with %s is refused, naming the file', (_what, text, message) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text, { mode: 0o600 });
    expect(() => loadKeyRing({ env: {}, file, now: NOW })).toThrow(InputError);
    expect(() => loadKeyRing({ env: {}, file, now: NOW })).toThrow(message);
    expect(() => loadKeyRing({ env: {}, file, now: NOW })).toThrow(file);
  });
});

describe('rotateKeyFile', () => {
  it('appends a new current key and keeps the old ones, the file staying 0600', () => {
    const before = loadKeyRing({ env: {}, file, now: NOW });
    const after = rotateKeyFile(file, NOW + 90 * DAY_MS);
    expect(after.keys.map((k) => k.id)).toEqual([before.current.id, after.current.id]);
    expect(after.current.id).not.toBe(before.current.id);
    expect(after.current.createdAt).toBe(NOW + 90 * DAY_MS);
    expect(modeOf(file)).toBe(0o600);
    const reloaded = loadKeyRing({ env: {}, file, now: NOW + 91 * DAY_MS });
    expect(reloaded.keys.map((k) => k.id)).toEqual(after.keys.map((k) => k.id));
    expect(reloaded.current.id).toBe(after.current.id);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['keys.json']);
  });

  it('refuses while another rotation holds the lock, and when there is no key file', () => {
    loadKeyRing({ env: {}, file, now: NOW });
    fs.writeFileSync(`${file}.lock`, '');
    expect(() => rotateKeyFile(file, NOW)).toThrow(ConflictError);
    fs.rmSync(`${file}.lock`);
    expect(rotateKeyFile(file, NOW).keys).toHaveLength(2);
    expect(() => rotateKeyFile(path.join(dir, 'missing.json'), NOW)).toThrow(NotFoundError);
  });

  it('refuses a key file open to others instead of rewriting it', () => {
    loadKeyRing({ env: {}, file, now: NOW });
    fs.chmodSync(file, 0o644);
    expect(() => rotateKeyFile(file, NOW)).toThrow(/chmod 600/);
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });
});

describe('keyAgeMs', () => {
  it('is the age of the current key from the file, and unknown for a key from the environment', () => {
    loadKeyRing({ env: {}, file, now: NOW });
    const rotated = rotateKeyFile(file, NOW + 10 * DAY_MS);
    expect(keyAgeMs(rotated, NOW + 15 * DAY_MS)).toBe(5 * DAY_MS);
    const fromEnv = loadKeyRing({
      env: { SHIPCHECK_MASTER_KEY: randomBytes(32).toString('hex') },
      file,
      now: NOW,
    });
    expect(keyAgeMs(fromEnv, NOW)).toBeUndefined();
  });
});

describe('SHIPCHECK_MASTER_KEY', () => {
  const material = randomBytes(32);

  it.each([
    ['64 hex characters', material.toString('hex')],
    ['upper-case hex', material.toString('hex').toUpperCase()],
    ['base64', material.toString('base64')],
    ['base64 without padding', material.toString('base64').replace(/=+$/, '')],
    ['base64url', material.toString('base64url')],
    ['base64 with a trailing newline', `${material.toString('base64')}\n`],
  ])('is read as %s, and the key file is left alone', (_form, value) => {
    const ring = loadKeyRing({ env: { SHIPCHECK_MASTER_KEY: value }, file, now: NOW });
    expect(ring.current.material.equals(material)).toBe(true);
    expect(ring.current.id).toBe(keyId(material));
    expect(ring.current.createdAt).toBeUndefined();
    expect(ring.keys).toEqual([ring.current]);
    expect(ring.origin).toBe('$SHIPCHECK_MASTER_KEY');
    expect(fs.existsSync(file)).toBe(false);
  });

  it.each([
    ['empty', '', /SHIPCHECK_MASTER_KEY is empty/],
    ['16 bytes of hex', randomBytes(16).toString('hex'), /32 characters that decode to 24 bytes/],
    ['48 bytes of base64', randomBytes(48).toString('base64'), /64 characters that decode to 48 bytes/],
    ['a passphrase', 'correct horse battery staple', /neither hex nor base64/],
  ])('is refused when %s, without showing it', (_what, value, message) => {
    const load = () => loadKeyRing({ env: { SHIPCHECK_MASTER_KEY: value }, file, now: NOW });
    expect(load).toThrow(InputError);
    expect(load).toThrow(message);
    try {
      load();
    } catch (err) {
      if (value !== '') expect((err as Error).message).not.toContain(value);
    }
  });

  it('keeps the keys of SHIPCHECK_MASTER_KEY_PREVIOUS to open old secrets, the main key current', () => {
    const old1 = randomBytes(32);
    const old2 = randomBytes(32);
    const ring = loadKeyRing({
      env: {
        SHIPCHECK_MASTER_KEY: material.toString('base64'),
        SHIPCHECK_MASTER_KEY_PREVIOUS: ` ${old1.toString('hex')} ,${old2.toString('base64')},,${material.toString('hex')}`,
      },
      file,
      now: NOW,
    });
    expect(ring.keys.map((k) => k.id)).toEqual([keyId(old1), keyId(old2), keyId(material)]);
    expect(ring.current.id).toBe(keyId(material));
  });

  it('names the bad entry of SHIPCHECK_MASTER_KEY_PREVIOUS', () => {
    const env = {
      SHIPCHECK_MASTER_KEY: material.toString('hex'),
      SHIPCHECK_MASTER_KEY_PREVIOUS: `${randomBytes(32).toString('hex')},abc`,
    };
    expect(() => loadKeyRing({ env, file, now: NOW })).toThrow(
      /SHIPCHECK_MASTER_KEY_PREVIOUS entry 2 is 3 characters/,
    );
  });

  it('refuses SHIPCHECK_MASTER_KEY_PREVIOUS without SHIPCHECK_MASTER_KEY', () => {
    const env = { SHIPCHECK_MASTER_KEY_PREVIOUS: randomBytes(32).toString('hex') };
    expect(() => loadKeyRing({ env, file, now: NOW })).toThrow(
      /SHIPCHECK_MASTER_KEY_PREVIOUS is set but SHIPCHECK_MASTER_KEY is not/,
    );
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('a master key', () => {
  it('shows its id and date but never its bytes in JSON or inspection', () => {
    const ring = loadKeyRing({ env: {}, file, now: NOW });
    const secret = ring.current.material.toString('base64');
    const hex = ring.current.material.toString('hex');
    const json = JSON.stringify(ring);
    expect(json).toContain(ring.current.id);
    expect(json).toContain('2025-01-31T12:00:00.000Z');
    for (const shown of [json, inspect(ring, { depth: 10 })]) {
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(hex);
    }
  });
});
