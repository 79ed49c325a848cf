import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanUpAfterEach, onCleanup, send, startUpstream } from '../../../../test/support/proxy.js';
import { freePort } from '../../../util/net.js';
import { isSameProcess, processStartTime } from '../../fleet/local/process-identity.js';
import type { Instance, InstanceState } from '../../fleet/types.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import { runTrafficRouterContract, VersionApps } from '../traffic-router.case.js';
import type { UpstreamSource } from '../types.js';
import { ControlClient } from './control-client.js';
import { ProcessProxyRouter } from './process-proxy-router.js';
import { DEFAULT_PROXY_TIMEOUTS } from './proxy-router.js';
import { proxyPaths, readProxyState } from './proxy-state.js';

/** Upper bound for any condition the tests wait on; they poll, they never assert durations. */
const WAIT_LIMIT_MS = 20_000;
const MINUTE_MS = 60_000;

cleanUpAfterEach();

/** Every proxy process a test started, stopped by pid after each test whatever happened. */
const started = new Set<{ pid: number; startTime: string }>();
afterEach(() => {
  for (const process_ of started) {
    if (isSameProcess(process_.pid, process_.startTime)) process.kill(process_.pid, 'SIGKILL');
  }
  started.clear();
});

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A fleet as the router sees it: ready addresses and instances the test sets. */
class FakeFleet {
  readonly ready = new Map<string, string[]>();
  readonly list: Instance[] = [];
  readonly upstreams: UpstreamSource = (version) => this.ready.get(version) ?? [];

  add(version: string, address: string, state: InstanceState): Instance {
    const instance: Instance = {
      id: `web-${version}-${this.list.length}`,
      version,
      index: this.list.length,
      address,
      pid: undefined,
      state,
      healthFailures: 0,
      failedChecks: 0,
      restarts: 0,
      lastError: undefined,
      exitCode: undefined,
      logFile: undefined,
    };
    this.list.push(instance);
    return instance;
  }
}

function tempInstallation(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-proxyproc-'));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, '.shipcheck');
}

/** A ProcessProxyRouter for `fleet` in `shipcheckDir`, started, and its process remembered for cleanup. */
async function startRouter(
  shipcheckDir: string,
  fleet: FakeFleet,
  options: {
    listen?: string;
    metrics?: RequestMetrics;
    forceToken?: string;
    metricsIntervalMs?: number;
  } = {},
): Promise<ProcessProxyRouter> {
  const router = new ProcessProxyRouter({
    unit: 'web',
    listen: options.listen ?? '127.0.0.1:0',
    timeouts: DEFAULT_PROXY_TIMEOUTS,
    forceToken: options.forceToken,
    shipcheckDir,
    upstreams: fleet.upstreams,
    instances: () => fleet.list,
    metrics: options.metrics ?? new RequestMetrics(),
    pushIntervalMs: 20,
    metricsIntervalMs: options.metricsIntervalMs ?? 50,
  });
  await router.start();
  started.add(router.process!);
  onCleanup(() => router.detach());
  return router;
}

function statusOf(shipcheckDir: string): ReturnType<ControlClient['status']> {
  const client = new ControlClient(proxyPaths(shipcheckDir, 'web').socket);
  onCleanup(() => client.close());
  return client.status();
}

