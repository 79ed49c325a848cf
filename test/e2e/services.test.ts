/**
 * One `shipcheck up` for three services: two local fleets and a hooks fleet, each behind its own
 * built-in proxy. A bad release of one is rolled back while the others go on untouched; a reload
 * adds, changes and removes services without a restart, and never takes away a release in flight.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';
import { authorized, loginAsAdmin } from '../support/auth.js';
import { killProxyProcesses } from '../support/proxy-process.js';
import { BIN, ROOT, type CliResult, runCli, waitFor } from './harness.js';

const SAMPLE_APP = path.join(ROOT, 'examples', 'app', 'server.js');
const HOOKS = path.join(ROOT, 'examples', 'hooks');

interface ServiceRow {
  name: string;
  service: string;
  stable: string | null;
  release: { id: number; version: string; state: string; reason: string | null } | null;
}

let dir: string;
let apiUrl: string;
let server: ChildProcess | undefined;
let serverLog = '';
/** The API token every request and CLI run sends, made when the control plane first starts. */
let token: string;
const proxies: Record<string, string> = {};

/** A service file: the sample app behind its own proxy; `faults` per version as SAMPLE_FAULTS reads them. */
function serviceFile(name: string, port: number, fleet: string, extra = ''): string {
  return `service: ${name}
${fleet}
traffic: { kind: proxy, listen: 127.0.0.1:${port} }
strategy:
  steps: [{setWeight: 20}, {pause: 1s}, {setWeight: 50}, {pause: 1s}]
analysis:
  interval: 250ms
  inconclusiveLimit: 400
  syntheticLoad: { rps: 40, path: / }
rollback:
  triggers: [{metric: error_rate, above: 5%, window: 5s, minRequests: 5}]
${extra}`;
}

function localFleet(faults: Record<string, unknown> = {}): string {
  return `fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}", "${dir}"]
  instances: 1
  startTimeout: 15s
  stopTimeout: 3s
  env: { SAMPLE_FAULTS: ${JSON.stringify(JSON.stringify(faults))} }
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }`;
}

function hooksFleet(): string {
  return `fleet:
  kind: hooks
  hooks: { start: ${HOOKS}/start.sh, stop: ${HOOKS}/stop.sh, list: ${HOOKS}/list.sh }
  instances: 1
  startTimeout: 20s
  env: { SHIPCHECK_HOOKS_STATE: "${dir}/hooks-state" }
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }`;
}

function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { cwd: dir, env: { SHIPCHECK_TOKEN: token } });
}

async function services(query = ''): Promise<ServiceRow[]> {
  const res = await api(`/api/v1/services${query}`);
  return ((await res.json()) as { services: ServiceRow[] }).services;
}

