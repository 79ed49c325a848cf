import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../../errors.js';
import {
  hasPrometheus,
  type RunningPrometheus,
  startPrometheus,
} from '../../../../test/support/prometheus.js';
import { runMetricSourceContract, TrafficApp } from '../metric-source.case.js';
import type { WindowStats } from '../types.js';
import { PrometheusMetricSource, renderQuery } from './prometheus-metric-source.js';
import { prometheusTargets } from './prometheus-sd.js';

const SECOND = 1000;
const WINDOW_MS = 30 * SECOND;
const SERVICE = 'web';
/** Short enough that the timeout test is quick, long enough that a local Prometheus always answers. */
const SHORT_TIMEOUT_MS = 300;

// ---------------------------------------------------------------------------------------------
// Small real servers shared by the tests.

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on: bound once by the OS, then released. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fetch that answers every query with `body`, recording the PromQL it was asked. */
function fakePrometheus(answer: (promql: string) => unknown, status = 200) {
  const asked: string[] = [];
  const fetchFn: typeof fetch = async (input) => {
    const promql = new URL(String(input)).searchParams.get('query') ?? '';
    asked.push(promql);
    return new Response(JSON.stringify(answer(promql)), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { fetch: fetchFn, asked };
}

function vector(value: string) {
  return { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, value] }] } };
}
const EMPTY_VECTOR = { status: 'success', data: { resultType: 'vector', result: [] } };

function source(url: string, extra: Partial<ConstructorParameters<typeof PrometheusMetricSource>[0]> = {}) {
  return new PrometheusMetricSource({ url, service: SERVICE, ...extra });
}

// ---------------------------------------------------------------------------------------------

describe('PrometheusMetricSource answers', () => {
  it('renders templates with escaped labels and the window in seconds, and uses overrides', async () => {
    expect(
      renderQuery('x{service="{{service}}",version="{{version}}"}[{{window}}]', 'w', 'a"b\\', 60_000),
    ).toBe('x{service="w",version="a\\"b\\\\"}[60s]');
    expect(renderQuery('[{{window}}]', 'w', 'v', 1500)).toBe('[1500ms]');

    const prom = fakePrometheus(() => vector('0'));
    await source('http://prom/', {
      fetch: prom.fetch,
      queries: { requests: 'my_requests{v="{{version}}"}' },
    }).window('v7', WINDOW_MS);
    expect(prom.asked).toContain('my_requests{v="v7"}');
    expect(prom.asked.some((q) => q.startsWith('histogram_quantile(0.99,') && q.includes('[30s]'))).toBe(
      true,
    );
  });

  it('turns NaN (0/0 over an idle window) into zero requests and no quantiles', async () => {
    const prom = fakePrometheus((q) => (q.startsWith('sum(increase') ? vector('0') : vector('NaN')));
    await expect(source('http://prom', { fetch: prom.fetch }).window('v1', WINDOW_MS)).resolves.toEqual({
      requests: 0,
      errors: 0,
      byClass: { '5xx': 0, total: 0 },
      p50: undefined,
      p90: undefined,
      p95: undefined,
      p99: undefined,
      rps: 0,
    } satisfies WindowStats);
  });

  it('fills errors from the error rate and latencies in milliseconds', async () => {
    const values: Record<string, string> = {
      'sum(increase': '200',
      '(sum(rate': '0.25',
      'sum(rate(': '6.5',
      'histogram_quantile(0.5,': '12',
      'histogram_quantile(0.9,': '40',
      'histogram_quantile(0.95,': '55',
      'histogram_quantile(0.99,': '+Inf',
    };
    const prom = fakePrometheus((q) => vector(Object.entries(values).find(([p]) => q.startsWith(p))![1]));
    await expect(source('http://prom', { fetch: prom.fetch }).window('v1', WINDOW_MS)).resolves.toEqual({
      requests: 200,
      errors: 50,
      byClass: { '5xx': 50, total: 200 },
      p50: 12,
      p90: 40,
      p95: 55,
      // An infinite quantile is no number to compare; it reads as "no value" (inconclusive), not a pass.
      p99: undefined,
      rps: 6.5,
    });
  });

  it('throws when a custom requests query finds no series, rather than reporting zero traffic', async () => {
    const prom = fakePrometheus(() => EMPTY_VECTOR);
    await expect(source('http://prom', { fetch: prom.fetch }).window('v1', WINDOW_MS)).rejects.toThrow(
      /requests query for web v1 returned no series; check metrics.queries.requests/,
    );
  });

  it('throws when requests were counted but the error rate is missing', async () => {
    const prom = fakePrometheus((q) => (q.startsWith('sum(increase') ? vector('50') : EMPTY_VECTOR));
    await expect(source('http://prom', { fetch: prom.fetch }).window('v1', WINDOW_MS)).rejects.toThrow(
      /error_rate query for web v1 returned no series while the requests query counted 50/,
    );
  });

  it('throws on status: error, several series, and a JSON answer that is not a query result', async () => {
    const rejected = fakePrometheus(
      () => ({ status: 'error', errorType: 'bad_data', error: 'parse error' }),
      400,
    );
    await expect(source('http://prom', { fetch: rejected.fetch }).window('v1', WINDOW_MS)).rejects.toThrow(
      /Prometheus rejected the \w+ query \(HTTP 400, bad_data\): parse error/,
    );

    const twoSeries = {
      status: 'success',
      data: { resultType: 'vector', result: [{ value: [1, '1'] }, { value: [1, '2'] }] },
    };
    const several = fakePrometheus(() => twoSeries);
    await expect(source('http://prom', { fetch: several.fetch }).window('v1', WINDOW_MS)).rejects.toThrow(
      /returned 2 series, expected one; aggregate it with sum\(\)/,
    );

    const other = fakePrometheus(() => ({ ok: true }), 503);
    await expect(source('http://prom', { fetch: other.fetch }).window('v1', WINDOW_MS)).rejects.toThrow(
      /metrics.url answered HTTP 503 without a Prometheus query result/,
    );
  });
});

