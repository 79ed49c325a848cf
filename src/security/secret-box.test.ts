import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShipcheckError } from '../errors.js';
import {
  SecretBoxError,
  isSealed,
  loadKeyRing,
  needsReseal,
  open,
  reseal,
  rotateKeyFile,
  seal,
  type KeyRing,
} from './secret-box.js';

const NOW = Date.parse('2025-01-31T12:00:00.000Z');
const PLAINTEXT = 'xoxb-webhook-token-✓';

let dir: string;
let file: string;
let ring: KeyRing;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-secret-box-'));
  file = path.join(dir, 'keys.json');
  ring = loadKeyRing({ env: {}, file, now: NOW });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What open threw, checked to be a SecretBoxError that does not give away the plaintext. */
function refusal(action: () => unknown): SecretBoxError {
  try {
    action();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretBoxError);
    expect(err).toBeInstanceOf(ShipcheckError);
    expect((err as Error).message).not.toContain(PLAINTEXT);
    return err as SecretBoxError;
  }
  throw new Error('expected the sealed value not to open');
}

describe('seal and open', () => {
  it('round-trip text, empty text and long text, with and without aad', () => {
    for (const text of [PLAINTEXT, '', 'x'.repeat(100_000)]) {
      expect(open(ring, seal(ring, text))).toBe(text);
      expect(open(ring, seal(ring, text, 'webhook:42:token'), 'webhook:42:token')).toBe(text);
    }
  });

  it('write v1.<key id>.<iv>.<ciphertext+tag> in base64url, the iv 12 bytes and the tag 16', () => {
    const sealed = seal(ring, PLAINTEXT);
    const [version, id, iv, body, ...rest] = sealed.split('.');
    expect(rest).toEqual([]);
    expect(version).toBe('v1');
    expect(id).toBe(ring.current.id);
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(body!, 'base64url')).toHaveLength(Buffer.byteLength(PLAINTEXT) + 16);
    expect(sealed).not.toContain(PLAINTEXT);
    expect(isSealed(sealed)).toBe(true);
  });

  it('use a fresh random IV each time, so the same text never seals the same', () => {
    const sealings = Array.from({ length: 50 }, () => seal(ring, PLAINTEXT));
    expect(new Set(sealings).size).toBe(50);
    expect(new Set(sealings.map((s) => s.split('.')[2])).size).toBe(50);
  });

  it('refuse a value with any character of any part changed', () => {
    const sealed = seal(ring, PLAINTEXT, 'row:1');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < sealed.length; i++) {
      if (sealed[i] === '.') continue;
      const replacement = alphabet[(alphabet.indexOf(sealed[i]!) + 1) % alphabet.length]!;
      const altered = sealed.slice(0, i) + replacement + sealed.slice(i + 1);
      const err = refusal(() => open(ring, altered, 'row:1'));
      expect(['malformed', 'unknown-key', 'unauthentic']).toContain(err.reason);
    }
  });

  it('refuse a value whose ciphertext bytes were flipped, cut short or extended', () => {
    const sealed = seal(ring, PLAINTEXT);
    const [head, id, iv, body] = sealed.split('.') as [string, string, string, string];
    const bytes = Buffer.from(body, 'base64url');
    const rebuilt = (b: Buffer) => [head, id, iv, b.toString('base64url')].join('.');
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = flipped[i]! ^ 0x01;
      expect(refusal(() => open(ring, rebuilt(flipped))).reason).toBe('unauthentic');
    }
    expect(refusal(() => open(ring, rebuilt(bytes.subarray(0, bytes.length - 1)))).reason).toBe(
      'unauthentic',
    );
    expect(refusal(() => open(ring, rebuilt(Buffer.concat([bytes, Buffer.from([0])])))).reason).toBe(
      'unauthentic',
    );
  });

  it('refuse a value moved under another key of the ring, the header being authenticated', () => {
    const sealed = seal(ring, PLAINTEXT);
    const rotated = rotateKeyFile(file, NOW + 1);
    const moved = sealed.replace(`.${ring.current.id}.`, `.${rotated.current.id}.`);
    expect(refusal(() => open(rotated, moved)).reason).toBe('unauthentic');
  });

  it('refuse the wrong aad, and a missing one', () => {
    const sealed = seal(ring, PLAINTEXT, 'webhook:42:token');
    expect(refusal(() => open(ring, sealed, 'webhook:43:token')).reason).toBe('unauthentic');
    expect(refusal(() => open(ring, sealed)).reason).toBe('unauthentic');
    expect(refusal(() => open(ring, seal(ring, PLAINTEXT), 'webhook:42:token')).reason).toBe('unauthentic');
  });

  it('refuse a value whose key the ring lacks, naming the key and where the keys came from', () => {
    const sealed = seal(ring, PLAINTEXT);
    const other = loadKeyRing({
      env: { SHIPCHECK_MASTER_KEY: randomBytes(32).toString('hex') },
      file,
      now: NOW,
    });
    const err = refusal(() => open(other, sealed));
    expect(err.reason).toBe('unknown-key');
    expect(err.message).toContain(ring.current.id);
    expect(err.message).toContain('$SHIPCHECK_MASTER_KEY');
  });

  it('refuse what is not a sealed value without repeating it', () => {
    for (const value of [
      PLAINTEXT,
      '',
      'v2.00000000.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
      `${seal(ring, PLAINTEXT)}.extra`,
    ]) {
      expect(isSealed(value)).toBe(false);
      expect(refusal(() => open(ring, value)).reason).toBe('malformed');
    }
  });
});

describe('rotation', () => {
  it('keeps old values readable, seals new ones with the new key, and marks old ones for resealing', () => {
    const old = seal(ring, PLAINTEXT, 'row:1');
    expect(needsReseal(ring, old)).toBe(false);
    const rotated = rotateKeyFile(file, NOW + 90 * 86_400_000);
    expect(open(rotated, old, 'row:1')).toBe(PLAINTEXT);
    expect(needsReseal(rotated, old)).toBe(true);
    const fresh = seal(rotated, PLAINTEXT, 'row:1');
    expect(fresh.split('.')[1]).toBe(rotated.current.id);
    expect(needsReseal(rotated, fresh)).toBe(false);
    const resealed = reseal(rotated, old, 'row:1');
    expect(needsReseal(rotated, resealed)).toBe(false);
    expect(open(rotated, resealed, 'row:1')).toBe(PLAINTEXT);
    expect(reseal(rotated, fresh, 'row:1')).toBe(fresh);
    // A process still holding the ring from before the rotation cannot open the new value.
    expect(refusal(() => open(ring, fresh, 'row:1')).reason).toBe('unknown-key');
  });

  it('with SHIPCHECK_MASTER_KEY_PREVIOUS, opens what the earlier key sealed', () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('hex');
    const before = loadKeyRing({ env: { SHIPCHECK_MASTER_KEY: oldKey }, file, now: NOW });
    const old = seal(before, PLAINTEXT);
    const withoutPrevious = loadKeyRing({ env: { SHIPCHECK_MASTER_KEY: newKey }, file, now: NOW });
    expect(refusal(() => open(withoutPrevious, old)).reason).toBe('unknown-key');
    const after = loadKeyRing({
      env: { SHIPCHECK_MASTER_KEY: newKey, SHIPCHECK_MASTER_KEY_PREVIOUS: oldKey },
      file,
      now: NOW,
    });
    expect(open(after, old)).toBe(PLAINTEXT);
    expect(needsReseal(after, old)).toBe(true);
    expect(needsReseal(after, seal(after, PLAINTEXT))).toBe(false);
  });
});
