import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initCommand } from '../cli/commands/init.js';
import { validateCommand } from '../cli/commands/validate.js';
import { ConfigError, InputError } from '../errors.js';
import { loadInstallation } from './installation.js';
import { loadConfig, resolveStorePath } from './loader.js';
import { STARTER_CONFIG } from './starter.js';

const MINIMAL = 'service: web\nfleet:\n  kind: local\n  command: node app.js\n';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-config-'));
  file = path.join(dir, 'shipcheck.yaml');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `text` as the config and returns the problems loading it reports. */
async function problemsOf(text: string): Promise<string[]> {
  await writeFile(file, text);
  const error = await loadConfig(file).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems;
}

describe('loadConfig: problems are file:line:col: message', () => {
  it('reports an unknown top-level key at the key', async () => {
    expect(await problemsOf(`${MINIMAL}bogus: 1\n`)).toEqual([`${file}:5:1: unknown key "bogus"`]);
  });

  it('suggests the known key a nested typo is close to', async () => {
    expect(await problemsOf(`${MINIMAL}  instnaces: 3\n`)).toEqual([
      `${file}:5:3: fleet: unknown key "instnaces" (did you mean "instances"?)`,
    ]);
  });

  it('names where a key belongs when it is indented at the wrong level', async () => {
    expect(await problemsOf(`${MINIMAL}instances: 3\n`)).toEqual([
      `${file}:5:1: unknown key "instances" (did you mean fleet.instances?)`,
    ]);
  });

  it('reports a wrong type with the value found', async () => {
    expect(await problemsOf(`${MINIMAL}  instances: three\n`)).toEqual([
      `${file}:5:14: fleet.instances: expected a number, got string "three"`,
    ]);
  });

  it('reports a malformed duration', async () => {
    expect(await problemsOf(`${MINIMAL}  startTimeout: 5 mins\n`)).toEqual([
      `${file}:5:17: fleet.startTimeout: expected a duration such as 500ms, 5s, 5m or 1h, got "5 mins"`,
    ]);
  });

  it('reports store retention problems at their place', async () => {
    const store = `${MINIMAL}store:\n  url: sqlite:state.db\n  retention:\n`;
    expect(await problemsOf(`${store}    releases: 0d\n    measurment: 2d\n`)).toEqual([
      `${file}:8:15: store.retention.releases: must be at least 1h, got "0d"`,
      `${file}:9:5: store.retention: unknown key "measurment" (did you mean "measurements"?)`,
    ]);
    expect(await problemsOf(`${MINIMAL}store: mysql://db\n`)).toEqual([
      `${file}:5:8: store: expected sqlite:PATH or postgres://..., got "mysql://db"`,
    ]);
    expect(await problemsOf(`${MINIMAL}store: [sqlite:x.db]\n`)).toEqual([
      `${file}:5:8: store: expected sqlite:PATH, postgres://... or {url: ..., retention: ...}, got a list`,
    ]);
  });

  it('reports a weight outside 0-100', async () => {
    expect(await problemsOf(`${MINIMAL}strategy:\n  steps:\n    - setWeight: 150\n`)).toEqual([
      `${file}:7:18: strategy.steps[0].setWeight: weight must be between 0 and 100, got 150`,
    ]);
  });

  it('reports a percentage out of range with the range, however it is written', async () => {
    const triggers =
      'rollback:\n  triggers:\n    - { metric: error_rate, above: 500% }\n    - { metric: error_rate, above: 500 }\n';
    expect(await problemsOf(MINIMAL + triggers)).toEqual([
      `${file}:7:36: rollback.triggers[0].above: a percentage is between 0% and 100%, got "500%"`,
      `${file}:8:36: rollback.triggers[1].above: a percentage is between 0% and 100%, got 500`,
    ]);
  });

  it('lists the accepted kinds for an unknown or missing kind', async () => {
    const fleet = 'service: web\nfleet:\n  kind: docker\n  command: node app.js\n';
    expect(await problemsOf(`${fleet}traffic: { kind: haproxy }\n`)).toEqual([
      `${file}:3:9: fleet.kind: unknown kind "docker"; the accepted kinds are local, hooks`,
      `${file}:5:18: traffic.kind: unknown kind "haproxy"; the accepted kinds are proxy, nginx`,
    ]);
    expect(await problemsOf(`${MINIMAL}metrics: { kind: 5 }\n`)).toEqual([
      `${file}:5:18: metrics.kind: the accepted kinds are builtin, prometheus, nginx-log, got number 5`,
    ]);
    expect(await problemsOf('service: web\nfleet:\n  command: node app.js\n')).toEqual([
      `${file}:2:1: fleet.kind: required, one of local, hooks`,
    ]);
  });

  it('reports a missing service at the root mapping', async () => {
    expect(await problemsOf('fleet:\n  kind: local\n  command: node app.js\n')).toEqual([
      `${file}:1:1: service: required`,
    ]);
  });

  it('lists the accepted forms for a step that is neither', async () => {
    const steps = 'strategy:\n  steps:\n    - setWeight: 10\n    - pause: 1m\n    - rollout: 50\n';
    expect(await problemsOf(MINIMAL + steps)).toEqual([
      `${file}:9:7: strategy.steps[2]: expected {setWeight: N} or {pause: DURATION} or {pause: {}}`,
    ]);
  });

  it('lists the accepted forms for a trigger that is neither, with a suggestion', async () => {
    expect(await problemsOf(`${MINIMAL}rollback:\n  triggers:\n    - helth: failed\n`)).toEqual([
      `${file}:7:7: rollback.triggers[0]: expected {metric: NAME, above: THRESHOLD} or {health: failed}; ` +
        'did you mean "health" instead of "helth"?',
    ]);
  });

  it('reports the matching form of a union by its own rule', async () => {
    const triggers = 'rollback:\n  triggers:\n    - metric: error_rate\n      above: 5 %\n';
    expect(await problemsOf(MINIMAL + triggers)).toEqual([
      `${file}:8:14: rollback.triggers[0].above: expected a percentage such as 5%, got "5 %"`,
    ]);
  });

  it('reports a YAML syntax error', async () => {
    expect(await problemsOf('service: web\nfleet: {kind: local\n')).toEqual([
      `${file}:3:1: invalid YAML: flow map in block collection must be sufficiently indented and end with a }`,
    ]);
  });

  it('reports a duplicate key', async () => {
    expect(await problemsOf(`service: web\n${MINIMAL}`)).toEqual([`${file}:2:1: duplicate key "service"`]);
  });

  it('reports a root that is not a mapping', async () => {
    expect(await problemsOf('- web\n')).toEqual([
      `${file}:1:1: expected a mapping of keys such as "service:" at the top level, got a list`,
    ]);
  });

  it('reports a command that is not in PATH', async () => {
    const text = 'service: web\nfleet:\n  kind: local\n  command: [shipcheck-no-such-program, app.js]\n';
    expect(await problemsOf(text)).toEqual([
      `${file}:4:13: fleet.command: "shipcheck-no-such-program" was not found in PATH`,
    ]);
  });

  it('reports an nginx binary that is not in PATH', async () => {
    const text = `${MINIMAL}traffic:\n  kind: nginx\n  upstream: app\n  upstreamFile: up.conf\n  nginxConfig: nginx.conf\n  nginxBinary: shipcheck-no-nginx\nmetrics: { kind: nginx-log, accessLog: access.log }\n`;
    expect(await problemsOf(text)).toEqual([
      `${file}:10:16: traffic.nginxBinary: "shipcheck-no-nginx" was not found in PATH`,
    ]);
  });

  it('reports a relative command that does not exist, and a missing cwd', async () => {
    expect(await problemsOf('service: web\nfleet:\n  kind: local\n  command: ./start --fast\n')).toEqual([
      `${file}:4:12: fleet.command: ${path.join(dir, 'start')} does not exist`,
    ]);
    expect(await problemsOf(`${MINIMAL}  cwd: app\n`)).toEqual([
      `${file}:5:8: fleet.cwd: ${path.join(dir, 'app')} does not exist`,
    ]);
  });

  it('does not second-guess a command that uses shell syntax', async () => {
    await writeFile(file, 'service: web\nfleet:\n  kind: local\n  command: cd app && ./start\n');
    await expect(loadConfig(file)).resolves.toBeDefined();
  });

  it('reports the API and the proxy on the same address', async () => {
    expect(await problemsOf(`${MINIMAL}server:\n  listen: 8080\n`)).toEqual([
      `${file}:6:11: server.listen: 8080 clashes with traffic.listen 127.0.0.1:8080 (the default); ` +
        'the proxy and the API need different ports',
    ]);
  });

  it('reports several problems at once, sorted by position', async () => {
    const text = [
      'service: Web App',
      'fleet:',
      '  kind: local',
      '  command: node app.js',
      '  stopTimeout: 30',
      'strategy:',
      '  steps:',
      '    - setWeight: ten',
      'bogus: true',
      '',
    ].join('\n');
    expect(await problemsOf(text)).toEqual([
      `${file}:1:10: service: a service name uses lowercase letters, digits and dashes, got "Web App"`,
      `${file}:5:16: fleet.stopTimeout: expected a duration such as 500ms, 5s, 5m or 1h, got number 30`,
      `${file}:8:18: strategy.steps[0].setWeight: expected a number, got string "ten"`,
      `${file}:9:1: unknown key "bogus"`,
    ]);
  });

  it('reports a missing file with the way to create one', async () => {
    const missing = path.join(dir, 'nope.yaml');
    await expect(loadConfig(missing)).rejects.toMatchObject({
      problems: [`${missing}: no such file; run "shipcheck init" to write one`],
    });
  });

  it('prints the path as the user gave it', async () => {
    await writeFile(file, `${MINIMAL}bogus: 1\n`);
    const relative = path.relative(process.cwd(), file);
    await expect(loadConfig(relative)).rejects.toMatchObject({
      problems: [`${relative}:5:1: unknown key "bogus"`],
    });
  });
});

