import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { measureMetric, sharedWindows } from '../src/analysis/triggers.js';
import { loadConfig } from '../src/config/loader.js';
import type { MetricTriggerConfig } from '../src/config/schema.js';
import { type ControlPlane, startControlPlane } from '../src/control-plane.js';
import { LoadGenerator } from '../src/load/load-generator.js';
import { createLogger } from '../src/logger.js';
import { PrometheusMetricSource } from '../src/providers/metrics/prometheus/prometheus-metric-source.js';
import type { MetricSource } from '../src/providers/metrics/types.js';
import { freePort } from '../src/util/net.js';
import { hasPrometheus, type RunningPrometheus, startPrometheus } from '../test/e2e/harness.js';
import { createAdminToken, createFirstAdmin } from '../test/support/auth.js';

/**
 * Analysis latency with Prometheus, each figure against the built-in metrics path in the same run:
 *  (d1) how long one analysis pass (the error_rate and latency_p99 triggers, six instant queries
 *       each) takes through Prometheus, over many evaluations of the same traffic;
 *  (d2) detection time: from a bad canary's first response to the rollback decision, with Prometheus
 *       scraping every second and finding the instances through shipcheck's HTTP SD.
 * Needs Debian's `prometheus` on PATH. Usage: `node dist/bench/prometheus.js [--evaluations N] [--runs N]`.
 */

const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));
const SCRAPE_INTERVAL = '1s';
/** 10% of 100 rps: the canary gets the 10 requests per second the rollback benchmark uses. */
const TOTAL_RPS = 100;
const CANARY_WEIGHT = 10;
const INTERVAL_MS = 1000;
const WINDOW = '10s';
const MIN_REQUESTS = 5;
const DEFAULT_EVALUATIONS = 200;
const DEFAULT_BAD_RUNS = 5;
/** A fresh canary reads "no data" until Prometheus has scraped it twice; this keeps that from pausing it. */
const INCONCLUSIVE_LIMIT = 30;
/** Bounds every wait: a release that has not ended by then is a failed benchmark, not a slow one. */
const RELEASE_LIMIT_MS = 120_000;
const SCRAPED_LIMIT_MS = 30_000;
const POLL_MS = 50;
const MAX_BAD_RUNS = 20;
const PERCENT = 100;
const P99 = 0.99;

/** What main() measured: analysis pass times in ms and detection times in seconds, per source. */
export interface PrometheusBenchResult {
  passMs: { builtin: number[]; prometheus: number[] };
  /** Evaluations through Prometheus that did not pass (an unanswered or too-thin query); want 0. */
  prometheusNotPassing: number;
  detectionS: { builtin: number[]; prometheus: number[] };
  prometheusVersion: string;
}

interface Plane {
  plane: ControlPlane;
  service: string;
  triggers: MetricTriggerConfig[];
  load: LoadGenerator;
  /** Deploys `version` and waits for its end; the seconds from its first response to the rollback decision. */
  detect(version: string): Promise<number>;
  close(): Promise<void>;
}

function badFaults(prefix: string, runs: number): string {
  return JSON.stringify(
    Object.fromEntries(Array.from({ length: runs }, (_, i) => [`${prefix}-${i + 1}`, { errorRate: 0.2 }])),
  );
}

function config(options: {
  service: string;
  apiPort: number;
  proxyPort: number;
  metrics: string;
  faults: string;
}): string {
  return `service: ${options.service}
server: { listen: 127.0.0.1:${options.apiPort} }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 3
  stopTimeout: 3s
  env: { SAMPLE_FAULTS: '${options.faults}' }
  health: { path: /healthz, interval: 250ms, timeout: 1s, unhealthyAfter: 3 }
traffic: { kind: proxy, listen: 127.0.0.1:${options.proxyPort} }
${options.metrics}
strategy:
  steps: [{ setWeight: ${CANARY_WEIGHT} }, { pause: 1h }]
analysis: { interval: ${INTERVAL_MS}ms, inconclusiveLimit: ${INCONCLUSIVE_LIMIT} }
rollback:
  triggers:
    - { metric: error_rate, above: 5%, window: ${WINDOW}, minRequests: ${MIN_REQUESTS} }
    - { metric: latency_p99, above: 2s, window: ${WINDOW}, minRequests: ${MIN_REQUESTS} }
  keepPreviousFor: 1m
`;
}

