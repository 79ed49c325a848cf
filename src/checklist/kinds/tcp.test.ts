import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../util/net.js';
import { tcpCheck, type TcpParams } from './tcp.js';
import { testContext } from '../../../test/support/check-context.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function listen(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

async function run(input: Record<string, unknown>, context = testContext()) {
  const params: TcpParams = tcpCheck.params.parse(input);
  return tcpCheck.run(params, context);
}

describe('tcp params', () => {
  it('takes host and port, or address, and fills defaults', () => {
    expect(tcpCheck.params.parse({ host: 'db', port: 5432 })).toEqual({
      host: 'db',
      port: 5432,
      timeout: 3000,
    });
    expect(tcpCheck.params.parse({ port: 6379 })).toEqual({ host: '127.0.0.1', port: 6379, timeout: 3000 });
    expect(tcpCheck.params.parse({ address: 'db.internal:5432', timeout: '1s' })).toEqual({
      host: 'db.internal',
      port: 5432,
      timeout: 1000,
    });
    expect(tcpCheck.params.parse({ address: '[::1]:80' })).toMatchObject({ host: '::1', port: 80 });
  });

  it('rejects both forms at once, neither, and bad ports', () => {
    expect(tcpCheck.params.safeParse({ address: 'db:5432', port: 5432 }).success).toBe(false);
    expect(tcpCheck.params.safeParse({ host: 'db' }).success).toBe(false);
    expect(tcpCheck.params.safeParse({ address: 'db:70000' }).success).toBe(false);
    expect(tcpCheck.params.safeParse({ address: 'db' }).success).toBe(false);
    expect(tcpCheck.params.safeParse({ port: 0 }).success).toBe(false);
  });
});

describe('tcp check', () => {
  it('passes when something listens', async () => {
    const port = await listen();
    const result = await run({ address: `127.0.0.1:${port}` });
    expect(result.ok).toBe(true);
    expect(result.summary).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port} reachable in \\d+ms$`));
    expect(result.data).toMatchObject({ host: '127.0.0.1', port });
    expect(result.value).toBe(result.data?.latencyMs);
  });

  it('fails with the connect error when nothing listens', async () => {
    const port = await freePort();
    const result = await run({ host: '127.0.0.1', port });
    expect(result).toMatchObject({ ok: false, summary: `connect ECONNREFUSED 127.0.0.1:${port}` });
  });

  it('fails on a name that does not resolve', async () => {
    // .invalid is reserved (RFC 6761): it never resolves, offline or not.
    const result = await run({ host: 'shipcheck.invalid', port: 80 });
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/shipcheck\.invalid/);
  });

  it('stops when the release signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    const port = await listen();
    const result = await run({ port }, testContext({ signal: controller.signal }));
    expect(result).toMatchObject({ ok: false, summary: `127.0.0.1:${port}: aborted` });
  });
});
