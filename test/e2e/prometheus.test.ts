import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import {
  DEFAULT_PROMETHEUS_QUERIES,
  renderQuery,
} from '../../src/providers/metrics/prometheus/prometheus-metric-source.js';
import { freePort } from '../../src/util/net.js';
import { hasPrometheus, type RunningPrometheus, Scenario, startPrometheus, waitFor } from './harness.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const HAS_PROMETHEUS = hasPrometheus();
if (!HAS_PROMETHEUS && !REQUIRE_REAL) {
  console.warn(
    'SKIPPING the Prometheus end-to-end test: no `prometheus` binary on PATH ' +
      '(apt-get install prometheus; SHIPCHECK_REQUIRE_REAL=1 makes this a failure)',
  );
}

/** Scrape, rule evaluation and SD refresh interval of the test's Prometheus. */
const SCRAPE_INTERVAL = '1s';
/** Ten scrapes per window; rate() needs at least two samples in it. */
const WINDOW = '10s';
const WINDOW_MS = 10_000;
/** 60 rps with half going to the canary: ~30 requests per second of window once Prometheus has two scrapes. */
const MIN_REQUESTS = 20;
const TRIGGERS =
  `[{metric: error_rate, above: 5%, window: ${WINDOW}, minRequests: ${MIN_REQUESTS}},` +
  ` {metric: latency_p99, above: 2s, window: ${WINDOW}, minRequests: ${MIN_REQUESTS}}]`;
/**
 * The pause is long enough for Prometheus to see the canary's errors several times over; a timed
 * pause only ends on a fresh pass of every metric trigger, so a canary it measures as failing never
 * gets past it, and only the trigger can end the release.
 */
const STEPS = '[{setWeight: 50}, {pause: 15s}]';
/**
 * Prometheus hands new SD targets to its scrapers at most every 5 s, then needs two scrapes, so a
 * fresh canary reads as 0 requests for several seconds; those inconclusive evaluations are tolerated
 * for 30 s rather than pausing the release.
 */
const ANALYSIS = 'analysis: { interval: 500ms, inconclusiveLimit: 60 }';

interface Measurement {
  metric: string;
  version: string;
  verdict: string;
  value: number | null;
  requests: number;
  message: string;
  inputs: Record<string, unknown>;
}

interface PrometheusTarget {
  labels: Record<string, string>;
  health: string;
  scrapeUrl: string;
}

async function measurements(s: Scenario, releaseId: number): Promise<Measurement[]> {
  const res = await s.api(`/api/v1/releases/${releaseId}/measurements`);
  return ((await res.json()) as { measurements: Measurement[] }).measurements;
}

async function activeTargets(prometheus: RunningPrometheus): Promise<PrometheusTarget[]> {
  const res = await fetch(`${prometheus.url}/api/v1/targets?state=active`);
  return ((await res.json()) as { data: { activeTargets: PrometheusTarget[] } }).data.activeTargets;
}

