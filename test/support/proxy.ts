import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type net from 'node:net';
import { afterEach } from 'vitest';
import type { RequestMetrics } from '../../src/providers/metrics/builtin/request-metrics.js';
import { ProxyRouter, type ProxyRouterOptions } from '../../src/providers/traffic/proxy/proxy-router.js';

/** An app instance the proxy sends requests to, with the requests it got. */
/**
 * An upstream address nothing listens on: port 1 (tcpmux) is privileged and unused, so a connection
 * is refused at once. A port freePort() found free may be taken by a parallel test before it is used.
 */
export const DEAD_UPSTREAM = '127.0.0.1:1';

export interface TestUpstream {
  name: string;
  address: string;
  hits: number;
  server: http.Server;
}

/** A response as a client of the proxy received it. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const cleanups: (() => Promise<void> | void)[] = [];

/** Registers the hook that stops, after each test of the calling file, what the helpers here started. */
export function cleanUpAfterEach(): void {
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
}

/** Runs `cleanup` after the current test, before what was registered earlier. */
export function onCleanup(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

/** Closes a server and, for an HTTP server, the connections it still holds. */
export function closeServer(server: http.Server | net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    if (server instanceof http.Server) server.closeAllConnections();
  });
}

/** An app instance: answers its name, or echoes the request under /echo. */
export async function startUpstream(
  name: string,
  handler?: (req: IncomingMessage, res: ServerResponse, upstream: TestUpstream) => void,
): Promise<TestUpstream> {
  const server = http.createServer();
  const upstream: TestUpstream = { name, address: '', hits: 0, server };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    upstream.hits++;
    if (handler !== undefined) return handler(req, res, upstream);
    if (req.url?.startsWith('/echo')) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = JSON.stringify({
          name,
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(201, 'Made It', {
          'content-type': 'application/json',
          'x-upstream': name,
          'set-cookie': ['a=1', 'b=2'],
          connection: 'keep-alive, x-hop',
          'x-hop': 'drop me',
        });
        res.end(body);
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const info = server.address() as net.AddressInfo;
  upstream.address = `127.0.0.1:${info.port}`;
  onCleanup(() => closeServer(server));
  return upstream;
}

/** A proxy whose ready instances are whatever `ready` says at the moment of each request; `options` add to its options. */
export async function startProxy(
  ready: Map<string, string[]>,
  metrics?: RequestMetrics,
  options: Partial<ProxyRouterOptions> = {},
): Promise<{ router: ProxyRouter; address: string; agent: http.Agent }> {
  const router = new ProxyRouter({
    listen: '127.0.0.1:0',
    upstreams: (v) => ready.get(v) ?? [],
    metrics,
    ...options,
  });
  await router.start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  onCleanup(() => router.close());
  onCleanup(() => agent.destroy());
  return { router, address: router.address(), agent };
}

/** Sends one request through `agent` and reads the whole reply. */
export function send(
  agent: http.Agent,
  address: string,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | string[];
  } = {},
): Promise<Reply> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (Array.isArray(body)) for (const part of body) req.write(part);
    else if (body !== undefined) req.write(body);
    req.end();
  });
}
