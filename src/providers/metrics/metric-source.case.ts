/**
 * The contract every MetricSource passes, run by each source's own test file: the same real traffic
 * (a fixed mix of fast, failing and slow requests to one app) is read back as the same error rate and
 * p99 within a stated tolerance, and no data reads as no data, which analysis judges inconclusive.
 * What only one source does (log rotation, PromQL overrides, the ring of buckets) stays in its own file.
 */
import http from 'node:http';
import type net from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../errors.js';
import { measureMetric } from '../../analysis/triggers.js';
import type { MetricSource, WindowStats } from './types.js';

/** How long a slow request of the contract's traffic takes in its app. */
const SLOW_MS = 300;
/** Requests of the contract's traffic. */
const TRAFFIC_REQUESTS = 400;
/** Every 5th request fails with a 500: an error rate of exactly 20%. */
const FAIL_EVERY = 5;
const TRAFFIC_ERROR_RATE = 1 / FAIL_EVERY;
/** Every 20th request (never a failing one) is slow: 5% of requests, so the p99 is a slow request. */
const SLOW_EVERY = 20;
const SLOW_OFFSET = 2;
/** How far the error rate read may be from the traffic's, as a fraction (one percentage point). */
const ERROR_RATE_TOLERANCE = 0.01;
/**
 * How far the p99 read may be outside what the traffic took, as a fraction: at least SLOW_MS, at most
 * the p99 the client measured for the same requests. The slack covers a sketch's 1% relative error,
 * nginx's millisecond `request_time` and the interpolation of Prometheus inside a histogram bucket.
 */
const P99_TOLERANCE = 0.1;
/**
 * How far below the requests sent `requests` may read, as a fraction: Prometheus's increase()
 * extrapolates to the window's edges from the samples inside it, so its count is not exact.
 */
const REQUESTS_TOLERANCE = 0.1;
/** The window the contract reads: all of the traffic, sent moments before. */
export const WINDOW_MS = 60_000;
/** A window short enough that the traffic falls out of it within seconds. */
const IDLE_WINDOW_MS = 1_000;
/** A version that never served a request. */
const UNSEEN_VERSION = 'never-served';
const CLIENTS = 8;
/** Bound on sending the traffic, so a source's front end that stalls fails the test instead of hanging it. */
const TRAFFIC_DEADLINE_MS = 30_000;
const WAIT_LIMIT_MS = 20_000;
const POLL_MS = 100;
const MS_PER_SECOND = 1000;
/**
 * The app's histogram, in seconds: fine below the fast requests, then 5% steps from SLOW_MS up, as a
 * service would put its buckets around its latency objective, so interpolation stays within 5%.
 */
const LATENCY_BUCKETS_S = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  ...Array.from({ length: 15 }, (_, i) => Number(((SLOW_MS / MS_PER_SECOND) * 1.05 ** i).toFixed(4))),
];

/** The path of the `index`th request of the contract's traffic, relative to a harness's `url`. */
function trafficPath(index: number): string {
  if (index % FAIL_EVERY === FAIL_EVERY - 1) return 'fail';
  if (index % SLOW_EVERY === SLOW_OFFSET) return 'slow';
  return '';
}

/**
 * The app behind every source under contract: `/` answers 200 at once, `/fail` 500 at once, `/slow`
 * 200 after SLOW_MS. It counts its requests in `/metrics` the way an instrumented service does
 * (`http_requests_total` and `http_request_duration_seconds` by code and method, both at zero from the
 * start), for Prometheus to scrape; `service` and `version` come from the scrape's target labels.
 */
export class TrafficApp {
  private readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'Requests by status code and method.',
    labelNames: ['code', 'method'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, in seconds.',
    labelNames: ['code', 'method'],
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  /** `host:port` it listens on, once started. */
  address = '';

  /** Starts the app on a free port of 127.0.0.1. */
  static async start(): Promise<TrafficApp> {
    const app = new TrafficApp();
    for (const code of ['200', '500']) {
      app.requests.inc({ code, method: 'GET' }, 0);
      app.duration.zero({ code, method: 'GET' });
    }
    await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
    app.address = `127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
    return app;
  }

  /** Stops the app, cutting its open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const urlPath = (req.url ?? '/').split('?')[0];
    if (urlPath === '/metrics') {
      void this.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
      });
      return;
    }
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const labels = { code: String(res.statusCode), method: req.method ?? 'GET' };
      this.requests.inc(labels);
      this.duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (urlPath === '/fail') res.writeHead(500).end('failed on purpose');
    else if (urlPath === '/slow') setTimeout(() => res.end('slow'), SLOW_MS);
    else res.end('ok');
  }
}

/** A source under contract, started once per test file, fed by the contract's traffic. */
export interface MetricSourceHarness {
  source: MetricSource;
  /**
   * Base URL ending in `/`: `url`, `url + 'fail'` and `url + 'slow'` reach a TrafficApp through whatever
   * feeds the source (the built-in proxy, nginx), or the app itself for a source that scrapes it.
   */
  url: string;
  /** The version the source records the traffic under. */
  version: string;
  /** Resolves once the source has seen `requests` requests of `version`; rejects after a bound. */
  settle(requests: number): Promise<void>;
}

/** How a source takes part in the contract. */
export interface MetricSourceContractOptions {
  /** The started source; asked inside each test, after the file's own setup has run. */
  harness: () => MetricSourceHarness;
  /**
   * A started source of the same kind that cannot reach its data (the server down, the log unreadable),
   * or why the source can never be in that state.
   */
  unreachable: (() => Promise<MetricSource>) | { never: string };
}

/** Sends the contract's traffic to `url`, CLIENTS at a time; returns the latency the client saw per request. */
async function sendTraffic(url: string): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  const deadline = Date.now() + TRAFFIC_DEADLINE_MS;
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < TRAFFIC_REQUESTS && Date.now() < deadline) {
      const index = next++;
      const started = performance.now();
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.get(`${url}${trafficPath(index)}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      latencies.push(performance.now() - started);
      expect(status, `status of ${url}${trafficPath(index)}`).toBe(trafficPath(index) === 'fail' ? 500 : 200);
    }
  };
  try {
    await Promise.all(Array.from({ length: CLIENTS }, client));
  } finally {
    agent.destroy();
  }
  expect(latencies, 'requests answered before the deadline').toHaveLength(TRAFFIC_REQUESTS);
  return latencies;
}

