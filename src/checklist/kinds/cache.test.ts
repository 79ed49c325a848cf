import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DemoCache,
  findVarnishd,
  processesNaming,
  startVarnish,
} from '../../cli/commands/demo-cache.js';
import { freePort } from '../../util/net.js';
import { testContext } from '../../../test/support/check-context.js';
import {
  cacheCheck,
  cachingProblems,
  parseCacheControl,
  readVarnishCounters,
  type CacheParams,
} from './cache.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const varnishd = findVarnishd();
const missingVarnish =
  'varnishd is not installed (Debian: apt-get install -y varnish), so the cache check cannot be tested against a real Varnish';
if (varnishd === undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the cache Varnish tests: ${missingVarnish}`);

/** Caches every 200 for five minutes (as the demo's cache does), leaving uncacheable responses to the built-in VCL. */
function cachingVcl(originPort: number): string {
  return `vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "${originPort}"; }
sub vcl_backend_response {
  if (beresp.status == 200 && !beresp.http.Set-Cookie && beresp.http.Cache-Control !~ "(private|no-store|no-cache)") {
    set beresp.ttl = 5m;
  }
}
`;
}

/** A misconfigured cache: every object expires at once, so every lookup misses. */
function missingVcl(originPort: number): string {
  return `vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "${originPort}"; }
