import http from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from './load-generator.js';

/** How long the server holds each answer, so that requests are always in flight on every connection. */
const HOLD_MS = 30;
const WAIT_LIMIT_MS = 20_000;

/**
 * A keep-alive server that can reset every client connection at once, as nginx's old workers close
 * theirs on a reload: the requests in flight on them get ECONNRESET before any response.
 */
async function resettingServer(): Promise<{
  url: string;
  resetAll: () => number;
  close: () => Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
    setTimeout(() => res.end('ok'), HOLD_MS);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    resetAll: () => {
      const count = sockets.size;
      for (const socket of sockets) socket.resetAndDestroy();
      return count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('LoadGenerator', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Sends load, resets every connection three times while requests are in flight, and reports. */
  async function throughResets(retryResets: boolean): Promise<ReturnType<LoadGenerator['snapshot']>> {
    const server = await resettingServer();
    cleanups.push(server.close);
    const load = new LoadGenerator({
      url: server.url,
      rps: 200,
      concurrency: 4,
      maxDurationMs: 30_000,
      retryResets,
    });
    cleanups.push(() => load.stop());
    load.start();
    for (let round = 1; round <= 3; round++) {
      await until(`${round * 20} answers`, () => load.snapshot().sent >= round * 20);
      expect(server.resetAll()).toBeGreaterThan(0);
    }
    const sent = load.snapshot().sent;
    await until('20 answers after the last reset', () => load.snapshot().sent >= sent + 20);
    return load.stop();
  }

  it('retries a GET reset before any answer once, on a new connection, so a reset of every pooled connection fails nothing', async () => {
    // Given a server that resets all its keep-alive connections at once, three times, under load
    const report = await throughResets(true);
    // Then each request caught in a reset was sent again, and none failed
    expect(report.retried).toBeGreaterThan(0);
    expect(report.failed).toBe(0);
    expect(report.failures).toEqual({});
  });

  it('counts those requests as failed when it does not retry, as a client that never retries would see them', async () => {
    const report = await throughResets(false);
    expect(report.retried).toBe(0);
    expect(report.failed).toBeGreaterThan(0);
    expect(Object.keys(report.failures)).toEqual(['ECONNRESET']);
  });
});