describe('PrometheusMetricSource over real HTTP failures', () => {
  const servers: http.Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map(close));
  });

  it('throws a ProviderError naming the URL when nothing listens there', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const error = await source(url)
      .window('v1', WINDOW_MS)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as Error).message).toBe(`cannot reach metrics.url ${url}: ECONNREFUSED`);
  });

  it('throws a ProviderError saying so when the URL answers an HTML page', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Grafana</title>');
    });
    servers.push(server);
    const error = await source(`http://${await listen(server)}`)
      .window('v1', WINDOW_MS)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as Error).message).toMatch(
      /^metrics.url answered HTML, not the Prometheus API \(HTTP 200 from/,
    );
  });

  it('throws a ProviderError when the URL does not answer within the timeout', async () => {
    // Accepts the request and never answers, like a hung proxy in front of Prometheus.
    const server = http.createServer(() => undefined);
    servers.push(server);
    const url = `http://${await listen(server)}`;
    const error = await source(url, { timeoutMs: SHORT_TIMEOUT_MS })
      .window('v1', WINDOW_MS)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as Error).message).toBe(`metrics.url ${url} did not answer within 300ms (metrics.timeout)`);
  });
});

// ---------------------------------------------------------------------------------------------
// Against one real Prometheus, shared by the tests below: it scrapes two real app servers of `web`
// found through HTTP service discovery, and the metric source contract's traffic app.

const HAS_PROMETHEUS = hasPrometheus();
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const MISSING_REASON =
  'SKIPPED: no `prometheus` binary on PATH (install it with `apt-get install prometheus`; ' +
  'set SHIPCHECK_REQUIRE_REAL=1 to make this a failure)';

/** Histogram bounds in seconds, the usual client-library defaults. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const TRAFFIC_TICK_MS = 100;
const REQUESTS_PER_TICK = 10;
/** Enough requests that rounding `errors` moves the error rate by at most 0.25%. */
const ENOUGH_REQUESTS = 200;
const SCRAPED_TIMEOUT_MS = 20 * SECOND;
const POLL_MS = 250;
/** Scrape, evaluation and service discovery interval of the test's Prometheus. */
const SCRAPE_INTERVAL = '1s';
/** The contract's traffic app, as Prometheus labels it through service discovery. */
const CONTRACT_SERVICE = 'contract';
const CONTRACT_VERSION = 'v1';