describe.runIf(HAS_PROMETHEUS || REQUIRE_REAL)('a canary judged through Prometheus alone', () => {
  let s: Scenario | undefined;
  let prometheus: RunningPrometheus | undefined;
  let load: LoadGenerator | undefined;

  beforeAll(async () => {
    if (!HAS_PROMETHEUS) throw new Error('no `prometheus` binary on PATH, and SHIPCHECK_REQUIRE_REAL=1');
    // Given shipcheck reading its trigger metrics from a real Prometheus...
    const prometheusPort = await freePort();
    s = await Scenario.create({
      faults: { v2: { errorRate: 0.3 } },
      steps: STEPS,
      triggers: TRIGGERS,
      analysis: ANALYSIS,
      extra: `metrics: { kind: prometheus, url: "http://127.0.0.1:${prometheusPort}", timeout: 2s }\n`,
    });
    await s.up();
    // ...which finds the app instances through shipcheck's HTTP service discovery (with an API token)
    // and scrapes their /metrics,
    prometheus = await startPrometheus({
      port: prometheusPort,
      sdUrls: [`${s.apiUrl}/api/v1/sd/prometheus`],
      sdToken: s.token,
      interval: SCRAPE_INTERVAL,
    });
    // and v1 stable under steady load through the built-in proxy.
    const first = await s.cli('deploy', 'v1', '--wait');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 60, concurrency: 6, maxDurationMs: 80_000 });
    load.start();
  });

  afterAll(async () => {
    await load?.stop();
    await s?.cleanup();
    await prometheus?.stop();
  });

  it('rolls back a canary whose errors only Prometheus reports, naming the error_rate trigger', async () => {
    // When v2, which answers 30% of requests with a 500, is deployed
    const deploying = s!.cli('deploy', 'v2', '--wait');

    // Then Prometheus scrapes it as the canary, found through shipcheck's SD endpoint
    let canary: PrometheusTarget | undefined;
    await waitFor('Prometheus scraping the v2 canary', async () => {
      canary = (await activeTargets(prometheus!)).find(
        (t) => t.labels.version === 'v2' && t.labels.role === 'canary' && t.health === 'up',
      );
      return canary !== undefined;
    });
    expect(canary!.labels).toMatchObject({ service: 'web', version: 'v2', role: 'canary' });
    expect(canary!.scrapeUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    // And the release is rolled back by the error_rate trigger before the pause could end
    const result = await deploying;
    expect(result.code, result.stdout + result.stderr).toBe(3);
    const status = await s!.status();
    expect(status.stable).toBe('v1');
    expect(status.release).toMatchObject({ version: 'v2', state: 'rolled_back', weight: 0 });
    expect(status.release!.reason).toMatch(
      /^rollback trigger "error_rate > 5% over 10s" fired: error_rate \d+(\.\d)?% > 5% over 10s on v2 \([\d,]+ requests\)/,
    );

    // And the failing measurement holds the rate Prometheus computed from the app's own counters
    const failing = (await measurements(s!, status.release!.id)).filter(
      (m) => m.metric === 'error_rate' && m.verdict === 'fail',
    );
    expect(failing.length).toBeGreaterThan(0);
    expect(failing[0]!.value).toBeGreaterThan(0.05);
    // Near the injected 30%, give or take the rounding of the few requests in the first scrapes.
    expect(failing[0]!.value).toBeLessThanOrEqual(0.5);
    expect(failing[0]!.requests).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(failing[0]!.inputs.errors).toBeGreaterThan(0);
    // The measurement does not record its source, so Prometheus's own query log shows who answered.
    const asked = renderQuery(DEFAULT_PROMETHEUS_QUERIES.error_rate, 'web', 'v2', WINDOW_MS);
    expect(prometheus!.queries()).toContain(asked);
  });

  it('promotes a healthy v3 through a pause that ends on a fresh Prometheus-fed pass', async () => {
    // When a healthy v3 is deployed with the same triggers and steps
    const result = await s!.cli('deploy', 'v3', '--wait');

    // Then it is promoted
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const status = await s!.status();
    expect(status.stable).toBe('v3');
    expect(status.release).toMatchObject({ version: 'v3', state: 'succeeded', weight: 100 });

    // And both triggers passed on numbers Prometheus read from v3's /metrics
    const recorded = await measurements(s!, status.release!.id);
    const errorRate = recorded.filter((m) => m.metric === 'error_rate' && m.verdict === 'pass');
    const latency = recorded.filter((m) => m.metric === 'latency_p99' && m.verdict === 'pass');
    expect(errorRate.length).toBeGreaterThan(0);
    expect(errorRate.every((m) => m.value! <= 0.05 && m.requests >= MIN_REQUESTS)).toBe(true);
    expect(latency.length).toBeGreaterThan(0);
    expect(latency[0]!.value).toBeGreaterThan(0);
    expect(latency[0]!.value).toBeLessThan(2000);
    expect(recorded.some((m) => m.verdict === 'fail')).toBe(false);
    const asked = renderQuery(DEFAULT_PROMETHEUS_QUERIES.latency_p99, 'web', 'v3', WINDOW_MS);
    expect(prometheus!.queries()).toContain(asked);
  });
});
