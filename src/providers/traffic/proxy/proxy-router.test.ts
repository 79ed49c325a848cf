import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEAD_UPSTREAM,
  cleanUpAfterEach,
  closeServer,
  onCleanup,
  send,
  startProxy,
  startUpstream,
  type Reply,
} from '../../../../test/support/proxy.js';
import { ProviderError } from '../../../errors.js';
import { ManualClock } from '../../../util/clock.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import { ProxyRouter, SERVED_BY_HEADER } from './proxy-router.js';
import { runTrafficRouterContract, VersionApps } from '../traffic-router.case.js';

const SERVED_BY = SERVED_BY_HEADER.toLowerCase();
const FORCE_TOKEN = 'a-test-force-token-0123456789';
const HOUR_MS = 3_600_000;
/** Upper bound on any load loop, so a broken proxy fails the test instead of hanging it. */
const LOAD_DEADLINE_MS = 30_000;

cleanUpAfterEach();

/** Sends `total` GETs over `concurrency` parallel clients; `after` runs once each request completes. */
async function load(
  agent: http.Agent,
  address: string,
  total: number,
  concurrency: number,
  after: (reply: Reply, completed: number) => void = () => {},
): Promise<void> {
  const deadline = Date.now() + LOAD_DEADLINE_MS;
  let issued = 0;
  let completed = 0;
  const worker = async (): Promise<void> => {
    while (issued < total && Date.now() < deadline) {
      issued++;
      const reply = await send(agent, address);
      after(reply, ++completed);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

describe('ProxyRouter', () => {
  it('splits by weight deterministically: within one request of exact', async () => {
    const stable = await startUpstream('stable');
    const canary = await startUpstream('canary');
    const ready = new Map([
      ['v1', [stable.address]],
      ['v2', [canary.address]],
    ]);
    const { router, address, agent } = await startProxy(ready);

    for (const weight of [10, 50]) {
      await router.setRoute({ stable: 'v1', canary: 'v2', weight });
      const served = { v1: 0, v2: 0 } as Record<string, number>;
      await load(agent, address, 1000, 8, (reply) => {
        expect(reply.status).toBe(200);
        served[String(reply.headers[SERVED_BY])]!++;
      });
      expect(served.v1! + served.v2!).toBe(1000);
      expect(Math.abs(served.v2! - weight * 10)).toBeLessThanOrEqual(1);
    }
    expect(await router.currentRoute()).toEqual({ stable: 'v1', canary: 'v2', weight: 50 });
  });

  it('sends everything to stable at weight 0 and to canary at weight 100', async () => {
    const stable = await startUpstream('stable');
    const canary = await startUpstream('canary');
    const { router, address, agent } = await startProxy(
      new Map([
        ['v1', [stable.address]],
        ['v2', [canary.address]],
      ]),
    );
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });
    for (let i = 0; i < 20; i++) expect((await send(agent, address)).body).toBe('stable');
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 100 });
    for (let i = 0; i < 20; i++) expect((await send(agent, address)).body).toBe('canary');
  });

  it('rejects a weight that is not an integer percent', async () => {
    const router = new ProxyRouter({ listen: '127.0.0.1:0', upstreams: () => [] });
    await expect(router.setRoute({ stable: 'v1', canary: 'v2', weight: 101 })).rejects.toThrow(/0 to 100/);
    await expect(router.setRoute({ stable: 'v1', canary: 'v2', weight: 2.5 })).rejects.toThrow(/0 to 100/);
  });

  it('lets the X-Shipcheck-Version header force the version when the request shows the force token', async () => {
    const stable = await startUpstream('stable');
    const canary = await startUpstream('canary');
    const ready = new Map([
      ['v1', [stable.address]],
      ['v2', [canary.address]],
    ]);
    const { router, address, agent } = await startProxy(ready, undefined, { forceToken: FORCE_TOKEN });
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });

    const forcedCanary = await send(agent, address, { headers: router.forceHeaders('canary') });
    expect(forcedCanary.body).toBe('canary');
    expect(forcedCanary.headers[SERVED_BY]).toBe('v2');

    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 100 });
    const forcedStable = await send(agent, address, {
      headers: { 'x-shipcheck-version': 'STABLE', 'x-shipcheck-force-token': FORCE_TOKEN },
    });
    expect(forcedStable.body).toBe('stable');
    expect(forcedStable.headers[SERVED_BY]).toBe('v1');

    // A forced version with no ready instance is not silently replaced by the other one.
    ready.set('v2', []);
    const unavailable = await send(agent, address, { headers: router.forceHeaders('canary') });
    expect(unavailable.status).toBe(503);
  });

  it('round-robins over the ready instances of a version', async () => {
    const instances = await Promise.all(['a', 'b', 'c'].map((name) => startUpstream(name)));
    const { router, address, agent } = await startProxy(new Map([['v1', instances.map((u) => u.address)]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const order: string[] = [];
    for (let i = 0; i < 9; i++) order.push((await send(agent, address)).body);
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('falls back to the other version when the chosen one has no ready instance, else answers 503', async () => {
    const stable = await startUpstream('stable');
    const ready = new Map([
      ['v1', [stable.address]],
      ['v2', [] as string[]],
    ]);
    const { router, address, agent } = await startProxy(ready);
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 100 });

    const fallback = await send(agent, address);
    expect(fallback.status).toBe(200);
    expect(fallback.headers[SERVED_BY]).toBe('v1');

    ready.set('v1', []);
    const none = await send(agent, address);
    expect(none.status).toBe(503);
    expect(none.headers['content-type']).toMatch(/^text\/plain/);
    expect(none.body).toBe('no ready instance\n');

    await router.setRoute({ stable: undefined, canary: undefined, weight: 0 });
    expect((await send(agent, address)).status).toBe(503);
  });

  it('answers 502 for a dead upstream and records it under the version', async () => {
    const dead = DEAD_UPSTREAM;
    const metrics = new RequestMetrics({ clock: new ManualClock() });
    const { router, address, agent } = await startProxy(new Map([['v1', [dead]]]), metrics);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const reply = await send(agent, address);
    expect(reply.status).toBe(502);
    expect(reply.headers[SERVED_BY]).toBe('v1');
    expect(metrics.window('v1', HOUR_MS)).toMatchObject({ requests: 1, errors: 1, byClass: { '5xx': 1 } });
    expect(router.inflight(dead)).toBe(0);
  });

  it('retries a refused connection once on another instance', async () => {
    const dead = DEAD_UPSTREAM;
    const live = await startUpstream('live');
    const metrics = new RequestMetrics({ clock: new ManualClock() });
    const { router, address, agent } = await startProxy(new Map([['v1', [dead, live.address]]]), metrics);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    for (let i = 0; i < 10; i++) expect((await send(agent, address)).body).toBe('live');
    expect(metrics.window('v1', HOUR_MS)).toMatchObject({ requests: 10, errors: 0 });
  });

  it('retries on the other version when the only instance of the chosen one is dead', async () => {
    const dead = DEAD_UPSTREAM;
    const stable = await startUpstream('stable');
    const { router, address, agent } = await startProxy(
      new Map([
        ['v1', [stable.address]],
        ['v2', [dead]],
      ]),
    );
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 100 });
    const reply = await send(agent, address);
    expect(reply.body).toBe('stable');
    expect(reply.headers[SERVED_BY]).toBe('v1');
  });

  it('retries a request whose reused keep-alive socket the upstream hung up', async () => {
    // This instance closes every connection on its second request, before answering it.
    const requestsPerSocket = new WeakMap<net.Socket, number>();
    const flaky = await startUpstream('flaky', (req, res) => {
      const seen = (requestsPerSocket.get(req.socket) ?? 0) + 1;
      requestsPerSocket.set(req.socket, seen);
      if (seen > 1) return req.socket.destroy();
      res.end('flaky');
    });
    const steady = await startUpstream('steady');
    const { router, address, agent } = await startProxy(new Map([['v1', [flaky.address, steady.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    for (let i = 0; i < 12; i++) expect((await send(agent, address)).status).toBe(200);
    expect(flaky.hits).toBeGreaterThan(1);
  });

  it('does not retry a POST whose body went to a dead upstream', async () => {
    const dead = DEAD_UPSTREAM;
    const live = await startUpstream('live');
    const { router, address, agent } = await startProxy(new Map([['v1', [dead, live.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    // Round-robin starts at the first address, the dead one.
    const reply = await send(agent, address, { method: 'POST', path: '/echo', body: 'payload' });
    expect(reply.status).toBe(502);
    expect(live.hits).toBe(0);
  });

  it('forwards bodies, status and headers both ways and drops hop-by-hop headers', async () => {
    const upstream = await startUpstream('echo');
    const { router, address, agent } = await startProxy(new Map([['v1', [upstream.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const payload = 'x'.repeat(200_000);

    const reply = await send(agent, address, {
      method: 'POST',
      path: '/echo?q=1',
      headers: {
        'content-type': 'text/plain',
        'x-custom': 'kept',
        'x-forwarded-for': '10.0.0.1',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop only',
        te: 'trailers',
      },
      body: payload,
    });
    expect(reply.status).toBe(201);
    expect(reply.headers['x-upstream']).toBe('echo');
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers['x-hop']).toBeUndefined();
    expect(reply.headers[SERVED_BY]).toBe('v1');

    const echoed = JSON.parse(reply.body) as {
      method: string;
      url: string;
      body: string;
      headers: IncomingHttpHeaders;
    };
    expect(echoed.method).toBe('POST');
    expect(echoed.url).toBe('/echo?q=1');
    expect(echoed.body).toBe(payload);
    expect(echoed.headers['x-custom']).toBe('kept');
    expect(echoed.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(echoed.headers['x-forwarded-host']).toBe(address);
    expect(echoed.headers['x-forwarded-proto']).toBe('http');
    expect(echoed.headers.host).toBe(address);
    expect(echoed.headers['x-secret']).toBeUndefined();
    expect(echoed.headers.te).toBeUndefined();
  });

  it('streams a chunked request body', async () => {
    const upstream = await startUpstream('echo');
    const { router, address, agent } = await startProxy(new Map([['v1', [upstream.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const reply = await send(agent, address, {
      method: 'PUT',
      path: '/echo',
      body: ['one,', 'two,', 'three'],
    });
    expect(reply.status).toBe(201);
    expect((JSON.parse(reply.body) as { body: string }).body).toBe('one,two,three');
  });

  it('drains: resolves once the requests in flight to an address have finished', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = await startUpstream('slow', (_req, res) => {
      void held.then(() => res.end('late'));
    });
    const { router, address, agent } = await startProxy(new Map([['v1', [slow.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const pending = send(agent, address);
    while (slow.hits === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(router.inflight(slow.address)).toBe(1);

    let drained = false;
    const drain = router.drain(slow.address, LOAD_DEADLINE_MS).then(() => (drained = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false);

    release();
    expect((await pending).body).toBe('late');
    await drain;
    expect(router.inflight(slow.address)).toBe(0);
    await expect(router.drain('127.0.0.1:1', 10)).resolves.toBeUndefined();
  });

  it('drain gives up at its timeout', async () => {
    const stuck = await startUpstream('stuck', () => {});
    const { router, address, agent } = await startProxy(new Map([['v1', [stuck.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const pending = send(agent, address).catch(() => undefined);
    while (stuck.hits === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    await router.drain(stuck.address, 20);
    expect(router.inflight(stuck.address)).toBe(1);
    agent.destroy();
    await pending;
  });

  it('stops the upstream request when the client goes away', async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const stuck = await startUpstream('stuck', (req) => req.socket.on('close', upstreamClosed));
    const { router, address } = await startProxy(new Map([['v1', [stuck.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const [host, port] = address.split(':');
    const req = http.request({ host, port: Number(port), path: '/' });
    req.on('error', () => {});
    req.end();
    while (stuck.hits === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    req.destroy();
    await closed;
    expect(router.inflight(stuck.address)).toBe(0);
  });

  it('close() lets a request in flight finish', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = await startUpstream('slow', (_req, res) => void held.then(() => res.end('done')));
    const ready = new Map([['v1', [slow.address]]]);
    const router = new ProxyRouter({ listen: '127.0.0.1:0', upstreams: (v) => ready.get(v) ?? [] });
    await router.start();
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const agent = new http.Agent({ keepAlive: false });
    onCleanup(() => agent.destroy());

    const pending = send(agent, router.address());
    while (slow.hits === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const closing = router.close();
    release();
    expect((await pending).body).toBe('done');
    await closing;
  });

  it('names the address when the port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    onCleanup(() => closeServer(blocker));
    const port = (blocker.address() as net.AddressInfo).port;

    const router = new ProxyRouter({ listen: `127.0.0.1:${port}`, upstreams: () => [] });
    const started = router.start();
    await expect(started).rejects.toBeInstanceOf(ProviderError);
    await expect(started).rejects.toThrow(`traffic.listen 127.0.0.1:${port}: address already in use`);
    expect(() => router.address()).toThrow(ProviderError);
  });

  it('drops no request under load while the weight changes and an instance is drained and stopped', async () => {
    const total = 20_000;
    const weightChanges = 20;
    const stableA = await startUpstream('stable-a');
    const stableB = await startUpstream('stable-b');
    const canaryA = await startUpstream('canary-a');
    const canaryB = await startUpstream('canary-b');
    const ready = new Map([
      ['v1', [stableA.address, stableB.address]],
      ['v2', [canaryA.address, canaryB.address]],
    ]);
    const metrics = new RequestMetrics();
    const { router, address, agent } = await startProxy(ready, metrics);
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });

    const statuses = new Map<number, number>();
    const step = Math.floor(total / (weightChanges + 1));
    let changes = 0;
    let stopping: Promise<void> | undefined;
    let hitsWhenStopped = 0;
    await load(agent, address, total, 16, (reply, completed) => {
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (completed % step === 0 && changes < weightChanges) {
        changes++;
        void router.setRoute({ stable: 'v1', canary: 'v2', weight: (changes * 37) % 101 });
      }
      if (completed === total / 2) {
        // The fleet's way of stopping an instance: out of the ready set, drain, then stop.
        ready.set('v2', [canaryA.address]);
        stopping = router.drain(canaryB.address, LOAD_DEADLINE_MS).then(() => {
          hitsWhenStopped = canaryB.hits;
          return closeServer(canaryB.server);
        });
      }
    });
    await stopping;

    expect(changes).toBe(weightChanges);
    expect([...statuses]).toEqual([[200, total]]);
    expect(canaryB.hits).toBe(hitsWhenStopped);
    const v1 = metrics.window('v1', HOUR_MS);
    const v2 = metrics.window('v2', HOUR_MS);
    expect(v1.requests + v2.requests).toBe(total);
    expect(v1.errors + v2.errors).toBe(0);
  });
});

describe('ProxyRouter in front of two versions', () => {
  let apps: VersionApps | undefined;
  let router: ProxyRouter | undefined;

  beforeAll(async () => {
    apps = await VersionApps.start();
    router = new ProxyRouter({ listen: '127.0.0.1:0', upstreams: apps.upstreams });
    await router.start();
  });

  afterAll(async () => {
    await router?.close();
    await apps?.close();
  });

  // The proxy applies a route in memory: only an invalid route makes setRoute fail.
  runTrafficRouterContract('proxy', {
    harness: () => ({ router: router!, address: router!.address(), apps: apps! }),
  });
});
