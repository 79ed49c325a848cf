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
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-traffic-'));
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

describe('traffic timeouts of the built-in proxy', () => {
  it('default to 75s keep-alive, 60s for the request head and 300s for the whole request', async () => {
    await writeFile(file, MINIMAL);
    expect((await loadConfig(file)).config.traffic).toEqual({
      kind: 'proxy',
      listen: '127.0.0.1:8080',
      keepAliveTimeout: 75_000,
      headersTimeout: 60_000,
      requestTimeout: 300_000,
      forceFrom: [],
    });
  });

  it('read durations, and 0s turns the request timeout off', async () => {
    await writeFile(
      file,
      `${MINIMAL}traffic:\n  kind: proxy\n  keepAliveTimeout: 2m\n  headersTimeout: 90s\n  requestTimeout: 0s\n`,
    );
    expect((await loadConfig(file)).config.traffic).toMatchObject({
      keepAliveTimeout: 120_000,
      headersTimeout: 90_000,
      requestTimeout: 0,
    });
  });

  it('report a value that is not a duration, or a zero timeout that cannot be off, at the value', async () => {
    expect(await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  keepAliveTimeout: 75\n`)).toEqual([
      `${file}:7:21: traffic.keepAliveTimeout: expected a duration such as 500ms, 5s, 5m or 1h, got number 75`,
    ]);
    expect(await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  keepAliveTimeout: 0s\n`)).toEqual([
      `${file}:7:21: traffic.keepAliveTimeout: a keep-alive timeout is above 0, got "0s"`,
    ]);
    expect(await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  headersTimeout: 0s\n`)).toEqual([
      `${file}:7:19: traffic.headersTimeout: a headers timeout is above 0, got "0s"`,
    ]);
  });

  it('report a headers timeout longer than the request timeout', async () => {
    expect(
      await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  headersTimeout: 2m\n  requestTimeout: 1m\n`),
    ).toEqual([
      `${file}:7:19: traffic.headersTimeout: headersTimeout must not be longer than requestTimeout, got 2m against 1m (requestTimeout: 0s turns that one off)`,
    ]);
    // Only the request timeout written: the default headers timeout (60s) outlasts it.
    expect(await problemsOf(`${MINIMAL}traffic:\n  kind: proxy\n  requestTimeout: 30s\n`)).toEqual([
      `${file}:5:1: traffic.headersTimeout: headersTimeout must not be longer than requestTimeout, got 1m against 30s (requestTimeout: 0s turns that one off)`,
    ]);
  });

  it('are inherited by environments, which may override them', async () => {
    await writeFile(
      file,
      `${MINIMAL}traffic:\n  kind: proxy\n  listen: 127.0.0.1:0\n  keepAliveTimeout: 90s\n` +
        'environments:\n  staging: {}\n  production:\n    traffic:\n      keepAliveTimeout: 10m\n',
    );
    const { config, environments } = await loadConfig(file);
    expect(config.traffic).toMatchObject({ keepAliveTimeout: 90_000 });
    expect(environments.map((e) => [e.name, e.config.traffic])).toEqual([
      ['staging', expect.objectContaining({ keepAliveTimeout: 90_000, headersTimeout: 60_000 })],
      ['production', expect.objectContaining({ keepAliveTimeout: 600_000, headersTimeout: 60_000 })],
    ]);
  });
});

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
