import http, { type IncomingMessage } from 'node:http';
import type net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import {
  DEAD_UPSTREAM,
  cleanUpAfterEach,
  onCleanup,
  startProxy,
  startUpstream,
} from '../../../../test/support/proxy.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import { SERVED_BY_HEADER } from './proxy-router.js';

const HOUR_MS = 3_600_000;
/** A drain timeout no test waits for: the drain must end because the WebSocket closed. */
const LONG_DRAIN_MS = 60_000;
const SHORT_DRAIN_MS = 100;
const FORCE_TOKEN = 'a-test-force-token-0123456789';

cleanUpAfterEach();

/** A WebSocket app instance: answers each message with `name:message`. */
async function startWebSocketApp(name: string): Promise<{ address: string; server: WebSocketServer }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(`${name}:${String(data)}`));
  });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const info = server.address() as net.AddressInfo;
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  return { address: `127.0.0.1:${info.port}`, server };
}

/** Opens a WebSocket through the proxy; resolves with it and the 101 answer's headers once open. */
async function openWebSocket(
  proxyAddress: string,
  headers: Record<string, string> = {},
): Promise<{ socket: WebSocket; servedBy: string | undefined }> {
  const socket = new WebSocket(`ws://${proxyAddress}/chat`, { headers });
  onCleanup(() => socket.terminate());
  let servedBy: string | undefined;
  socket.on('upgrade', (res: IncomingMessage) => {
    servedBy = res.headers[SERVED_BY_HEADER.toLowerCase()] as string | undefined;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return { socket, servedBy };
}

/** Sends `text` and resolves with the next message. */
function ask(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('message', (data) => resolve(String(data)));
    socket.send(text);
  });
}

/** Opens a WebSocket that the proxy refuses; resolves with the status and body of the answer. */
function refusedWebSocket(
  proxyAddress: string,
): Promise<{ status: number; body: string; servedBy: unknown }> {
  const socket = new WebSocket(`ws://${proxyAddress}/chat`);
  // Ending a refused socket's attempt reports an error; the test has already read the answer.
  socket.on('error', () => {});
  onCleanup(() => socket.terminate());
  return new Promise((resolve, reject) => {
    socket.once('open', () => reject(new Error('the WebSocket opened')));
    socket.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          servedBy: res.headers[SERVED_BY_HEADER.toLowerCase()],
        }),
      );
    });
  });
}