describe('loadConfig: good files', () => {
  it('fills every default into a minimal file', async () => {
    await writeFile(file, MINIMAL);
    const loaded = await loadConfig(file);
    expect(loaded.file).toBe(file);
    expect(loaded.dir).toBe(dir);
    expect(loaded.config).toEqual({
      service: 'web',
      store: {
        url: 'sqlite:.shipcheck/state.db',
        retention: {
          measurements: 14 * 86_400_000,
          releases: 365 * 86_400_000,
          events: 365 * 86_400_000,
          interval: 3_600_000,
          batchSize: 500,
        },
      },
      server: {
        listen: '127.0.0.1:7070',
        leaseTtl: 10_000,
        hosts: [],
        auth: {
          required: true,
          session: { idle: 30 * 60_000, absolute: 12 * 3_600_000 },
          protectedEnvironments: ['production'],
          mfaFreshFor: 5 * 60_000,
          lockout: { attempts: 5, for: 15 * 60_000 },
        },
        shutdownTimeout: 30_000,
      },
      fleet: {
        kind: 'local',
        command: 'node app.js',
        env: {},
        instances: 3,
        canaryInstances: 1,
        startTimeout: 30_000,
        stopTimeout: 10_000,
        health: { path: '/healthz', interval: 2000, timeout: 1000, unhealthyAfter: 3 },
      },
      traffic: {
        kind: 'proxy',
        listen: '127.0.0.1:8080',
        keepAliveTimeout: 75_000,
        headersTimeout: 60_000,
        requestTimeout: 300_000,
        forceFrom: [],
      },
      metrics: { kind: 'builtin' },
      strategy: {
        steps: [{ setWeight: 10 }, { pause: 60_000 }, { setWeight: 50 }, { pause: 60_000 }],
        bakeTime: 0,
      },
      analysis: { interval: 5000, inconclusiveLimit: 5, onInconclusive: 'pause' },
      rollback: { triggers: [], keepPreviousFor: 600_000, migrations: 'keep' },
      checklist: { template: 'none', vars: {} },
      maintenance: { certMinDays: 21, timezone: 'UTC', schedules: {}, notify: [] },
      baseline: {
        tolerance: { latencyP99: 0.2, throughput: -0.2, errorRate: 0.01, cpuPer1k: 0.25, memory: 0.25 },
        comparableLoad: 0.5,
        minWindow: 30_000,
        minRequests: 500,
      },
      channels: [],
      oncall: { schedules: [], escalationPolicies: [] },
    });
    expect(resolveStorePath(loaded)).toBe(path.join(dir, '.shipcheck', 'state.db'));
  });

  it('turns percentages into fractions and latencies into milliseconds', async () => {
    const triggers = [
      'rollback:',
      '  triggers:',
      '    - {metric: error_rate, above: 5%, for: 5m}',
      '    - {metric: latency_p99, above: 2s}',
      '    - {health: failed}',
      '',
    ].join('\n');
    await writeFile(file, MINIMAL + triggers);
    const { config } = await loadConfig(file);
    expect(config.rollback.triggers).toEqual([
      { metric: 'error_rate', above: 0.05, window: 60_000, for: 300_000, minRequests: 10 },
      { metric: 'latency_p99', above: 2000, window: 60_000, for: 0, minRequests: 10 },
      { health: 'failed' },
    ]);
  });

  it('accepts an argv command, and a relative executable found from fleet.cwd', async () => {
    await writeFile(file, 'service: web\nfleet:\n  kind: local\n  command: [node, app.js]\n');
    expect((await loadConfig(file)).config.fleet).toMatchObject({ command: ['node', 'app.js'] });

    await mkdir(path.join(dir, 'app'));
    await writeFile(path.join(dir, 'app', 'start'), '#!/bin/sh\nexec node app.js\n');
    await chmod(path.join(dir, 'app', 'start'), 0o755);
    await writeFile(file, 'service: web\nfleet:\n  kind: local\n  cwd: app\n  command: [./start, --fast]\n');
    expect((await loadConfig(file)).config.fleet.cwd).toBe('app');
  });

  it('gives two environments one proxy address only when the OS picks the port (port 0)', async () => {
    const environments = (listen: string): string =>
      `${MINIMAL}traffic: { kind: proxy, listen: "${listen}" }\nenvironments:\n  staging: {}\n  production: {}\n`;
    await writeFile(file, environments('127.0.0.1:0'));
    const one = await loadInstallation(file);
    expect(one.services[0]?.environments.map((e) => e.name)).toEqual(['staging', 'production']);
    await writeFile(file, environments('127.0.0.1:8080'));
    const error = await loadInstallation(file).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      `${file}:5:25: traffic.listen 127.0.0.1:8080 of web@production is also the proxy address of web@staging at ${file}:5:25; give each its own`,
    ]);
  });

  it('leaves a postgres store URL alone', async () => {
    await writeFile(file, `${MINIMAL}store: postgres://shipcheck@db/shipcheck\n`);
    expect(resolveStorePath(await loadConfig(file))).toBe('postgres://shipcheck@db/shipcheck');
  });

  it('reads store as a URL or as {url, retention}, with retention off or partly written', async () => {
    await writeFile(file, `${MINIMAL}store:\n  url: sqlite:state.db\n  retention:\n    measurements: 2d\n`);
    const loaded = await loadConfig(file);
    expect(resolveStorePath(loaded)).toBe(path.join(dir, 'state.db'));
    expect(loaded.config.store.retention).toEqual({
      measurements: 2 * 86_400_000,
      releases: 365 * 86_400_000,
      events: 365 * 86_400_000,
      interval: 3_600_000,
      batchSize: 500,
    });
    await writeFile(file, `${MINIMAL}store: { url: sqlite:state.db, retention: false }\n`);
    expect((await loadConfig(file)).config.store.retention).toBeNull();
  });
});

