import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testContext } from '../../../test/support/check-context.js';
import { configSchema } from '../../config/schema.js';
import { keyAgeMs, loadKeyRing, rotateKeyFile } from '../../security/key-ring.js';
import { ManualClock } from '../../util/clock.js';
import { keyAgeCheck } from './key-age.js';

const DAY_MS = 24 * 3_600_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-key-age-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('key-age check: the key rotation schedule', () => {
  it('passes while the master key is younger than security.keyMaxAge, fails after, and passes again once rotated', async () => {
    const clock = new ManualClock();
    const file = path.join(dir, 'master.key');
    const masterKey = () => {
      const ring = loadKeyRing({ env: {}, file, now: clock.now() });
      return { id: ring.current.id, origin: ring.origin, ageMs: keyAgeMs(ring, clock.now()) };
    };
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'true' },
      security: { keyMaxAge: '30d' },
    });
    const context = testContext({ config, clock, masterKey });
    const params = keyAgeCheck.params.parse({});
    // The key file is created the first time the ring is read.
    expect(masterKey().ageMs).toBe(0);
    clock.advance(10 * DAY_MS);
    const young = await keyAgeCheck.run(params, context);
    expect(young).toMatchObject({ ok: true, value: 10 });
    expect(young.summary).toMatch(/is 10\.0 days old \(max 30 days\)/);
    clock.advance(25 * DAY_MS);
    const old = await keyAgeCheck.run(params, context);
    expect(old.ok).toBe(false);
    expect(old.summary).toMatch(/35\.0 days old .*shipcheck keys rotate/);
    rotateKeyFile(file, clock.now());
    expect(await keyAgeCheck.run(params, context)).toMatchObject({ ok: true, value: 0 });
    // An item may set its own limit.
    clock.advance(2 * DAY_MS);
    expect((await keyAgeCheck.run(keyAgeCheck.params.parse({ maxAge: '1d' }), context)).ok).toBe(false);
  });

  it('is inconclusive for a key from SHIPCHECK_MASTER_KEY, which records no age', async () => {
    const ring = loadKeyRing({
      env: { SHIPCHECK_MASTER_KEY: 'a'.repeat(64) },
      file: path.join(dir, 'unused'),
      now: 0,
    });
    const context = testContext({
      masterKey: () => ({ id: ring.current.id, origin: ring.origin, ageMs: keyAgeMs(ring, 0) }),
    });
    const result = await keyAgeCheck.run(keyAgeCheck.params.parse({}), context);
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toMatch(/SHIPCHECK_MASTER_KEY.*records no age/);
  });
});
