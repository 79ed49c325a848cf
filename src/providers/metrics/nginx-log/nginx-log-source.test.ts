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
  readFileSync,
} from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../../errors.js';
import { NGINX_PATH, startNginx, type TestNginx } from '../../../../test/support/nginx.js';
import { measureMetric } from '../../../analysis/triggers.js';
import { ManualClock } from '../../../util/clock.js';
import { freePort } from '../../../util/net.js';
import { LOG_FORMAT } from './access-log-line.js';
import { runMetricSourceContract, TrafficApp } from '../metric-source.case.js';
import { NginxLogMetricSource } from './nginx-log-source.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const HAS_NGINX = NGINX_PATH !== undefined;
const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
const WINDOW_MS = 60_000;
/** The slow endpoint's delay; nginx's request_time has millisecond resolution. */
const SLOW_MS = 150;
/** Long enough that the source's own timer never fires: these tests poll by hand. */
const MANUAL_POLL_MS = 3_600_000;
const SECOND_MS = 1000;
const SHORT_WINDOW_MS = 10_000;
const ERROR_RATE_LIMIT = 0.05;
/** Over the source's 64 KiB line limit. */
const HUGE_LINE_CHARS = 70_000;
/** The version of the metric source contract's traffic app behind nginx's `/contract/`. */
const CONTRACT_VERSION = 'v3';

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
  it('says why when lines arrive that it cannot use: in window(), in the measurement, and in one warning', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-log-'));
    const clock = new ManualClock();
    const warnings: string[] = [];
    const log = path.join(tmp, 'access.log');
    writeFileSync(log, '');
    const source = new NginxLogMetricSource({
      accessLog: log,
      versionOf: (addr) => (addr === 'a:1' ? 'v1' : undefined),
      clock,
      pollIntervalMs: MANUAL_POLL_MS,
      logger: { warn: (_obj, msg) => warnings.push(msg) },
    });
    try {
      await source.start();
      // Given nginx writing a JSON format without "status", and one line with a bad time
      const noStatus = '{"remote_addr":"127.0.0.1","upstream_addr":"a:1","request_time":"0.010"}\r\n';
      appendFileSync(log, noStatus.repeat(3));
      await source.poll();
      clock.advance(SECOND_MS);
      appendFileSync(
        log,
        `${noStatus.repeat(2)}{"status":"200","upstream_addr":"a:1","request_time":"abc"}\n`,
      );
      await source.poll();
      await source.poll();

      // Then window() says how many lines, what is wrong with them, and what to add to nginx
      const error = (await source.window('v1', SHORT_WINDOW_MS).catch((err: unknown) => err)) as Error;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.message).toContain(`6 lines read from ${log} since `);
      expect(error.message).toContain('no "status" field (nor "upstream_status") (5 lines)');
      expect(error.message).toContain('"request_time" "abc" is not a number of seconds (1 line)');
      expect(error.message).toContain(LOG_FORMAT);
      expect(error.message).toContain(`access_log ${log} shipcheck;`);
      // And the analysis records it as an inconclusive measurement with that reason
      const measurement = await measureMetric(
        { metric: 'error_rate', above: ERROR_RATE_LIMIT, window: SHORT_WINDOW_MS, for: 0, minRequests: 1 },
        source,
        'v1',
      );
      expect(measurement.verdict).toBe('inconclusive');
      expect(measurement.message).toContain('no "status" field');
      // And the log got one warning, not one per line or per poll
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('3 lines read');
      expect(warnings[0]).toContain('no "status" field');
      expect(warnings[0]).toContain(LOG_FORMAT);

      // When the window no longer holds the bad lines, there is simply no data
      clock.advance(SHORT_WINDOW_MS + SECOND_MS);
      expect((await source.window('v1', SHORT_WINDOW_MS)).requests).toBe(0);

      // When nginx is fixed, its lines count and a window holding one of them has no complaint
      appendFileSync(log, '{"status":"200","upstream_addr":"a:1","request_time":"0.010"}\n');
      await source.poll();
      appendFileSync(log, noStatus);
      await source.poll();
      expect((await source.window('v1', SHORT_WINDOW_MS)).requests).toBe(1);
      // And a new stretch of bad lines is warned about once more
      expect(warnings).toHaveLength(2);
      clock.advance(SHORT_WINDOW_MS + SECOND_MS);
      appendFileSync(log, noStatus);
      await source.poll();
      await expect(source.window('v1', SHORT_WINDOW_MS)).rejects.toThrow(/2 lines read/);
      expect(warnings).toHaveLength(2);
    } finally {
      await source.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('counts a line too long to be ours as unusable instead of growing memory', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-log-'));
    const log = path.join(tmp, 'access.log');
    writeFileSync(log, '');
    const source = new NginxLogMetricSource({
      accessLog: log,
      versionOf: () => 'v1',
      pollIntervalMs: MANUAL_POLL_MS,
    });
    try {
      await source.start();
      appendFileSync(log, `{"status":"200","x":"${'x'.repeat(HUGE_LINE_CHARS)}"}\n`);
      await source.poll();
      await expect(source.window('v1', WINDOW_MS)).rejects.toThrow(/longer than any JSON line/);
    } finally {
      await source.close();
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
    let app: TrafficApp | undefined;

    beforeAll(async () => {
      app = await TrafficApp.start();
      versionByAddress.set(app.address, CONTRACT_VERSION);
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
    location /v2/ { proxy_pass http://${upstreamOf.v2}/; }
    location /contract/ { proxy_pass http://${app.address}/; }`,
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
      await app?.close();
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

    runMetricSourceContract('nginx-log', {
      harness: () => ({
        source,
        url: `http://127.0.0.1:${port}/contract/`,
        version: CONTRACT_VERSION,
        settle: (requests) =>
          waitFor(async () => {
            await source.poll();
            return (await source.window(CONTRACT_VERSION, WINDOW_MS)).requests >= requests;
          }),
      }),
      // A directory where the access log should be: the file cannot be read.
      unreachable: async () => {
        const unreadable = mkdtempSync(path.join(tmp, 'access.log-'));
        const broken = new NginxLogMetricSource({ accessLog: unreadable, versionOf: () => CONTRACT_VERSION });
        await broken.start();
        await broken.poll();
        return broken;
      },
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
      // nginx writes to the new file now, so the source must have followed the rotation to count them.
      await waitFor(async () => readFileSync(accessLog, 'utf8').trim().split('\n').length === 2);
      await settle(source, 'v1', before + 4 + 1 + 2);
      expect((await source.window('v1', WINDOW_MS)).requests).toBe(before + 4 + 1 + 2);
    });
  },
);

/** JSON log formats as they are found in blog posts and in people's nginx.conf, each with extra fields. */
const FORMATS_PEOPLE_WRITE: { name: string; logFormat: string }[] = [
  {
    name: 'every value quoted, escape=json, spread over several strings',
    logFormat: `log_format shipcheck escape=json
    '{'
      '"time_local":"$time_local",'
      '"remote_addr":"$remote_addr",'
      '"request":"$request",'
      '"status":"$status",'
      '"body_bytes_sent":"$body_bytes_sent",'
      '"request_time":"$request_time",'
      '"http_referer":"$http_referer",'
      '"http_user_agent":"$http_user_agent",'
      '"upstream_addr":"$upstream_addr",'
      '"upstream_status":"$upstream_status",'
      '"upstream_response_time":"$upstream_response_time"'
    '}';`,
  },
  {
    name: "every value quoted, nginx's default escaping",
    logFormat: `log_format shipcheck '{"remote_addr":"$remote_addr","status":"$status","request_time":"$request_time",'
      '"http_user_agent":"$http_user_agent","upstream_addr":"$upstream_addr",'
      '"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time"}';`,
  },
  {
    name: 'numbers without quotes, upstream variables too',
    logFormat: `log_format shipcheck escape=json '{"status":$status,"request_time":$request_time,'
      '"upstream_addr":"$upstream_addr","upstream_status":$upstream_status,'
      '"upstream_response_time":$upstream_response_time,"http_user_agent":"$http_user_agent"}';`,
  },
];
/** A client header with the characters each escaping writes differently. */
const AWKWARD_USER_AGENT = 'probe "quoted" \\ back\\slash';

describe.skipIf(!HAS_NGINX).each(FORMATS_PEOPLE_WRITE)(
  HAS_NGINX
    ? 'NginxLogMetricSource on a real nginx logging $name'
    : 'NginxLogMetricSource: SKIPPED, nginx is not installed ($name)',
  ({ logFormat }) => {
    const servers: http.Server[] = [];
    const versionByAddress = new Map<string, string>();
    let tmp = '';
    let nginx: TestNginx | undefined;
    let source: NginxLogMetricSource | undefined;

    afterAll(async () => {
      await source?.close();
      await nginx?.stop();
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    });

    it('counts requests, status classes and latency per version, reading what nginx wrote', async () => {
      // Given two versions behind nginx, v1's pool starting with a server that refuses connections
      const upstreamOf: Record<string, string> = {};
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
      const refusing = `127.0.0.1:${await freePort()}`;
      tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-log-'));
      nginx = await startNginx(tmp, {
        logFormat,
        // max_fails=0 keeps the refusing server in the rotation, so nginx keeps trying two servers.
        http: `upstream v1pool { server ${refusing} max_fails=0; server ${upstreamOf.v1} max_fails=0; }`,
        locations: `location /v1/ { proxy_pass http://v1pool/; }
    location /v2/ { proxy_pass http://${upstreamOf.v2}/; }
    location /itself { return 404; }`,
      });
      const { port, accessLog } = nginx;
      source = new NginxLogMetricSource({
        accessLog,
        versionOf: (addr) => versionByAddress.get(addr),
        pollIntervalMs: MANUAL_POLL_MS,
      });
      await source.start();

      // When requests go through it, some answered by nginx itself
      for (let i = 0; i < 7; i++) expect(await get(port, '/v1/', AWKWARD_USER_AGENT)).toBe(200);
      for (let i = 0; i < 3; i++) expect(await get(port, '/v2/fail', AWKWARD_USER_AGENT)).toBe(500);
      for (let i = 0; i < 2; i++) expect(await get(port, '/v2/slow')).toBe(200);
      for (let i = 0; i < 2; i++) expect(await get(port, '/itself')).toBe(404);
      await settle(source, 'v1', 7);
      await settle(source, 'v2', 5);

      // Then each version has its own figures, v1's counted as the server that answered (200, not 502)
      const v1 = await source.window('v1', WINDOW_MS);
      const v2 = await source.window('v2', WINDOW_MS);
      expect(v1).toMatchObject({ requests: 7, errors: 0, byClass: { '2xx': 7 } });
      expect(v2).toMatchObject({ requests: 5, errors: 3, byClass: { '2xx': 2, '5xx': 3 } });
      expect(v2.p99).toBeGreaterThanOrEqual(SLOW_MS * 0.95);
      expect(v1.p50).toBeLessThan(SLOW_MS);
      // And the log really held what made this hard: lists of upstreams, and escaped quotes
      const written = readFileSync(accessLog, 'utf8');
      expect(written).toMatch(/502, 200/);
      expect(written).toMatch(/\\x22|\\"/);
    });
  },
);

describe.skipIf(!HAS_NGINX)(
  HAS_NGINX
    ? 'NginxLogMetricSource on a real nginx whose log_format lacks status'
    : 'NginxLogMetricSource: SKIPPED, nginx is not installed (format without status)',
  () => {
    let tmp = '';
    let nginx: TestNginx | undefined;
    let source: NginxLogMetricSource | undefined;
    let app: http.Server | undefined;

    afterAll(async () => {
      await source?.close();
      await nginx?.stop();
      app?.closeAllConnections();
      await new Promise((resolve) => (app ? app.close(resolve) : resolve(undefined)));
      if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    });

    it('reports the missing field and the log_format to add, and warns once', async () => {
      // Given nginx writing JSON lines without a status
      app = http.createServer((_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => app!.listen(0, '127.0.0.1', resolve));
      const address = `127.0.0.1:${(app.address() as net.AddressInfo).port}`;
      tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-log-'));
      nginx = await startNginx(tmp, {
        logFormat: `log_format shipcheck escape=json '{"remote_addr":"$remote_addr","request_time":"$request_time","upstream_addr":"$upstream_addr"}';`,
        locations: `location / { proxy_pass http://${address}; }`,
      });
      const warnings: string[] = [];
      source = new NginxLogMetricSource({
        accessLog: nginx.accessLog,
        versionOf: (addr) => (addr === address ? 'v1' : undefined),
        pollIntervalMs: MANUAL_POLL_MS,
        logger: { warn: (_obj, msg) => warnings.push(msg) },
      });
      await source.start();

      // When requests arrive
      for (let i = 0; i < 4; i++) expect(await get(nginx.port, '/')).toBe(200);
      const reason = async (): Promise<string> => {
        await source!.poll();
        return source!.window('v1', WINDOW_MS).then(
          () => '',
          (err: Error) => err.message,
        );
      };
      await waitFor(async () => (await reason()).startsWith('4 lines'));

      // Then the reason names the field and the format, and the log was warned once
      const message = await reason();
      expect(message).toContain('no "status" field (nor "upstream_status") (4 lines)');
      expect(message).toContain(LOG_FORMAT);
      expect(message).toContain(`access_log ${nginx.accessLog} shipcheck;`);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('no "status" field');
    });
  },
);

function get(port: number, urlPath: string, userAgent?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = userAgent === undefined ? {} : { 'user-agent': userAgent };
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers }, (res) => {
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