describe('ProcessProxyRouter', () => {
  let agent: http.Agent;
  beforeAll(() => {
    agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  });
  afterAll(() => agent.destroy());

  it('runs the proxy in its own process and pushes the route and the ready addresses to it', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    const router = await startRouter(dir, fleet);
    expect(router.process!.pid).not.toBe(process.pid);

    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    expect((await send(agent, router.address())).body).toBe('v1');
    const status = await statusOf(dir);
    expect(status).toMatchObject({
      pid: router.process!.pid,
      route: { stable: 'v1', weight: 0 },
      upstreams: { v1: [v1.address] },
      pushed: true,
    });
    // The state file is private to its owner, in a private folder.
    const { stateFile } = proxyPaths(dir, 'web');
    expect(fs.statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(stateFile)).mode & 0o777).toBe(0o700);
    // The control routes have no roles of their own: only this user may open the socket.
    const { socket } = proxyPaths(dir, 'web');
    expect(fs.statSync(socket).isSocket()).toBe(true);
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);

    // A readiness change is pushed without a new setRoute.
    const v1b = await startUpstream('v1b');
    fleet.ready.set('v1', [v1.address, v1b.address]);
    await waitFor('the new address pushed', async () => (await statusOf(dir)).upstreams.v1?.length === 2);
  });

  it('pulls the requests the proxy process recorded into the control plane’s RequestMetrics', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    const metrics = new RequestMetrics();
    const router = await startRouter(dir, fleet, { metrics });
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    for (let i = 0; i < 40; i++) expect((await send(agent, router.address())).status).toBe(200);
    await waitFor('40 requests pulled', () => metrics.window('v1', MINUTE_MS).requests === 40);
    expect(metrics.window('v1', MINUTE_MS).byClass['2xx']).toBe(40);
    expect(metrics.window('v1', MINUTE_MS).p50).toBeGreaterThanOrEqual(0);
  });

  it('forces a version only with the process’s token, keeps forced requests out of analysis, and keeps the token across adoption', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    fleet.ready.set('v2', [v2.address]);
    const metrics = new RequestMetrics();
    const first = await startRouter(dir, fleet, { listen: `127.0.0.1:${await freePort()}`, metrics });
    await first.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });
    const listen = readProxyState(proxyPaths(dir, 'web').stateFile)!.listen;
    // Given no configured token, the process drew its own, which the control plane's headers carry
    const headers = first.forceHeaders('canary');
    expect(headers['X-Shipcheck-Force-Token']).toMatch(/^[\w-]{40,}$/);
    // The state file never holds it
    expect(fs.readFileSync(proxyPaths(dir, 'web').stateFile, 'utf8')).not.toContain(
      headers['X-Shipcheck-Force-Token'],
    );
    // A client without it goes by weight
    const plain = await send(agent, first.address(), { headers: { 'X-Shipcheck-Version': 'canary' } });
    expect(plain.body).toBe('v1');
    // With it, the request is forced, and recorded apart from the window analysis reads
    for (let i = 0; i < 5; i++) expect((await send(agent, first.address(), { headers })).body).toBe('v2');
    await waitFor('5 forced requests pulled', () => metrics.forcedWindow('v2', MINUTE_MS).requests === 5);
    expect(metrics.window('v2', MINUTE_MS).requests).toBe(0);
    expect(metrics.window('v1', MINUTE_MS).requests).toBe(1);

    // When the next control plane adopts the process, it uses the token the process holds
    await first.detach();
    const second = await startRouter(dir, fleet, { listen });
    expect(second.forceHeaders('canary')).toEqual(headers);
    const adoptedPid = second.process!.pid;
    // And a configured token that differs replaces the process
    await second.detach();
    const third = await startRouter(dir, fleet, { listen, forceToken: 'a-configured-force-token' });
    expect(third.process!.pid).not.toBe(adoptedPid);
    expect(third.forceHeaders('stable')).toEqual({
      'X-Shipcheck-Version': 'stable',
      'X-Shipcheck-Force-Token': 'a-configured-force-token',
    });
  });

  it('refreshes the metrics on demand, so analysis reads every request the proxy has answered', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    const metrics = new RequestMetrics();
    // Given a router whose periodic pull never comes round during the test
    const router = await startRouter(dir, fleet, { metrics, metricsIntervalMs: 10 * MINUTE_MS });
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    for (let i = 0; i < 7; i++) expect((await send(agent, router.address())).status).toBe(200);
    expect(metrics.window('v1', MINUTE_MS).requests).toBe(0);
    // When analysis asks for fresh figures, it gets every answered request
    await router.refreshMetrics();
    expect(metrics.window('v1', MINUTE_MS).requests).toBe(7);
    expect((await send(agent, router.address())).status).toBe(200);
    await router.refreshMetrics();
    expect(metrics.window('v1', MINUTE_MS).requests).toBe(8);
  });

  it('forwards drain and in-flight queries to the proxy process', async () => {
    const dir = tempInstallation();
    let finish: () => void = () => undefined;
    const slow = await startUpstream('slow', (_req, res) => {
      finish = () => res.end('slow');
    });
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [slow.address]);
    const router = await startRouter(dir, fleet);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const reply = send(agent, router.address());
    await waitFor('a request in flight', async () => (await router.inflight(slow.address)) === 1);

    fleet.ready.set('v1', []);
    let drained = false;
    const drain = router.drain(slow.address, WAIT_LIMIT_MS).then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(drained).toBe(false);
    finish();
    await drain;
    expect((await reply).body).toBe('slow');
    expect(await router.inflight(slow.address)).toBe(0);
  });

  it('is adopted by the next router with the same settings, which keeps serving and counts what it served meanwhile', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    const first = await startRouter(dir, fleet, { listen: `127.0.0.1:${await freePort()}` });
    await first.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const { pid } = first.process!;
    const listen = readProxyState(proxyPaths(dir, 'web').stateFile)!.listen;
    const address = first.address();

    // When the control plane goes away without stopping it, the proxy serves on
    await first.detach();
    for (let i = 0; i < 10; i++) expect((await send(agent, address)).body).toBe('v1');

    // Then the next one adopts the same process; the requests served meanwhile count
    const metrics = new RequestMetrics();
    const adopted = new FakeFleet();
    const instance = adopted.add('v1', v1.address, 'starting');
    const second = await startRouter(dir, adopted, { listen, metrics });
    expect(second.process!.pid).toBe(pid);
    expect(await second.currentRoute()).toEqual({ stable: 'v1', canary: undefined, weight: 0 });
    await waitFor('10 requests pulled', () => metrics.window('v1', MINUTE_MS).requests === 10);

    // And the adopted instance keeps its traffic while its first health check is pending
    await second.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    expect((await statusOf(dir)).upstreams).toEqual({ v1: [v1.address] });
    expect((await send(agent, second.address())).body).toBe('v1');
    // Until that check fails
    instance.healthFailures = 1;
    await waitFor(
      'the failed instance withdrawn',
      async () => (await statusOf(dir)).upstreams.v1?.length === 0,
    );
    expect((await send(agent, second.address())).status).toBe(503);
  });

  it('leaves alone a proxy process that another running control plane drives', async () => {
    const dir = tempInstallation();
    const fleet = new FakeFleet();
    const first = await startRouter(dir, fleet);
    const { pid } = first.process!;
    const address = first.address();
    await first.detach();
    // Given a live process that claimed it (a control plane elsewhere)
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    onCleanup(() => void other.kill('SIGKILL'));
    const client = new ControlClient(proxyPaths(dir, 'web').socket);
    onCleanup(() => client.close());
    await client.claim({ pid: other.pid!, startTime: processStartTime(other.pid!)! });

    // When another router starts, it refuses, naming it, and the proxy runs on
    const second = new ProcessProxyRouter({
      unit: 'web',
      listen: '127.0.0.1:0',
      timeouts: DEFAULT_PROXY_TIMEOUTS,
      shipcheckDir: dir,
      upstreams: () => [],
      instances: () => [],
      metrics: new RequestMetrics(),
    });
    await expect(second.start()).rejects.toThrow(
      `traffic.listen 127.0.0.1:0: address already in use by the proxy process ${pid} of a running shipcheck up (pid ${other.pid})`,
    );
    expect(readProxyState(proxyPaths(dir, 'web').stateFile)?.pid).toBe(pid);
    expect((await send(agent, address)).status).toBe(503);

    // Once that one lets go, it is adopted
    await client.letGo();
    const third = await startRouter(dir, fleet);
    expect(third.process!.pid).toBe(pid);
  });

  it('replaces a live process whose listen address changed, and stops its process on close', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    const first = await startRouter(dir, fleet);
    const old = first.process!;
    await first.detach();

    const listen = `127.0.0.1:${await freePort()}`;
    const second = await startRouter(dir, fleet, { listen });
    expect(second.process!.pid).not.toBe(old.pid);
    expect(isSameProcess(old.pid, old.startTime)).toBe(false);
    expect(second.address()).toBe(listen);
    await second.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    expect((await send(agent, listen)).body).toBe('v1');

    const now = second.process!;
    await second.close();
    expect(isSameProcess(now.pid, now.startTime)).toBe(false);
    expect(fs.existsSync(proxyPaths(dir, 'web').stateFile)).toBe(false);
  });

  it('starts a new proxy process when its process dies', async () => {
    const dir = tempInstallation();
    const v1 = await startUpstream('v1');
    const fleet = new FakeFleet();
    fleet.ready.set('v1', [v1.address]);
    const router = await startRouter(dir, fleet);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const first = router.process!;
    process.kill(first.pid, 'SIGKILL');
    await waitFor(
      'a new proxy process',
      () => router.process !== undefined && router.process.pid !== first.pid,
    );
    started.add(router.process!);
    await waitFor(
      'the route pushed to it',
      async () => (await statusOf(dir).catch(() => undefined))?.pushed === true,
    );
    expect((await send(agent, router.address())).body).toBe('v1');
  });

  it('says why the proxy process could not start', async () => {
    const dir = tempInstallation();
    const taken = await startUpstream('taken');
    const router = new ProcessProxyRouter({
      unit: 'web',
      listen: taken.address,
      timeouts: DEFAULT_PROXY_TIMEOUTS,
      shipcheckDir: dir,
      upstreams: () => [],
      instances: () => [],
      metrics: new RequestMetrics(),
    });
    await expect(router.start()).rejects.toThrow(
      new RegExp(
        `proxy process of web \\(traffic.listen ${taken.address}\\) exited .*address already in use`,
      ),
    );
  });
});

describe('ProcessProxyRouter as a TrafficRouter', () => {
  let router: ProcessProxyRouter | undefined;
  let apps: VersionApps | undefined;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-proxyproc-'));
    apps = await VersionApps.start();
    router = new ProcessProxyRouter({
      unit: 'web',
      listen: '127.0.0.1:0',
      timeouts: DEFAULT_PROXY_TIMEOUTS,
      shipcheckDir: path.join(dir, '.shipcheck'),
      upstreams: apps.upstreams,
      instances: () => [],
      metrics: new RequestMetrics(),
    });
    await router.start();
  });
  afterAll(async () => {
    await router?.close();
    await apps?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  runTrafficRouterContract('proxy process', {
    harness: () => ({ router: router!, address: router!.address(), apps: apps! }),
  });
});