/** An app's `/metrics`: a request counter by status code and a latency histogram, in text format. */
class AppMetrics {
  private readonly codes = new Map<number, number>();
  private readonly bucketCounts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  private count = 0;
  private sum = 0;

  constructor(
    private readonly service: string,
    private readonly version: string,
  ) {}

  record(code: number, seconds: number): void {
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    const bucket = LATENCY_BUCKETS.findIndex((le) => seconds <= le);
    if (bucket >= 0) this.bucketCounts[bucket]! += 1;
    this.count += 1;
    this.sum += seconds;
  }

  render(): string {
    const base = `service="${this.service}",version="${this.version}"`;
    const lines = ['# TYPE http_requests_total counter'];
    for (const [code, n] of this.codes) lines.push(`http_requests_total{${base},code="${code}"} ${n}`);
    lines.push('# TYPE http_request_duration_seconds histogram');
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += this.bucketCounts[i]!;
      lines.push(`http_request_duration_seconds_bucket{${base},le="${le}"} ${cumulative}`);
    });
    lines.push(`http_request_duration_seconds_bucket{${base},le="+Inf"} ${this.count}`);
    lines.push(`http_request_duration_seconds_sum{${base}} ${this.sum}`);
    lines.push(`http_request_duration_seconds_count{${base}} ${this.count}`);
    return `${lines.join('\n')}\n`;
  }
}

function metricsServer(metrics: AppMetrics): http.Server {
  return http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
  });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it holds, failing with `what` and Prometheus's log after SCRAPED_TIMEOUT_MS. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  prometheus: RunningPrometheus,
): Promise<void> {
  const deadline = Date.now() + SCRAPED_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${prometheus.log()}`);
    await sleep(POLL_MS);
  }
}

/** The contract app's request counter as last scraped, or undefined before its first scrape. */
async function scrapedRequests(prometheus: RunningPrometheus): Promise<number | undefined> {
  const promql = `sum(http_requests_total{service="${CONTRACT_SERVICE}",version="${CONTRACT_VERSION}"})`;
  const answer = (await (
    await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`)
  ).json()) as {
    data: { result: { value: [number, string] }[] };
  };
  const sample = answer.data.result[0];
  return sample === undefined ? undefined : Number(sample.value[1]);
}

// A missing binary is a loud warning, or a failure when a real Prometheus is required.
if (!HAS_PROMETHEUS && !REQUIRE_REAL) console.warn(`prometheus-metric-source.test.ts: ${MISSING_REASON}`);
describe.runIf(!HAS_PROMETHEUS && REQUIRE_REAL)(
  'PrometheusMetricSource against a real Prometheus (required)',
  () => {
    it('needs the prometheus binary because SHIPCHECK_REQUIRE_REAL=1', () => {
      throw new Error(
        'no `prometheus` binary on PATH and SHIPCHECK_REQUIRE_REAL=1; apt-get install prometheus',
      );
    });
  },
);

