import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { redactSecrets } from '../util/secrets.js';
import { loadConfig } from './loader.js';

const MINIMAL = 'service: web\nfleet:\n  kind: local\n  command: node app.js\n';
const TOKEN_ENV = 'SHIPCHECK_TEST_FORCE_TOKEN';
const TOKEN = 'f0rce-t0ken-from-the-environment';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-force-'));
  file = path.join(dir, 'shipcheck.yaml');
});

afterEach(async () => {
  delete process.env[TOKEN_ENV];
  await rm(dir, { recursive: true, force: true });
});

/** Writes `text` as the config and returns the problems loading it reports. */
async function problemsOf(text: string): Promise<string[]> {
  await writeFile(file, text);
  const error = await loadConfig(file).catch((err: unknown) => err);
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems;
}

describe('who may force a version through the built-in proxy', () => {
  it('has no force token and no trusted address by default', async () => {
    await writeFile(file, MINIMAL);
    const { traffic } = (await loadConfig(file)).config;
    expect(traffic).toMatchObject({ kind: 'proxy', forceFrom: [] });
    expect(traffic.kind === 'proxy' && traffic.forceToken).toBeUndefined();
  });

  it('reads the force token from a secret reference and shows it as *** from then on', async () => {
    process.env[TOKEN_ENV] = TOKEN;
    await writeFile(
      file,
      `${MINIMAL}traffic:\n  kind: proxy\n  forceToken: { secret: { env: ${TOKEN_ENV} } }\n  forceFrom: [10.0.0.0/8, '::1']\n`,
    );
    const { traffic } = (await loadConfig(file)).config;
    expect(traffic).toMatchObject({ forceToken: TOKEN, forceFrom: ['10.0.0.0/8', '::1'] });
    expect(redactSecrets(`token ${TOKEN}`)).toBe('token ***');
  });

  it('reports a short token and an entry that is not an address, at the value', async () => {
    expect(await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  forceToken: short\n`)).toEqual([
      `${file}:7:15: traffic.forceToken: use a token of at least 16 characters, got "short"`,
    ]);
    expect(await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  forceFrom: [10.0.0.0/40]\n`)).toEqual([
      `${file}:7:15: traffic.forceFrom[0]: the prefix length after / is 0 to 32, got "10.0.0.0/40"`,
    ]);
  });
});