describe('starter config, init and validate', () => {
  const io = () => {
    const lines: string[] = [];
    return { lines, out: (line: string) => void lines.push(line) };
  };

  it('STARTER_CONFIG loads and spells out the seed rollback rules', async () => {
    await writeFile(file, STARTER_CONFIG);
    await writeFile(path.join(dir, 'app.js'), '');
    const { config } = await loadConfig(file);
    expect(config.strategy.steps).toEqual([
      { setWeight: 10 },
      { pause: 300_000 },
      { setWeight: 50 },
      { pause: 300_000 },
      { setWeight: 100 },
    ]);
    expect(config.rollback.triggers).toEqual([
      { metric: 'error_rate', above: 0.05, window: 60_000, for: 300_000, minRequests: 10 },
      { metric: 'latency_p99', above: 2000, window: 60_000, for: 0, minRequests: 10 },
      { health: 'failed' },
    ]);
  });

  it('init writes the starter and refuses to overwrite without --force', async () => {
    const out = io();
    expect(await initCommand({ config: file }, out)).toBe(0);
    expect(await readFile(file, 'utf8')).toBe(STARTER_CONFIG);
    await expect(initCommand({ config: file }, out)).rejects.toThrow(
      new InputError(`${file} already exists; pass --force to overwrite`),
    );
    expect(await initCommand({ config: file, force: true }, out)).toBe(0);
  });

  it('validate prints a one-line summary', async () => {
    await writeFile(file, STARTER_CONFIG);
    const out = io();
    expect(await validateCommand({ config: file }, out)).toBe(0);
    expect(out.lines).toEqual([`${file}: ok (service my-app, 5 steps, 3 triggers, 75 checklist items)`]);
  });
});