sub vcl_backend_response {
  set beresp.ttl = 0s;
  set beresp.grace = 0s;
  set beresp.keep = 0s;
  return (deliver);
}
`;
}

/** Longest wait for Varnish's shared counters to catch up with the requests a test sent. */
const SETTLE_MS = 10_000;

const ROUTES: Record<string, Record<string, string>> = {
  '/static': {
    'Cache-Control': 'public, max-age=300',
    ETag: '"v1"',
    'Last-Modified': 'Sun, 01 Nov 2026 10:00:00 GMT',
    Vary: 'Accept-Encoding',
  },
  '/short': { 'Cache-Control': 'public, max-age=10' },
  '/shared': { 'Cache-Control': 'public, max-age=10, s-maxage=3600' },
  '/private': { 'Cache-Control': 'private, no-cache' },
  '/nostore': { 'Cache-Control': 'no-store' },
  '/cookie': { 'Cache-Control': 'public, max-age=300', 'Set-Cookie': 'session=1' },
  '/bare': {},
};

function params(input: Record<string, unknown>): CacheParams {
  return cacheCheck.params.parse(input);
}

describe.runIf(varnishd === undefined && REQUIRE_REAL)('cache against Varnish (required)', () => {
  it('has varnishd because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(missingVarnish);
  });
});

describe('cache: params and header rules', () => {
  it('takes URLs as text or objects, and needs urls or varnish', () => {
    expect(
      params({ urls: ['/a', { url: 'https://cdn.example.com/b', maxAge: '1h', expect: 'public' }] }),
    ).toEqual({
      urls: [{ url: '/a' }, { url: 'https://cdn.example.com/b', maxAge: 3_600_000, expect: 'public' }],
      timeout: 10_000,
    });
    expect(params({ varnish: {} }).varnish).toEqual({ minHitRatio: 0.8, minRequests: 100 });
    expect(params({ varnish: { minHitRatio: '95%' } }).varnish?.minHitRatio).toBe(0.95);
    expect(cacheCheck.params.safeParse({}).success).toBe(false);
    expect(cacheCheck.params.safeParse({ urls: ['ftp://x/'] }).success).toBe(false);
    expect(cacheCheck.params.safeParse({ urls: [{ url: '/a', expect: 'forever' }] }).success).toBe(false);
  });

  it('reads Cache-Control directives', () => {
    expect([...parseCacheControl('Public, MAX-AGE=60, s-maxage="120", no-transform')]).toEqual([
      ['public', ''],
      ['max-age', '60'],
      ['s-maxage', '120'],
      ['no-transform', ''],
    ]);
  });

  it('counts Expires from the response Date when there is no max-age', () => {
    const headers = { expires: 'Sun, 06 Dec 2026 12:10:00 GMT', date: 'Sun, 06 Dec 2026 12:00:00 GMT' };
    expect(cachingProblems({ url: '/', maxAge: 300_000 }, headers)).toEqual([]);
    expect(cachingProblems({ url: '/', maxAge: 3_600_000 }, headers)).toEqual([
      'cacheable for 10m, expected at least 1h',
    ]);
  });

  it('reads both varnishstat -j layouts', () => {
    // Varnish 6 and earlier put the counters at the top level; only Varnish 7 is installed here, so
    // this document is written by hand in the shape varnishstat 6.x prints.
    const six = {
      timestamp: '2026-12-06T12:00:00',
      'MAIN.cache_hit': { description: 'Cache hits', flag: 'c', format: 'i', value: 90 },
      'MAIN.cache_miss': { description: 'Cache misses', flag: 'c', format: 'i', value: 10 },
    };
    expect(readVarnishCounters(six)).toEqual({ hits: 90, misses: 10 });
    const seven = { version: 1, timestamp: '2026-12-06T12:00:00', counters: six };
    expect(readVarnishCounters(seven)).toEqual({ hits: 90, misses: 10 });
    expect(readVarnishCounters({ counters: {} })).toBeUndefined();
    expect(readVarnishCounters('no')).toBeUndefined();
  });
});

describe('cache headers from a real origin', () => {
  let origin: http.Server;
  let originUrl: string;

  beforeAll(async () => {
    origin = http.createServer((req, res) => {
      const headers = ROUTES[req.url ?? ''];
      if (headers === undefined) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('broken\n');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain', ...headers });
      res.end(`origin ${req.url}\n`);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as net.AddressInfo).port}`;
  });

  afterAll(async () => {
    origin?.closeAllConnections();
    await new Promise((resolve) => origin?.close(resolve));
  });

  const run = (input: Record<string, unknown>) =>
    cacheCheck.run(params(input), testContext({ proxyUrl: originUrl }));

  it('passes URLs that state what they expect, through the proxy for paths', async () => {
    const result = await run({
      urls: [
        '/static',
        { url: '/static', expect: 'public', maxAge: '5m' },
        { url: '/shared', expect: 'public', maxAge: '1h' },
        { url: '/private', expect: 'private' },
        { url: `${originUrl}/nostore`, expect: 'no-store' },
      ],
    });
    expect(result.ok).toBe(true);
    expect(result.summary).toContain(
      `${originUrl}/static: 200 Cache-Control "public, max-age=300", ETag, Last-Modified, Vary "Accept-Encoding"`,
    );
    const urls = result.data?.urls as { url: string; headers: Record<string, string> }[];
    expect(urls[0]?.headers).toMatchObject({
      'cache-control': 'public, max-age=300',
      etag: '"v1"',
      'last-modified': 'Sun, 01 Nov 2026 10:00:00 GMT',
      vary: 'Accept-Encoding',
    });
  });

  it('fails each URL that lacks what it expects, saying what', async () => {
    const result = await run({
      urls: [
        { url: '/short', maxAge: '1m' },
        { url: '/nostore', expect: 'public' },
        { url: '/private', expect: 'public' },
        { url: '/static', expect: 'no-store' },
        { url: '/cookie', expect: 'public' },
        '/bare',
        '/static',
      ],
    });
    expect(result.ok).toBe(false);
    expect(result.inconclusive).toBeUndefined();
    expect(result.value).toBe(6);
    const problems = (result.data?.urls as { problems: string[] }[]).map((u) => u.problems);
    expect(problems).toEqual([
      ['cacheable for 10s, expected at least 1m'],
      ['no-store where public is expected'],
      ['private where public is expected', 'no-cache where public is expected'],
      ['expected no-store'],
      ['Set-Cookie on a response shared caches should keep'],
      ['no caching policy: no Cache-Control or Expires'],
      [],
    ]);
    // The summary names the six that fail; the output lists every URL.
    expect(result.summary.match(/: 200 /g)).toHaveLength(6);
    expect(result.output?.split('\n')).toHaveLength(7);
  });

  it('is inconclusive when a URL does not answer or answers with an error, unless another fails', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const unsure = await run({ urls: [closed, '/missing', '/static'] });
    expect(unsure.ok).toBe(false);
    expect(unsure.inconclusive).toBe(true);
    expect(unsure.summary).toMatch(
      new RegExp(`^${closed}: .*ECONNREFUSED.*; ${originUrl}/missing: 500, answered 500$`),
    );

    const noProxy = await cacheCheck.run(params({ urls: ['/static'] }), testContext({ proxyUrl: '' }));
    expect(noProxy).toMatchObject({
      inconclusive: true,
      summary: '/static: a path needs the built-in proxy; give an absolute URL',
    });

    const failed = await run({ urls: [closed, '/bare'] });
    expect(failed.inconclusive).toBeUndefined();
    expect(failed.summary).toMatch(
      /^\S+\/bare: 200 Cache-Control absent \(no caching policy: no Cache-Control or Expires\); \S+: .*ECONNREFUSED/,
    );
  });
});