async function startPlane(options: {
  service: string;
  apiPort: number;
  metrics: string;
  faults: string;
  /** Where Prometheus reads the bearer token of this plane's service discovery. */
  tokenFile: string;
}): Promise<Plane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-'));
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(file, config({ ...options, proxyPort: await freePort() }));
  const loaded = await loadConfig(file);
  const plane = await startControlPlane(loaded, createLogger({ level: 'error', pretty: false }));
  // Signed in as a person would: the first admin through the setup code, then a token.
  const session = await createFirstAdmin(plane.apiUrl, plane.setupCode ?? '', 'bench');
  fs.writeFileSync(options.tokenFile, await createAdminToken(plane.apiUrl, session), { mode: 0o600 });
  const waitEnd = async (id: number): Promise<string> => {
    const deadline = Date.now() + RELEASE_LIMIT_MS;
    while (Date.now() < deadline) {
      const release = await plane.engine.release(id);
      if (['succeeded', 'rolled_back', 'aborted', 'failed'].includes(release.state)) return release.state;
      if (release.state === 'paused') throw new Error(`release ${id} paused: ${release.reason ?? ''}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(`release ${id} did not end within ${RELEASE_LIMIT_MS / 1000}s`);
  };
  const first = await plane.engine.deploy('v0');
  await waitEnd(first.id);
  const load = new LoadGenerator({
    url: `${plane.proxyUrl}/`,
    rps: TOTAL_RPS,
    concurrency: 8,
    maxDurationMs: 15 * 60_000,
  });
  load.start();
  return {
    plane,
    service: options.service,
    triggers: loaded.config.rollback.triggers.filter((t): t is MetricTriggerConfig => 'metric' in t),
    load,
    async detect(version) {
      const release = await plane.engine.deploy(version);
      const state = await waitEnd(release.id);
      const events = await plane.store.listEvents({ releaseId: release.id, limit: 1000 });
      const rollingBack = events.find((e) => e.type === 'release.rolling_back');
      const weightEvent = events.find((e) => e.type === 'release.weight');
      if (state !== 'rolled_back' || !rollingBack || !weightEvent)
        throw new Error(`${version}: ended ${state}`);
      // The load generator saw the canary's first response; the weight event bounds it from below.
      const firstRequest = Math.max(weightEvent.at, load.snapshot().firstSeenAt[version] ?? weightEvent.at);
      return (rollingBack.at - firstRequest) / 1000;
    },
    async close() {
      await load.stop();
      await plane.close({ stopInstances: true });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One analysis pass as the engine runs it: each metric trigger in turn; the time in ms and whether all passed. */
async function timedPass(
  triggers: MetricTriggerConfig[],
  source: MetricSource,
): Promise<{ ms: number; passed: boolean }> {
  const started = performance.now();
  let passed = true;
  // As the engine does: triggers over the same window share one round of queries.
  const shared = sharedWindows(source);
  for (const trigger of triggers) {
    const measurement = await measureMetric(trigger, shared, 'v0');
    if (measurement.verdict !== 'pass') passed = false;
  }
  return { ms: performance.now() - started, passed };
}

/** (d1): interleaved passes through the built-in source and Prometheus on the same plane's traffic. */
async function passTimes(
  bench: Plane,
  prometheus: RunningPrometheus,
  evaluations: number,
): Promise<{ builtin: number[]; prometheus: number[]; notPassing: number }> {
  const builtinSource = bench.plane.units[0]!.metricSource;
  const promSource = new PrometheusMetricSource({ url: prometheus.url, service: bench.service });
  // Wait until Prometheus holds a full window of v0, so every timed pass reads real data.
  const scrapedBy = Date.now() + SCRAPED_LIMIT_MS;
  for (;;) {
    const pass = await timedPass(bench.triggers, promSource);
    const stats = await promSource.window('v0', 10_000).catch(() => undefined);
    if (pass.passed && (stats?.requests ?? 0) >= TOTAL_RPS * 5) break;
    if (Date.now() > scrapedBy) throw new Error(`Prometheus has no v0 data after 30s:\n${prometheus.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const times = { builtin: [] as number[], prometheus: [] as number[], notPassing: 0 };
  for (let i = 0; i < evaluations; i++) {
    // Alternate who goes first so neither always runs on a warmer event loop.
    const order = i % 2 === 0 ? (['builtin', 'prometheus'] as const) : (['prometheus', 'builtin'] as const);
    for (const which of order) {
      const pass = await timedPass(bench.triggers, which === 'builtin' ? builtinSource : promSource);
      times[which].push(pass.ms);
      if (which === 'prometheus' && !pass.passed) times.notPassing += 1;
    }
  }
  return times;
}

/** Nearest-rank quantile of `values`. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

function prometheusVersion(): string {
  const out = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  return /version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
}

/** Runs (d1) and (d2), prints the figures with their ratios, and stops everything it started. */
export async function main(
  options: { evaluations?: number; runs?: number } = {},
): Promise<PrometheusBenchResult> {
  if (!hasPrometheus()) {
    throw new Error('prometheus not found: install it (Debian: apt-get install -y prometheus)');
  }
  const evaluations = options.evaluations ?? DEFAULT_EVALUATIONS;
  const runs = Math.min(options.runs ?? DEFAULT_BAD_RUNS, MAX_BAD_RUNS);
  const builtinApi = await freePort();
  const promApi = await freePort();
  // Each plane's service discovery wants its own token, written once the plane is up.
  const tokens = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-sd-'));
  const tokenFiles = ['builtin', 'prometheus'].map((name) => path.join(tokens, name));
  for (const file of tokenFiles) fs.writeFileSync(file, '', { mode: 0o600 });
  // Both planes are listed from the start; the second answers its SD endpoint once it is up.
  const prometheus = await startPrometheus({
    port: await freePort(),
    sdUrls: [
      `http://127.0.0.1:${builtinApi}/api/v1/sd/prometheus`,
      `http://127.0.0.1:${promApi}/api/v1/sd/prometheus`,
    ],
    sdTokenFiles: tokenFiles,
    interval: SCRAPE_INTERVAL,
  });
  try {
    const version = prometheusVersion();
    // Distinct service names: Prometheus still holds the first plane's series when the second runs.
    const builtin = await startPlane({
      service: 'bench-builtin',
      apiPort: builtinApi,
      metrics: 'metrics: { kind: builtin }',
      faults: badFaults('bad', runs),
      tokenFile: tokenFiles[0]!,
    });
    let passes: Awaited<ReturnType<typeof passTimes>>;
    const builtinDetection: number[] = [];
    try {
      passes = await passTimes(builtin, prometheus, evaluations);
      for (let run = 1; run <= runs; run++) builtinDetection.push(await builtin.detect(`bad-${run}`));
    } finally {
      await builtin.close();
    }

    const viaPrometheus = await startPlane({
      service: 'bench-prom',
      apiPort: promApi,
      metrics: `metrics: { kind: prometheus, url: "${prometheus.url}", timeout: 2s }`,
      faults: badFaults('bad', runs),
      tokenFile: tokenFiles[1]!,
    });
    const promDetection: number[] = [];
    try {
      for (let run = 1; run <= runs; run++) promDetection.push(await viaPrometheus.detect(`bad-${run}`));
    } finally {
      await viaPrometheus.close();
    }

    const result: PrometheusBenchResult = {
      passMs: { builtin: passes.builtin, prometheus: passes.prometheus },
      prometheusNotPassing: passes.notPassing,
      detectionS: { builtin: builtinDetection, prometheus: promDetection },
      prometheusVersion: version,
    };
    printReport(result);
    return result;
  } finally {
    await prometheus.stop();
    fs.rmSync(tokens, { recursive: true, force: true });
  }
}

function printReport(result: PrometheusBenchResult): void {
  const { passMs, detectionS } = result;
  const ms = (v: number): string => `${v.toFixed(3)} ms`;
  const s = (v: number): string => `${v.toFixed(2)}s`;
  const bMed = quantile(passMs.builtin, 0.5);
  const bP99 = quantile(passMs.builtin, P99);
  const pMed = quantile(passMs.prometheus, 0.5);
  const pP99 = quantile(passMs.prometheus, P99);
  console.log(
    `analysis latency with Prometheus ${result.prometheusVersion}, scrape_interval ${SCRAPE_INTERVAL}, ` +
      `${TOTAL_RPS} rps through the built-in proxy`,
  );
  console.log(
    `(d1) one analysis pass (error_rate + latency_p99 over ${WINDOW}, 6 instant queries through Prometheus, shared by both triggers), ` +
      `${passMs.prometheus.length} evaluations each, interleaved:`,
  );
  console.log(`    builtin:    median ${ms(bMed)}, p99 ${ms(bP99)}`);
  console.log(
    `    prometheus: median ${ms(pMed)}, p99 ${ms(pP99)} (${result.prometheusNotPassing} did not pass)`,
  );
  console.log(
    `    ratio prometheus/builtin: median ${(pMed / bMed).toFixed(0)}x, p99 ${(pP99 / bP99).toFixed(0)}x`,
  );
  console.log(
    `(d2) detection: canary with 20% 5xx at ${(TOTAL_RPS * CANARY_WEIGHT) / PERCENT} rps, ` +
      `error_rate > 5% over ${WINDOW} (no \`for\`), minRequests ${MIN_REQUESTS}, analysis every ${INTERVAL_MS / 1000}s`,
  );
  const line = (name: string, times: number[]): void =>
    console.log(
      `    ${name} runs: ${times.map(s).join(', ')}; median ${s(quantile(times, 0.5))}, worst ${s(Math.max(...times))}`,
    );
  line('builtin   ', detectionS.builtin);
  line('prometheus', detectionS.prometheus);
  console.log(
    `    ratio prometheus/builtin: median ${(quantile(detectionS.prometheus, 0.5) / quantile(detectionS.builtin, 0.5)).toFixed(2)}, ` +
      `worst ${(Math.max(...detectionS.prometheus) / Math.max(...detectionS.builtin)).toFixed(2)}`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const flag = (name: string): number | undefined => {
    const index = process.argv.indexOf(name);
    return index > 0 ? Number(process.argv[index + 1]) : undefined;
  };
  main({ evaluations: flag('--evaluations'), runs: flag('--runs') }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