describe('loadConfig: fleet.kind hooks', () => {
  const HOOKS = [
    'service: web',
    'fleet:',
    '  kind: hooks',
    '  cwd: deploy',
    '  hooks:',
    '    start: ./start.sh',
    '    stop: [./stop.sh]',
    '    list: ./list.sh --json',
    '    timeout: 30s',
    '',
  ].join('\n');

  /** Writes the three hook scripts into `deploy/`, executable, except those named in `skip`. */
  async function writeHooks(skip: string[] = []): Promise<void> {
    await mkdir(path.join(dir, 'deploy'));
    for (const name of ['start.sh', 'stop.sh', 'list.sh']) {
      if (skip.includes(name)) continue;
      await writeFile(path.join(dir, 'deploy', name), '#!/bin/sh\n');
      await chmod(path.join(dir, 'deploy', name), 0o755);
    }
  }

  it('loads the three hooks, a string or an argv array each, and the timeout in milliseconds', async () => {
    await writeHooks();
    await writeFile(file, HOOKS);
    expect((await loadConfig(file)).config.fleet).toMatchObject({
      kind: 'hooks',
      cwd: 'deploy',
      hooks: { start: './start.sh', stop: ['./stop.sh'], list: './list.sh --json', timeout: 30_000 },
      instances: 3,
      health: { path: '/healthz' },
    });
  });

  it('reports a start hook whose executable does not exist, at the hook', async () => {
    await writeHooks(['start.sh']);
    expect(await problemsOf(HOOKS)).toEqual([
      `${file}:6:12: fleet.hooks.start: ${path.join(dir, 'deploy', 'start.sh')} does not exist`,
    ]);
  });

  it('reports a missing list hook as a schema problem with its place', async () => {
    await writeHooks();
    // Placed at the `hooks:` key, the mapping that lacks it.
    expect(await problemsOf(HOOKS.replace('    list: ./list.sh --json\n', ''))).toEqual([
      `${file}:5:3: fleet.hooks.list: required`,
    ]);
  });
});