describe.runIf(HAS_PROMETHEUS)('against a real Prometheus', () => {
  const good = new AppMetrics(SERVICE, 'v1');
  const bad = new AppMetrics(SERVICE, 'v2');
  const servers: http.Server[] = [];
  let traffic: ReturnType<typeof setInterval> | undefined;
  let app: TrafficApp | undefined;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    // Given a good v1 (all 200 in 20 ms) and a bad v2 (every fifth request a 500 taking 2 s)...
    traffic = setInterval(() => {
      for (let i = 0; i < REQUESTS_PER_TICK; i++) {
        good.record(200, 0.02);
        if (i % 5 === 0) bad.record(500, 2);
        else bad.record(200, 0.05);
      }
    }, TRAFFIC_TICK_MS);
    const goodServer = metricsServer(good);
    const badServer = metricsServer(bad);
    servers.push(goodServer, badServer);
    const [goodAddress, badAddress] = await Promise.all([listen(goodServer), listen(badServer)]);
    app = await TrafficApp.start();

    // ...found by Prometheus through shipcheck's HTTP SD output, with one exited canary left out.
    const targets = prometheusTargets([
      {
        service: SERVICE,
        environment: 'test',
        stable: 'v1',
        canary: 'v2',
        instances: [
          { address: goodAddress, version: 'v1', state: 'ready' },
          { address: badAddress, version: 'v2', state: 'ready' },
          { address: `127.0.0.1:${await freePort()}`, version: 'v2', state: 'exited' },
        ],
      },
      {
        service: CONTRACT_SERVICE,
        environment: null,
        stable: CONTRACT_VERSION,
        canary: undefined,
        instances: [{ address: app.address, version: CONTRACT_VERSION, state: 'ready' }],
      },
    ]);
    const sd = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(targets));
    });
    servers.push(sd);
    const sdAddress = await listen(sd);
    prometheus = await startPrometheus({
      port: await freePort(),
      sdUrls: [`http://${sdAddress}/api/v1/sd/prometheus`],
      interval: SCRAPE_INTERVAL,
    });
    // The contract's traffic must start after a scrape at zero, or rate() would miss its beginning.
    const running = prometheus;
    await waitFor(
      'a scrape of the contract app',
      async () => (await scrapedRequests(running)) === 0,
      running,
    );
  });

  afterAll(async () => {
    clearInterval(traffic);
    await prometheus?.stop();
    await Promise.all(servers.map(close));
    await app?.close();
  });

  describe('PrometheusMetricSource against a real Prometheus', () => {
    let v1: WindowStats;
    let v2: WindowStats;

    beforeAll(async () => {
      // When Prometheus has scraped enough of both versions...
      const metrics = source(prometheus!.url);
      await waitFor(
        `${ENOUGH_REQUESTS} requests of v1 and v2`,
        async () => {
          [v1, v2] = await Promise.all([metrics.window('v1', WINDOW_MS), metrics.window('v2', WINDOW_MS)]);
          return v1.requests >= ENOUGH_REQUESTS && v2.requests >= ENOUGH_REQUESTS;
        },
        prometheus!,
      );
    });

    it('then reads v2 error rate as 20% and v1 as 0%', () => {
      expect(Math.abs(v2.errors / v2.requests - 0.2)).toBeLessThan(0.01);
      expect(v2.byClass).toEqual({ '5xx': v2.errors, total: v2.requests });
      expect(v1.errors).toBe(0);
      expect(v1.rps).toBeGreaterThan(0);
    });

    it('then reads v2 p99 in seconds territory, well above v1', () => {
      expect(v1.p99).toBeGreaterThan(0);
      expect(v1.p99).toBeLessThan(50);
      expect(v2.p99).toBeGreaterThan(1000);
      expect(v2.p99!).toBeGreaterThan(v1.p99!);
      expect(v2.p50).toBeLessThan(v2.p99!);
    });

    it('then carries the SD labels on the scraped series, without the exited instance', async () => {
      const answer = (await (
        await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent('up{role="canary"}')}`)
      ).json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      expect(answer.data.result).toHaveLength(1);
      expect(answer.data.result[0]!.metric).toMatchObject({
        service: SERVICE,
        version: 'v2',
        role: 'canary',
        environment: 'test',
      });
      expect(answer.data.result[0]!.value[1]).toBe('1');
    });

    it('then throws on a query Prometheus rejects and on one that finds no series', async () => {
      const broken = source(prometheus!.url, {
        queries: { requests: 'sum(rate(http_requests_total[{{window}}]' },
      });
      await expect(broken.window('v1', WINDOW_MS)).rejects.toThrow(
        /Prometheus rejected the requests query \(HTTP 400, bad_data\)/,
      );
      const typo = source(prometheus!.url, {
        queries: { requests: 'sum(increase(http_request_total[{{window}}]))' },
      });
      await expect(typo.window('v1', WINDOW_MS)).rejects.toThrow(
        /requests query for web v1 returned no series/,
      );
    });
  });

  runMetricSourceContract('prometheus', {
    harness: () => ({
      source: new PrometheusMetricSource({ url: prometheus!.url, service: CONTRACT_SERVICE }),
      url: `http://${app!.address}/`,
      version: CONTRACT_VERSION,
      settle: (requests) =>
        waitFor(
          `a scrape of ${requests} requests`,
          async () => (await scrapedRequests(prometheus!)) === requests,
          prometheus!,
        ),
    }),
    unreachable: async () => source(`http://127.0.0.1:${await freePort()}`),
  });
});