/** The nearest-rank quantile of `values`. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** What analysis makes of `source` for `version`: the verdicts of an error-rate and a p99 trigger. */
async function verdicts(source: MetricSource, version: string, windowMs: number): Promise<string[]> {
  const base = { window: windowMs, for: 0, minRequests: 1 };
  const rate = await measureMetric({ metric: 'error_rate', above: 0.05, ...base }, source, version);
  const p99 = await measureMetric({ metric: 'latency_p99', above: 2 * SLOW_MS, ...base }, source, version);
  return [rate.verdict, p99.verdict];
}

/** No requests and no quantiles: what a source answers when it has no data for a window. */
function expectNoData(stats: WindowStats): void {
  expect(stats).toMatchObject({ requests: 0, errors: 0, rps: 0 });
  expect([stats.p50, stats.p90, stats.p95, stats.p99]).toEqual([undefined, undefined, undefined, undefined]);
}

/** The contract every MetricSource implementation passes. */
export function runMetricSourceContract(name: string, options: MetricSourceContractOptions): void {
  describe(`MetricSource contract: ${name}`, () => {
    it(`reads the traffic's error rate within ${ERROR_RATE_TOLERANCE * 100} point and its p99 within ${P99_TOLERANCE * 100}%`, async () => {
      const { source, url, version, settle } = options.harness();
      const latencies = await sendTraffic(url);
      await settle(TRAFFIC_REQUESTS);

      const stats = await source.window(version, WINDOW_MS);
      const clientP99 = quantile(latencies, 0.99);
      // Every request took at least as long as the app made it wait; none longer than the client saw.
      expect(clientP99).toBeGreaterThanOrEqual(SLOW_MS);
      expect(stats.requests).toBeGreaterThanOrEqual(TRAFFIC_REQUESTS * (1 - REQUESTS_TOLERANCE));
      expect(Math.abs(stats.errors / stats.requests - TRAFFIC_ERROR_RATE)).toBeLessThanOrEqual(
        ERROR_RATE_TOLERANCE,
      );
      expect(stats.p99).toBeGreaterThanOrEqual(SLOW_MS * (1 - P99_TOLERANCE));
      expect(stats.p99).toBeLessThanOrEqual(clientP99 * (1 + P99_TOLERANCE));
      // A real quantile, not one latency for all: half the requests were fast.
      expect(stats.p50).toBeLessThan(SLOW_MS / 2);
      // The p95 (which baselines record) lies between them; 5% of requests were slow, so it may be either.
      expect(stats.p95).toBeGreaterThanOrEqual(stats.p50!);
      expect(stats.p95).toBeLessThanOrEqual(stats.p99!);
    });

    it('reads no data as no requests and no quantiles, which analysis judges inconclusive', async () => {
      const { source, version } = options.harness();
      expectNoData(await source.window(UNSEEN_VERSION, WINDOW_MS));
      expect(await verdicts(source, UNSEEN_VERSION, WINDOW_MS)).toEqual(['inconclusive', 'inconclusive']);

      // A version whose traffic has left the window is no different.
      const deadline = Date.now() + WAIT_LIMIT_MS;
      while ((await source.window(version, IDLE_WINDOW_MS)).requests > 0) {
        if (Date.now() > deadline) throw new Error(`${version} still has requests in a 1s window`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      expectNoData(await source.window(version, IDLE_WINDOW_MS));
    });

    const { unreachable } = options;
    if (typeof unreachable === 'function') {
      it('fails with ProviderError when it cannot reach its data, which analysis judges inconclusive', async () => {
        const source = await unreachable();
        try {
          await expect(source.window(UNSEEN_VERSION, WINDOW_MS)).rejects.toBeInstanceOf(ProviderError);
          expect(await verdicts(source, UNSEEN_VERSION, WINDOW_MS)).toEqual(['inconclusive', 'inconclusive']);
        } finally {
          await source.close?.();
        }
      });
    } else {
      // Nothing to cut it off from: what the contract asks is that it still answers, never a ProviderError.
      it(`always answers, as it cannot be cut off from its data: ${unreachable.never}`, async () => {
        const { source } = options.harness();
        await expect(source.window(UNSEEN_VERSION, WINDOW_MS)).resolves.toMatchObject({ requests: 0 });
      });
    }
  });
}