describe.runIf(varnishd !== undefined)('cache against a real Varnish', () => {
  let tempDir: string;
  let origin: http.Server;
  let good: DemoCache | undefined;
  let bad: DemoCache | undefined;

  beforeAll(async () => {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-cache-'));
    fs.mkdirSync(path.join(tempDir, 'good'));
    fs.mkdirSync(path.join(tempDir, 'bad'));
    origin = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', ...(ROUTES[req.url ?? ''] ?? ROUTES['/static']) });
      res.end(`origin ${req.url}\n`);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const port = (origin.address() as net.AddressInfo).port;
    [good, bad] = await Promise.all([
      startVarnish(port, path.join(tempDir, 'good'), cachingVcl(port)),
      startVarnish(port, path.join(tempDir, 'bad'), missingVcl(port)),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([good?.stop(), bad?.stop()]);
    origin?.closeAllConnections();
    await new Promise((resolve) => origin?.close(resolve));
    const left = tempDir === undefined ? [] : processesNaming(tempDir);
    if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
    expect(left, 'varnish processes left running').toEqual([]);
  });

  /** `count` GETs of `url`, a few at a time. */
  async function traffic(url: string, count: number): Promise<void> {
    for (let i = 0; i < count; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, count - i) }, () => fetch(url).then((r) => r.arrayBuffer())),
      );
    }
  }

  const name = (which: string): string => path.join(tempDir, which, 'varnish');

  /**
   * Runs the check until Varnish's counters show `lookups` hits and misses: a worker adds its counts
   * to the shared ones a moment after it served them.
   */
  async function runSettled(input: Record<string, unknown>, lookups: number) {
    const until = Date.now() + SETTLE_MS;
    for (;;) {
      const result = await cacheCheck.run(params(input), testContext());
      const counted = result.data?.varnish as { hits?: number; misses?: number } | undefined;
      if ((counted?.hits ?? 0) + (counted?.misses ?? 0) >= lookups || Date.now() > until) return result;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('is inconclusive under minRequests, then passes once the cache is warm', async () => {
    const cold = await cacheCheck.run(params({ varnish: { name: name('good') } }), testContext());
    expect(cold.inconclusive).toBe(true);
    expect(cold.summary).toMatch(
      /: \d+ lookups \(\d+ hits, \d+ misses\), fewer than minRequests 100 to judge the hit ratio$/,
    );

    await traffic(`${good!.url}/static`, 1);
    await traffic(`${good!.url}/static`, 300);
    const warm = await runSettled(
      { urls: [`${good!.url}/static`], varnish: { name: name('good'), minHitRatio: 0.8 } },
      301,
    );
    expect(warm.summary).toMatch(/hit ratio (9\d|100)\.\d% \(\d+ hits, \d+ misses\), at least 80%$/);
    expect(warm.ok).toBe(true);
    const varnish = warm.data?.varnish as { hits: number; misses: number; hitRatio: number };
    expect(varnish.hits).toBeGreaterThanOrEqual(300);
    // Varnish's own Age header shows the object came from the cache.
    const urls = warm.data?.urls as { headers: Record<string, string> }[];
    expect(urls[0]?.headers.age).toMatch(/^\d+$/);
  });

  it('fails a cache whose configuration makes every lookup miss', async () => {
    await traffic(`${bad!.url}/static`, 150);
    const result = await runSettled({ varnish: { name: name('bad') } }, 150);
    expect(result.ok).toBe(false);
    expect(result.inconclusive).toBeUndefined();
    expect(result.summary).toMatch(/^Varnish \S+: hit ratio \d\.\d% \(\d+ hits, \d+ misses\), below 80%$/);
  });

  it('is inconclusive when varnishstat cannot reach the instance', async () => {
    const result = await cacheCheck.run(
      params({ varnish: { name: path.join(tempDir, 'none') }, timeout: '2s' }),
      testContext(),
    );
    expect(result.inconclusive).toBe(true);
    expect(result.summary).toMatch(/^Varnish \S+: varnishstat failed: /);
  });
});