/** fetch of `path` on the API, with the token. */
function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${apiUrl}${path}`, { ...init, headers: authorized(token) });
}

async function release(name: string): Promise<ServiceRow['release']> {
  return (await services()).find((s) => s.name === name)?.release ?? null;
}

async function waitForState(name: string, version: string, state: string): Promise<void> {
  await waitFor(`${name} ${version} ${state}`, async () => {
    const r = await release(name);
    return r?.version === version && r.state === state;
  });
}

/** The events one SSE stream replays, read until `count` arrived. */
async function streamedServices(query: string, count: number): Promise<string[]> {
  const controller = new AbortController();
  // Bounded: a stream that stays short fails the count below instead of the test's timeout.
  const timer = setTimeout(() => controller.abort(), 10_000);
  const res = await api(`/api/v1/events${query}`, { signal: controller.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const seen: string[] = [];
  while (seen.length < count) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const blocks = text.split('\n\n');
    text = blocks.pop() ?? '';
    for (const block of blocks) {
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (data) seen.push((JSON.parse(data.slice(6)) as { service: string }).service);
    }
  }
  clearTimeout(timer);
  controller.abort();
  return seen;
}

/** Processes started for this test: the folder is in their argv (local) or their state path (hooks). */
function ourProcesses(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(dir) && cmdline.includes(SAMPLE_APP.split('/').slice(-2).join('/')))
        pids.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-services-'));
  fs.mkdirSync(path.join(dir, 'services'));
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  fs.writeFileSync(
    path.join(dir, 'shipcheck.yaml'),
    `server: { listen: 127.0.0.1:${apiPort} }\nservices: [services/*.yaml]\n`,
  );
  for (const name of ['web', 'api', 'jobs', 'extra']) proxies[name] = `127.0.0.1:${await freePort()}`;
  const port = (name: string): number => Number(proxies[name]!.split(':')[1]);
  fs.writeFileSync(
    path.join(dir, 'services', 'web.yaml'),
    serviceFile('web', port('web'), localFleet({ v2: { errorRate: 1 } })),
  );
  fs.writeFileSync(path.join(dir, 'services', 'api.yaml'), serviceFile('api', port('api'), localFleet()));
  fs.writeFileSync(path.join(dir, 'services', 'jobs.yaml'), serviceFile('jobs', port('jobs'), hooksFleet()));

  server = spawn(process.execPath, [BIN, 'up'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor('shipcheck up', async () => {
    if (server?.exitCode !== null) throw new Error(`shipcheck up exited:\n${serverLog}`);
    return fetch(`${apiUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
  });
  token = await loginAsAdmin(apiUrl, () => serverLog);
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  for (const pid of ourProcesses()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  killProxyProcesses(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('one control plane, three services', () => {
  it('asks which service when there are several, and lists them all as a table', async () => {
    const ambiguous = await cli('deploy', 'v1');
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('shipcheck.yaml runs 3 services (api, jobs, web); pass -s NAME');
    // A service the local files do not list is asked of the server, which says it does not run it.
    const unknown = await cli('status', '-s', 'nope');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown service "nope"');

    for (const name of ['web', 'api', 'jobs']) expect((await cli('deploy', 'v1', '-s', name)).code).toBe(0);
    for (const name of ['web', 'api', 'jobs']) await waitForState(name, 'v1', 'succeeded');
    const table = await cli('status');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SERVICE\s+STABLE\s+RELEASE\s+STATE/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 2))).toEqual([
      ['api', 'v1'],
      ['jobs', 'v1'],
      ['web', 'v1'],
    ]);
    const one = await cli('status', '-s', 'jobs', '--json');
    expect(JSON.parse(one.stdout)).toMatchObject({ service: 'jobs', stable: 'v1' });
  }, 120_000);

  it('rolls a bad release of one service back while another rolls out and the third is left alone', async () => {
    const jobsBefore = await (await fetch(`http://${proxies.jobs}/`)).text();
    const jobsRelease = await release('jobs');
    expect((await cli('deploy', 'v2', '-s', 'web')).code).toBe(0);
    expect((await cli('deploy', 'v2', '-s', 'api')).code).toBe(0);
    await waitForState('web', 'v2', 'rolled_back');
    await waitForState('api', 'v2', 'succeeded');
    const rows = await services();
    expect(rows.find((s) => s.name === 'web')).toMatchObject({ stable: 'v1' });
    expect((await release('web'))?.reason).toMatch(/error_rate/);
    expect(rows.find((s) => s.name === 'api')).toMatchObject({ stable: 'v2' });
    // jobs: the same release, still serving v1 through its own proxy.
    expect(rows.find((s) => s.name === 'jobs')).toMatchObject({ stable: 'v1', release: jobsRelease });
    expect(await (await fetch(`http://${proxies.jobs}/`)).text()).toBe(jobsBefore);
    expect(await (await fetch(`http://${proxies.web}/`)).text()).toContain('v1');
  }, 120_000);

  it('filters the event stream and service discovery by service', async () => {
    const streamed = await streamedServices('?service=api', 10);
    expect(streamed.length).toBeGreaterThanOrEqual(10);
    expect(new Set(streamed)).toEqual(new Set(['api']));
    const sd = (await (await api('/api/v1/sd/prometheus?service=jobs')).json()) as {
      labels: Record<string, string>;
    }[];
    expect(sd.length).toBeGreaterThan(0);
    expect(new Set(sd.map((group) => group.labels.service))).toEqual(new Set(['jobs']));
    expect((await api('/api/v1/events?service=nope')).status).toBe(404);
    const metrics = await (await api('/metrics')).text();
    expect(metrics).toMatch(/shipcheck_releases_total\{service="web",state="rolled_back"\} 1/);
    expect(metrics).toMatch(/shipcheck_releases_total\{service="api",state="succeeded"\} 2/);
  }, 60_000);

  it('reloads: adds a service, holds a change and a removal back while a release is in flight', async () => {
    const extraFile = path.join(dir, 'services', 'extra.yaml');
    const extra = (bake: string): string =>
      serviceFile('extra', Number(proxies.extra!.split(':')[1]), localFleet()).replace(
        'steps: [{setWeight: 20}, {pause: 1s}, {setWeight: 50}, {pause: 1s}]',
        `steps: [{setWeight: 20}, {pause: {}}]\n  bakeTime: ${bake}`,
      );
    fs.writeFileSync(extraFile, extra('0s'));
    const added = await cli('reload', '--json');
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ added: ['extra'], unchanged: ['api', 'jobs', 'web'] });

    expect((await cli('deploy', 'v1', '-s', 'extra')).code).toBe(0);
    await waitForState('extra', 'v1', 'succeeded');
    expect((await cli('deploy', 'v2', '-s', 'extra')).code).toBe(0);
    await waitFor('extra v2 held at its pause', async () => (await release('extra'))?.state === 'paused');

    // A change waits for the release; a removal is refused and changes nothing.
    fs.writeFileSync(extraFile, extra('1s'));
    const held = await cli('reload');
    expect(held.code).toBe(0);
    expect(held.stdout).toContain('held until their release ends: extra');
    fs.renameSync(extraFile, `${extraFile}.off`);
    const refused = await cli('reload');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/cannot remove extra \(release extra #\d+\) while a release is in flight/);
    expect((await services()).map((s) => s.name)).toContain('extra');

    // The release ends; the held change is applied, and then the removal goes through.
    const aborted = await cli('abort', '-s', 'extra');
    expect(aborted.stderr).toBe('');
    expect(aborted.code).toBe(0);
    await waitForState('extra', 'v2', 'aborted');
    await waitFor('the held change applied', () => serverLog.includes('extra now runs its new config'));
    const removed = await cli('reload', '--json');
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed: ['extra'] });
    expect((await services()).map((s) => s.name)).toEqual(['api', 'jobs', 'web']);
    await expect(fetch(`http://${proxies.extra}/`)).rejects.toThrow();
  }, 120_000);

  it('reloads on SIGHUP, and a broken file changes nothing', async () => {
    const file = path.join(dir, 'services', 'extra.yaml');
    fs.writeFileSync(file, 'service: extra\nfleet: 3\n');
    const broken = await cli('reload');
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('services/extra.yaml:2:8: fleet');
    fs.renameSync(`${file}.off`, file);
    server!.kill('SIGHUP');
    await waitFor('extra added by SIGHUP', async () => (await services()).some((s) => s.name === 'extra'));
    expect((await cli('status', '-s', 'extra', '--json')).code).toBe(0);
  }, 60_000);
});
