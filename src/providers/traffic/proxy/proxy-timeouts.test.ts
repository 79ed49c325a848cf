import http from 'node:http';
import net, { type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { cleanUpAfterEach, onCleanup, startUpstream } from '../../../../test/support/proxy.js';
import { configSchema } from '../../../config/schema.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import { createRouter } from '../create-router.js';
import { DEFAULT_PROXY_TIMEOUTS, ProxyRouter, type ProxyTimeouts } from './proxy-router.js';

/**
 * Longer than Node's own 5s keep-alive timeout, which is what a load balancer in front would trip
 * over. The test waits this long for real; it asserts what happened to the connection, not durations.
 */
const IDLE_MS = 10_000;
/** Long enough for the wait above and the requests around it. */
const IDLE_TEST_TIMEOUT_MS = 30_000;

/** How the proxy's chunked reply to a plain GET ends. */
const END_OF_CHUNKED_BODY = '\r\n0\r\n\r\n';

cleanUpAfterEach();

/** A reply and the client socket it came over. */
interface SocketReply {
  status: number;
  body: string;
  keepAlive: string | undefined;
  socket: Socket;
}

/** One GET through `agent`, reporting which socket carried it. */
function get(agent: http.Agent, address: string): Promise<SocketReply> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: Number(port), path: '/', agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body: Buffer.concat(chunks).toString(),
          keepAlive: res.headers['keep-alive']?.toString(),
          socket: req.socket as Socket,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** A started proxy routing everything to one upstream, and a client that holds at most one connection. */
async function proxyInFront(
  timeouts?: ProxyTimeouts,
): Promise<{ router: ProxyRouter; address: string; agent: http.Agent; opened: () => number }> {
  const upstream = await startUpstream('stable');
  const router = new ProxyRouter({
    listen: '127.0.0.1:0',
    upstreams: (v) => (v === 'v1' ? [upstream.address] : []),
    timeouts,
  });
  await router.start();
  onCleanup(() => router.close());
  await router.setRoute({ stable: 'v1', canary: 'v1', weight: 0 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  onCleanup(() => agent.destroy());
  let sockets = 0;
  const createConnection = agent.createConnection.bind(agent);
  // Counts the connections the client opens: one means every request reused the first.
  agent.createConnection = (...args: Parameters<typeof createConnection>) => {
    sockets++;
    return createConnection(...args);
  };
  return { router, address: router.address(), agent, opened: () => sockets };
}

describe('ProxyRouter client timeouts', () => {
  it(
    'keeps an idle client connection open past 10s by default and serves the next request on it',
    async () => {
      const { router, address, agent, opened } = await proxyInFront();
      expect(router.timeouts()).toEqual(DEFAULT_PROXY_TIMEOUTS);

      const first = await get(agent, address);
      expect(first).toMatchObject({ status: 200, body: 'stable' });
      await sleep(IDLE_MS);

      const second = await get(agent, address);
      expect(second).toMatchObject({ status: 200, body: 'stable' });
      expect(second.socket).toBe(first.socket);
      expect(opened()).toBe(1);
      // What the proxy tells clients, from the server's own keep-alive timeout.
      expect([first.keepAlive, second.keepAlive]).toEqual(['timeout=75', 'timeout=75']);
    },
    IDLE_TEST_TIMEOUT_MS,
  );

  it('closes an idle client connection itself once a short keep-alive timeout passes', async () => {
    const { address } = await proxyInFront({ ...DEFAULT_PROXY_TIMEOUTS, keepAliveTimeout: 1000 });
    // A raw socket, not an agent: an agent closes early on the Keep-Alive hint, and the point is that the proxy closes.
    const [host, port] = address.split(':');
    const socket = net.connect(Number(port), host);
    onCleanup(() => void socket.destroy());
    let received = '';
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    const answered = new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString();
        if (received.endsWith(END_OF_CHUNKED_BODY)) resolve();
      }),
    );
    socket.write(`GET / HTTP/1.1\r\nHost: ${address}\r\n\r\n`);
    await answered;
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    // The proxy ends the idle connection: what a load balancer that still pooled it would run into.
    await ended;
  });

  it('takes traffic.keepAliveTimeout, headersTimeout and requestTimeout from the config', async () => {
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'node app.js' },
      traffic: {
        kind: 'proxy',
        listen: '127.0.0.1:0',
        keepAliveTimeout: '90s',
        headersTimeout: '20s',
        requestTimeout: '0s',
      },
    });
    const upstream = await startUpstream('stable');
    const { router, proxy } = createRouter(config.traffic, {
      dir: '.',
      upstreams: (v) => (v === 'v1' ? [upstream.address] : []),
      requestMetrics: new RequestMetrics(),
      logger: pino({ level: 'silent' }),
    });
    await proxy!.start();
    onCleanup(() => proxy!.close());
    await router.setRoute({ stable: 'v1', canary: 'v1', weight: 0 });
    // Without proxyProcess the built-in proxy runs in this process: a ProxyRouter.
    expect(proxy).toBeInstanceOf(ProxyRouter);
    expect((proxy as ProxyRouter).timeouts()).toEqual({
      keepAliveTimeout: 90_000,
      headersTimeout: 20_000,
      requestTimeout: 0,
    });

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(() => agent.destroy());
    expect(await get(agent, proxy!.address())).toMatchObject({ status: 200, keepAlive: 'timeout=90' });
  });
});
