import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { sealParams, openParams, shownParams } from '../security/sealed-params.js';
import { loadKeyRing, open, seal } from '../security/secret-box.js';
import { redactDeep, redactSecrets } from '../util/secrets.js';
import { loadConfig } from './loader.js';

const MINIMAL = 'service: web\nfleet:\n  kind: local\n  command: node app.js\n';
const SECRET = 'pl4nted-config-secret-7f3a';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-secret-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  delete process.env.SHIPCHECK_TEST_SECRET_A;
});

async function load(text: string): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  const file = path.join(dir, 'shipcheck.yaml');
  await writeFile(file, text);
  return loadConfig(file);
}

describe('secret references in config', () => {
  it('reads a secret from the environment or a file, and shows it as *** from then on', async () => {
    process.env.SHIPCHECK_TEST_SECRET_A = SECRET;
    const secretFile = path.join(dir, 'db-url');
    await writeFile(secretFile, 'postgres://app:s3cr3t-file-password@db/app\n');
    const loaded = await load(
      `${MINIMAL}checklist:\n  vars:\n    token: { secret: { env: SHIPCHECK_TEST_SECRET_A } }\n` +
        `backup:\n  database: { secret: { file: ${secretFile} } }\n`,
    );
    expect(loaded.config.checklist.vars.token).toBe(SECRET);
    expect(loaded.config.backup?.database).toBe('postgres://app:s3cr3t-file-password@db/app');
    expect(redactSecrets(`curl -H "token: ${SECRET}"`)).toBe('curl -H "token: ***"');
    expect(redactDeep({ a: [`x${SECRET}`], b: 1 })).toEqual({ a: ['x***'], b: 1 });
  });

  it('says where a secret that is not set is referenced, without a value', async () => {
    const error = await load(
      `${MINIMAL}checklist:\n  vars:\n    token: { secret: { env: SHIPCHECK_TEST_UNSET_9 } }\n`,
    ).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toMatch(
      /shipcheck\.yaml:7:\d+: .*environment variable SHIPCHECK_TEST_UNSET_9 is not set/,
    );
  });

  it('keeps params that hold a secret sealed (AES-256-GCM) in the store and open only for the runner', () => {
    process.env.SHIPCHECK_TEST_SECRET_A = SECRET;
    const ring = loadKeyRing({ env: {}, file: path.join(dir, 'keys', 'master.key'), now: Date.now() });
    const sealer = {
      seal: (text: string, aad: string) => seal(ring, text, aad),
      open: (sealed: string, aad: string) => open(ring, sealed, aad),
    };
    const params = { command: `curl -H "x-token: ${SECRET}" http://x` };
    const stored = sealParams(params, sealer, 'checklist:1:a');
    expect(JSON.stringify(shownParams(stored))).not.toContain(SECRET);
    expect(shownParams(stored)).toEqual({ command: 'curl -H "x-token: ***" http://x' });
    expect(openParams(stored, sealer, 'checklist:1:a')).toEqual(params);
    expect(() => openParams(stored, sealer, 'checklist:2:a')).toThrow();
    expect(sealParams({ command: 'ls' }, sealer, 'x')).toEqual({ command: 'ls' });
  });
});
