/**
 * The upstream side of the built-in proxy, through the proxy itself: upstreams that shape their
 * responses byte by byte, connection reuse, back-pressure and the idle timeout. The parser's own
 * cases are in http1-response-parser.test.ts.
 */
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  cleanUpAfterEach,
  closeServer,
  onCleanup,
  send,
  startProxy,
  startUpstream,
} from '../../../../test/support/proxy.js';
import { ManualClock } from '../../../util/clock.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import type { ProxyRouter } from './proxy-router.js';
import { UPSTREAM_IDLE_TIMEOUT_MS, UpstreamPool } from './upstream-pool.js';

const HOUR_MS = 3_600_000;

cleanUpAfterEach();

/** An upstream that speaks raw bytes, to shape responses the way real servers sometimes do. */
async function startRawUpstream(onRequest: (socket: net.Socket, request: string) => void): Promise<string> {
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const request = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      onRequest(socket, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => closeServer(server));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** Writes `pieces` one event-loop turn apart, so the proxy sees them in separate reads. */
async function writeSlowly(socket: net.Socket, pieces: string[]): Promise<void> {
  for (const piece of pieces) {
    socket.write(piece, 'latin1');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function proxyTo(
  address: string,
): Promise<{ router: ProxyRouter; address: string; agent: http.Agent }> {
  const proxy = await startProxy(new Map([['v1', [address]]]));
  await proxy.router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
  return proxy;
}

describe('ProxyRouter upstream responses', () => {
  it('forwards a chunked response, with trailers, split across reads at awkward places', async () => {
    const upstream = await startRawUpstream((socket) => {
      void writeSlowly(socket, [
        'HTTP/1.1 200 OK\r\nContent-Type: text/pl',
        'ain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r',
        '\n5\r\nhello\r',
        '\n1',
        '0;ext=1\r\n0123456789abcdef\r\n',
        '0\r\nX-Sum: 1\r\n',
        '\r\n',
      ]);
    });
    const { address, agent } = await proxyTo(upstream);
    const reply = await send(agent, address);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('hello0123456789abcdef');
    expect(reply.headers['content-type']).toBe('text/plain');
    expect(reply.headers.trailer).toBeUndefined();
  });

  it('forwards a body delimited by the upstream closing the connection', async () => {
    const upstream = await startRawUpstream((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nX-Kind: close-delimited\r\n\r\nuntil the end');
    });
    const { address, agent } = await proxyTo(upstream);
    for (let i = 0; i < 3; i++) {
      const reply = await send(agent, address);
      expect(reply.body).toBe('until the end');
      expect(reply.headers['x-kind']).toBe('close-delimited');
    }
  });

  it('skips interim 1xx responses', async () => {
    const upstream = await startRawUpstream((socket) => {
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const { address, agent } = await proxyTo(upstream);
    const reply = await send(agent, address);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok');
  });

  it('answers 502 for a malformed response head', async () => {
    const upstream = await startRawUpstream((socket) => socket.end('SMTP ready\r\n\r\n'));
    const { address, agent } = await proxyTo(upstream);
    expect((await send(agent, address)).status).toBe(502);
  });

  it('answers 502 for conflicting content lengths', async () => {
    const upstream = await startRawUpstream((socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!'),
    );
    const { address, agent } = await proxyTo(upstream);
    expect((await send(agent, address)).status).toBe(502);
  });

  it('cuts the response when the upstream dies mid-body, and records a 502', async () => {
    const upstream = await startRawUpstream((socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part'),
    );
    const metrics = new RequestMetrics({ clock: new ManualClock() });
    const { router, address, agent } = await startProxy(new Map([['v1', [upstream]]]), metrics);
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    await expect(send(agent, address)).rejects.toThrow();
    expect(metrics.window('v1', HOUR_MS)).toMatchObject({ requests: 1, errors: 1 });
  });

  it('handles HEAD, 204 and 304 without waiting for a body', async () => {
    const upstream = await startUpstream('meta', (req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end();
      else res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const { address, agent } = await proxyTo(upstream.address);
    const head = await send(agent, address, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('5');
    expect(head.body).toBe('');
    expect((await send(agent, address, { path: '/204' })).status).toBe(204);
    const notModified = await send(agent, address, { path: '/304' });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"x"');
    expect((await send(agent, address)).body).toBe('hello');
  });

  it('reuses one keep-alive connection for sequential requests, and none the upstream asked to close', async () => {
    const keep = await startUpstream('keep');
    const { router, address, agent } = await proxyTo(keep.address);
    for (let i = 0; i < 5; i++) await send(agent, address);
    expect(router.connections(keep.address)).toBe(1);

    const closing = await startUpstream('closing', (_req, res) => {
      res.writeHead(200, { connection: 'close', 'content-length': '2' });
      res.end('ok');
    });
    const proxy = await proxyTo(closing.address);
    for (let i = 0; i < 3; i++) expect((await send(proxy.agent, proxy.address)).body).toBe('ok');
    // A closed connection leaves the pool when its socket's close event arrives.
    for (let tries = 0; tries < 200 && proxy.router.connections(closing.address) > 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(proxy.router.connections(closing.address)).toBe(0);
  });

  it('streams a large response to a slow client with back-pressure', async () => {
    const size = 8 * 1024 * 1024;
    const block = Buffer.alloc(64 * 1024, 'z');
    const upstream = await startUpstream('big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          sent += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const { address, agent } = await proxyTo(upstream.address);
    const [host, port] = address.split(':');
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host, port: Number(port), agent }, (res) => {
        let total = 0;
        res.pause();
        // Hold the client still long enough for the proxy's socket buffers to fill.
        setTimeout(() => res.resume(), 50);
        res.on('data', (chunk: Buffer) => (total += chunk.length));
        res.on('end', () => resolve(total));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    expect(received).toBe(size);
  });

  it('forwards an answer given before the request body was read, and keeps the client connection usable', async () => {
    const upstream = await startUpstream('strict', (req, res) => {
      if (req.url === '/upload') {
        res.writeHead(413, { 'content-type': 'text/plain' });
        res.end('too large');
      } else res.end('fine');
    });
    const { address, agent } = await proxyTo(upstream.address);
    const big = 'b'.repeat(4 * 1024 * 1024);
    const rejected = await send(agent, address, { method: 'POST', path: '/upload', body: big });
    expect(rejected.status).toBe(413);
    expect(rejected.body).toBe('too large');
    expect((await send(agent, address)).body).toBe('fine');
  });

  it('does not reuse a connection idle for longer than the idle timeout', async () => {
    const upstream = await startUpstream('idle');
    let now = 0;
    const pool = new UpstreamPool(upstream.address, () => now);
    onCleanup(() => pool.destroy());
    const first = pool.acquire();
    pool.release(first);
    now += UPSTREAM_IDLE_TIMEOUT_MS - 1;
    expect(pool.acquire()).toBe(first);
    pool.release(first);
    now += UPSTREAM_IDLE_TIMEOUT_MS;
    const second = pool.acquire();
    expect(second).not.toBe(first);
    expect(first.dead).toBe(true);

    pool.release(second);
    now += UPSTREAM_IDLE_TIMEOUT_MS;
    pool.sweep();
    expect(second.dead).toBe(true);
  });
});