function closed(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

describe('ProxyRouter with WebSocket (Upgrade) connections', () => {
  it('keeps a WebSocket on the version it opened on across a weight change, and records its 101 once', async () => {
    const stable = await startWebSocketApp('v1');
    const canary = await startWebSocketApp('v2');
    const metrics = new RequestMetrics();
    const { router, address } = await startProxy(
      new Map([
        ['v1', [stable.address]],
        ['v2', [canary.address]],
      ]),
      metrics,
    );
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });

    // Given a WebSocket opened at weight 0
    const held = await openWebSocket(address);
    expect(held.servedBy).toBe('v1');
    expect(await ask(held.socket, 'hello')).toBe('v1:hello');

    // When all new traffic moves to the canary
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 100 });

    // Then the open WebSocket still talks to the stable version, and a new one goes to the canary
    expect(await ask(held.socket, 'again')).toBe('v1:again');
    const fresh = await openWebSocket(address);
    expect(fresh.servedBy).toBe('v2');
    expect(await ask(fresh.socket, 'hi')).toBe('v2:hi');
    expect(router.upgrades(stable.address)).toBe(1);
    expect(router.inflight(stable.address)).toBe(1);

    // Each upgrade is one request with status 101, however many messages it carried.
    expect(metrics.window('v1', HOUR_MS)).toMatchObject({ requests: 1, byClass: { '1xx': 1 } });
    expect(metrics.window('v2', HOUR_MS)).toMatchObject({ requests: 1, byClass: { '1xx': 1 } });

    held.socket.close();
    await closed(held.socket);
    await router.drain(stable.address, LONG_DRAIN_MS);
    expect(router.inflight(stable.address)).toBe(0);
  });

  it('passes the Upgrade on with X-Forwarded-For and without the force token', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const app = await startWebSocketApp('v1');
    app.server.on('headers', (_headers, req: IncomingMessage) => {
      seen = req.headers;
    });
    const { router, address } = await startProxy(new Map([['v1', [app.address]]]), undefined, {
      forceToken: FORCE_TOKEN,
    });
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const { socket } = await openWebSocket(address, router.forceHeaders('stable'));
    expect(await ask(socket, 'x')).toBe('v1:x');
    expect(seen).toMatchObject({
      upgrade: 'websocket',
      'x-forwarded-for': '127.0.0.1',
      'x-shipcheck-version': 'stable',
    });
    expect(seen['x-shipcheck-force-token']).toBeUndefined();
  });

  it('forces a WebSocket to a version only with the token, and records a forced one apart', async () => {
    const stable = await startWebSocketApp('v1');
    const canary = await startWebSocketApp('v2');
    const metrics = new RequestMetrics();
    const { router, address } = await startProxy(
      new Map([
        ['v1', [stable.address]],
        ['v2', [canary.address]],
      ]),
      metrics,
      { forceToken: FORCE_TOKEN },
    );
    await router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });

    const tokenless = await openWebSocket(address, { 'X-Shipcheck-Version': 'canary' });
    expect(tokenless.servedBy).toBe('v1');
    const forced = await openWebSocket(address, router.forceHeaders('canary'));
    expect(forced.servedBy).toBe('v2');
    expect(await ask(forced.socket, 'q')).toBe('v2:q');

    expect(metrics.window('v1', HOUR_MS).requests).toBe(1);
    expect(metrics.window('v2', HOUR_MS).requests).toBe(0);
    expect(metrics.forcedWindow('v2', HOUR_MS)).toMatchObject({ requests: 1, byClass: { '1xx': 1 } });
  });

  it('drain waits for an open WebSocket, and closes it at its timeout', async () => {
    const app = await startWebSocketApp('v1');
    const { router, address } = await startProxy(new Map([['v1', [app.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    // A drain with a long timeout ends when the WebSocket closes, not before.
    const first = await openWebSocket(address);
    let drained = false;
    const waiting = router.drain(app.address, LONG_DRAIN_MS).then(() => {
      drained = true;
    });
    expect(await ask(first.socket, 'still here')).toBe('v1:still here');
    expect(drained).toBe(false);
    first.socket.close();
    await waiting;
    expect(router.inflight(app.address)).toBe(0);

    // A drain that times out closes the WebSocket still open.
    const second = await openWebSocket(address);
    const gone = closed(second.socket);
    await router.drain(app.address, SHORT_DRAIN_MS);
    await gone;
    expect(second.socket.readyState).toBe(WebSocket.CLOSED);
    expect(router.upgrades(app.address)).toBe(0);
  });

  it('close() closes open WebSockets', async () => {
    const app = await startWebSocketApp('v1');
    const { router, address } = await startProxy(new Map([['v1', [app.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const { socket } = await openWebSocket(address);
    const gone = closed(socket);
    await router.close();
    await gone;
    expect(socket.readyState).toBe(WebSocket.CLOSED);
  });

  it('answers 502 when the upstream cannot be reached, and records it', async () => {
    const dead = DEAD_UPSTREAM;
    const metrics = new RequestMetrics();
    const { router, address } = await startProxy(new Map([['v1', [dead]]]), metrics);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const refused = await refusedWebSocket(address);
    expect(refused).toMatchObject({ status: 502, body: 'bad gateway: upstream failed\n', servedBy: 'v1' });
    expect(metrics.window('v1', HOUR_MS)).toMatchObject({ requests: 1, errors: 1 });
    expect(router.inflight(dead)).toBe(0);
  });

  it('tries another instance once when the first refuses the connection', async () => {
    const dead = DEAD_UPSTREAM;
    const app = await startWebSocketApp('v1');
    const { router, address } = await startProxy(new Map([['v1', [dead, app.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    for (let i = 0; i < 2; i++) {
      const { socket } = await openWebSocket(address);
      expect(await ask(socket, String(i))).toBe(`v1:${i}`);
    }
  });

  it('relays an answer other than 101 and closes the connection', async () => {
    const plain = await startUpstream('v1', (_req, res) => {
      res.writeHead(403, 'Forbidden', { 'content-type': 'text/plain' });
      res.end('no websockets here');
    });
    const metrics = new RequestMetrics();
    const { router, address } = await startProxy(new Map([['v1', [plain.address]]]), metrics);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });

    const refused = await refusedWebSocket(address);
    expect(refused).toMatchObject({ status: 403, body: 'no websockets here', servedBy: 'v1' });
    expect(metrics.window('v1', HOUR_MS)).toMatchObject({ requests: 1, byClass: { '4xx': 1 } });
    expect(router.upgrades(plain.address)).toBe(0);
  });

  it('answers 503 when no instance is ready', async () => {
    const { router, address } = await startProxy(new Map());
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    expect(await refusedWebSocket(address)).toMatchObject({ status: 503, body: 'no ready instance\n' });
  });

  it('forwards the Content-Length body of an Upgrade request and the answer to it', async () => {
    const echo = await startUpstream('v1');
    const { router, address } = await startProxy(new Map([['v1', [echo.address]]]));
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const [host, port] = address.split(':');
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host,
          port: Number(port),
          method: 'POST',
          path: '/echo',
          headers: { connection: 'upgrade', upgrade: 'h2c', 'content-length': '5' },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      req.on('error', reject);
      req.end('hello');
    });
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body)).toMatchObject({
      method: 'POST',
      body: 'hello',
      headers: { upgrade: 'h2c' },
    });
  });
});
