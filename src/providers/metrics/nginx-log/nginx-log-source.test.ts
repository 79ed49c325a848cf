import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
  appendFileSync,
  existsSync,
} from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../../errors.js';
import { NGINX_PATH, startNginx, type TestNginx } from '../../../../test/support/nginx.js';
import { NginxLogMetricSource, parseAccessLogLine } from './nginx-log-source.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const HAS_NGINX = NGINX_PATH !== undefined;
const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
const WINDOW_MS = 60_000;
/** The slow endpoint's delay; nginx's request_time has millisecond resolution. */
const SLOW_MS = 150;

describe('parseAccessLogLine', () => {
  it('reads status, the last upstream tried and latency in ms', () => {
    expect(
      parseAccessLogLine('{"status":502,"upstream_addr":"10.0.0.1:80, 10.0.0.2:80","request_time":0.25}'),
    ).toEqual({
      status: 502,
      upstreamAddr: '10.0.0.2:80',
      latencyMs: 250,
    });
    expect(
      parseAccessLogLine('{"status":200,"upstream_addr":"a:1 : b:2","request_time":0}')?.upstreamAddr,
    ).toBe('b:2');
  });

  it('ignores lines that are not LOG_FORMAT or had no upstream', () => {
    expect(parseAccessLogLine('127.0.0.1 - - [x] "GET / HTTP/1.1" 200')).toBeUndefined();
    expect(parseAccessLogLine('{"status":404,"upstream_addr":"","request_time":0.000}')).toBeUndefined();
    expect(parseAccessLogLine('{"status":"200","upstream_addr":"a:1","request_time":0}')).toBeUndefined();
  });
});

describe('NginxLogMetricSource on a plain file', () => {
  it('starts at the end, keeps partial lines and reports an unreadable log', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-log-'));
    try {
      const log = path.join(tmp, 'access.log');
      const line = '{"status":200,"upstream_addr":"a:1","request_time":0.010}\n';
      writeFileSync(log, line);
      const source = new NginxLogMetricSource({
        accessLog: log,
        versionOf: (addr) => (addr === 'a:1' ? 'v1' : undefined),
      });
      await source.start();
      appendFileSync(log, line + line.slice(0, 20));
      await source.poll();
      expect((await source.window('v1', WINDOW_MS)).requests).toBe(1);
      appendFileSync(log, line.slice(20));
      await source.poll();
      expect((await source.window('v1', WINDOW_MS)).requests).toBe(2);
      rmSync(log);
      await source.poll();
      // A directory where the log should be cannot be read.
      mkdirSync(log);
      await source.poll();
      await expect(source.window('v1', WINDOW_MS)).rejects.toThrow(ProviderError);
      await source.close();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe.runIf(!HAS_NGINX && REQUIRE_REAL)('NginxLogMetricSource against nginx (required)', () => {
  it('has nginx because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail('nginx is not on PATH; install it (Debian: apt-get install -y nginx)');
  });
});

describe.skipIf(!HAS_NGINX)(
  HAS_NGINX
    ? 'NginxLogMetricSource against a real nginx'
    : 'NginxLogMetricSource: SKIPPED, nginx is not installed',
  () => {
    const servers: http.Server[] = [];
    const versionByAddress = new Map<string, string>();
    const upstreamOf: Record<string, string> = {};
    let tmp = '';
    let accessLog = '';
    let port = 0;
    let nginx: TestNginx | undefined;
    let source: NginxLogMetricSource;

    beforeAll(async () => {
      for (const version of ['v1', 'v2']) {
        const server = http.createServer((req, res) => {
          if (req.url === '/fail') res.statusCode = 500;
          if (req.url === '/slow') setTimeout(() => res.end(version), SLOW_MS);
          else res.end(version);
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        servers.push(server);
        const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
        versionByAddress.set(address, version);
        upstreamOf[version] = address;
      }
      tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-log-'));
      nginx = await startNginx(tmp, {
        locations: `location /v1/ { proxy_pass http://${upstreamOf.v1}/; }
    location /v2/ { proxy_pass http://${upstreamOf.v2}/; }`,
      });
      ({ port, accessLog } = nginx);
      await waitFor(async () => (await get(port, '/v1/').catch(() => undefined)) === 200);
      source = new NginxLogMetricSource({ accessLog, versionOf: (addr) => versionByAddress.get(addr) });
      await source.start();
    });

    afterAll(async () => {
      await source?.close();
      await nginx?.stop();
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    });

    it('counts requests, 5xx and latency per version, ignoring what came before start()', async () => {
      for (let i = 0; i < 7; i++) expect(await get(port, '/v1/')).toBe(200);
      for (let i = 0; i < 3; i++) expect(await get(port, '/v2/fail')).toBe(500);
      for (let i = 0; i < 2; i++) expect(await get(port, '/v2/slow')).toBe(200);
      await settle(source, 'v1', 7);
      await settle(source, 'v2', 5);
      const v1 = await source.window('v1', WINDOW_MS);
      const v2 = await source.window('v2', WINDOW_MS);
      // The request that waited for nginx to start came before start(): not counted.
      expect(v1).toMatchObject({ requests: 7, errors: 0, byClass: { '2xx': 7 } });
      expect(v2).toMatchObject({ requests: 5, errors: 3, byClass: { '2xx': 2, '5xx': 3 } });
      expect(v2.p99).toBeGreaterThanOrEqual(SLOW_MS * 0.95);
      expect(v1.p50).toBeLessThan(SLOW_MS);
    });

    it('survives truncation and rotation of the log', async () => {
      const before = (await source.window('v1', WINDOW_MS)).requests;
      truncateSync(accessLog, 0);
      await source.poll();
      for (let i = 0; i < 4; i++) await get(port, '/v1/');
      await settle(source, 'v1', before + 4);
      expect((await source.window('v1', WINDOW_MS)).requests).toBe(before + 4);

      renameSync(accessLog, `${accessLog}.1`);
      await get(port, '/v1/'); // still written to the rotated file
      spawnSync('nginx', ['-s', 'reopen', '-p', tmp, '-c', nginx!.conf], { stdio: 'ignore' });
      await waitFor(async () => existsSync(accessLog));
      for (let i = 0; i < 2; i++) await get(port, '/v1/');
      await settle(source, 'v1', before + 4 + 1 + 2);
      expect((await source.window('v1', WINDOW_MS)).requests).toBe(before + 4 + 1 + 2);
    });
  },
);

function get(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/**
 * Polls until `version` has `expected` requests or time runs out: nginx writes a line just after the
 * response goes out, so the client can see the answer before the line exists.
 */
async function settle(source: NginxLogMetricSource, version: string, expected: number): Promise<void> {
  await waitFor(async () => {
    await source.poll();
    return (await source.window(version, WINDOW_MS)).requests >= expected;
  }).catch(() => undefined);
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${START_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}
