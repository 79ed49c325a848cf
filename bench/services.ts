import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_TICK_MS } from '../src/engine/engine.js';
import { BIN, ROOT } from '../test/e2e/harness.js';
import { authorized, loginAsAdmin } from '../test/support/auth.js';
import { killProxyProcesses } from '../test/support/proxy-process.js';

/**
 * (g) Many services in one control plane: 200 services, each with a release held at its canary step
 * and analysed every second with synthetic requests through its own proxy, in ONE `shipcheck up`
 * process. Measured over a window: the process's RSS and CPU, the reconcile pass's p99 (from
 * `shipcheck_reconcile_duration_seconds`) and the event-loop lag p99. The reference is the same
 * measure of one service in its own `shipcheck up`, run first in the same script.
 *
 * The instances are not processes: each is a port of one backend (`fixtures/port-farm.ts`) that the
 * hooks fleet's scripts (`fixtures/port-hooks/`) look up, so 400 instances cost one process.
 */

const PORT_FARM = fileURLToPath(new URL('./fixtures/port-farm.js', import.meta.url));
const HOOKS = path.join(ROOT, 'bench', 'fixtures', 'port-hooks');
const DEFAULT_SERVICES = 200;
const DEFAULT_WINDOW_SECONDS = 20;
const TARGET_RSS_MB = 500;
const TARGET_TICK_P99_MS = 50;
const VERSIONS = ['v1', 'v2'] as const;
const CANARY_WEIGHT = 10;
/** Deploys sent at once: enough to be quick, few enough not to queue hundreds of requests. */
const DEPLOY_CONCURRENCY = 8;
/** Time allowed per phase: a base plus a share per service, so 200 services are not judged by 1's bound. */
const BASE_WAIT_MS = 60_000;
const WAIT_PER_SERVICE_MS = 600;
const POLL_MS = 1_000;
/** Left after every canary has weight, before the window opens: synthetic load and analysis settle. */
const SETTLE_MS = 5_000;
const RSS_SAMPLE_MS = 1_000;
const STOP_GRACE_MS = 60_000;
const LOG_TAIL_LINES = 30;
const MB = 1024 * 1024;
/** The line `shipcheck up` logs once it runs: `{"api":"http://127.0.0.1:PORT",...}`. */
const STARTED_LINE = /"api":"(http:\/\/[^"]+)"/;
/**
 * prom-client samples the event loop with a 10 ms timer, and its lag gauges count that timer's own
 * interval: an idle loop reads about 10 ms. The delay beyond it is what requests and timers wait.
 */
const LAG_SAMPLING_MS = 10;

/** What one control plane measured over the window. */
interface PlaneFigures {
  services: number;
  /** From spawning `shipcheck up` to its log saying it runs, every service's engine started. */
  startupS: number;
  /** RSS at the end of the window and the highest sample in it, MB. */
  rssMb: number;
  rssPeakMb: number;
  /** RSS when the window opened, MB: the difference shows what grows while releases sit at a step. */
  rssStartMb: number;
  /** V8 heap in use at the end of the window, MB. */
  heapUsedMb: number;
  /** CPU (user + system) over the window, in percent of one core. */
  cpuPercent: number;
  passes: number;
  tick: QuantileFromBuckets;
  loopLagP99Ms: number;
}

/** A quantile read from histogram buckets: the bucket's upper bound and a linear guess inside it. */
interface QuantileFromBuckets {
  bucketMs: number;
  /** Interpolated inside the bucket, as Prometheus's histogram_quantile does. */
  interpolatedMs: number;
}

/** The parts of /metrics this benchmark reads. */
interface MetricsSnapshot {
  /** Cumulative count per bucket bound (seconds), in order. */
  buckets: [number, number][];
  count: number;
  loopLagP99Seconds: number;
  heapUsedBytes: number;
}

interface ServiceRow {
  name: string;
  release: {
    version: string;
    state: string;
    phase: string;
    weight: number;
    reason: string | null;
  } | null;
}

const names = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `svc-${String(i).padStart(3, '0')}`);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function serviceFile(name: string, dir: string): string {
  return `service: ${name}
fleet:
  kind: hooks
  hooks: { start: ${HOOKS}/start.sh, stop: ${HOOKS}/stop.sh, list: ${HOOKS}/list.sh, timeout: 30s }
  instances: 1
  canaryInstances: 1
  startTimeout: 2m
  env: { BENCH_PORT_MAP: "${dir}/ports.map", BENCH_HOOKS_STATE: "${dir}/hooks-state" }
  health: { path: /healthz, interval: 1s, timeout: 1s, unhealthyAfter: 3 }
traffic: { kind: proxy, listen: "127.0.0.1:0" }
metrics: { kind: builtin }
strategy:
  steps: [{ setWeight: ${CANARY_WEIGHT} }, { pause: 10m }]
analysis:
  interval: 1s
  inconclusiveLimit: 120
  syntheticLoad: { rps: 2, path: / }
rollback:
  triggers: [{ metric: error_rate, above: 5%, window: 10s, minRequests: 5 }]
`;
}

/** Starts the backend with a port per service, version and instance; resolves once its map is written. */
async function startPortFarm(dir: string, services: string[]): Promise<ChildProcess> {
  const instances = services.flatMap((service) => VERSIONS.map((version) => `${service}-${version}-0`));
  const farm = spawn(process.execPath, [PORT_FARM, path.join(dir, 'ports.map'), ...instances], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  farm.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`port farm not ready after 30s: ${output}`)), 30_000);
    farm.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    farm.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`port farm exited with ${String(code)}: ${output}`));
    });
  });
  return farm;
}

/** Sends SIGTERM to a child and waits for it to exit; SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
  } catch {
    return '(no log)';
  }
}

async function getJson<T>(url: string, token: string): Promise<T> {
  const res = await fetch(url, { headers: authorized(token), signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Deploys `version` to every service through the API, a few at a time. */
async function deployAll(apiUrl: string, token: string, services: string[], version: string): Promise<void> {
  const queue = [...services];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const res = await fetch(`${apiUrl}/api/v1/services/${name}/releases`, {
        method: 'POST',
        headers: authorized(token, { 'content-type': 'application/json' }),
        body: JSON.stringify({ version }),
        signal: AbortSignal.timeout(30_000),
      });
      if (res.status !== 201)
        throw new Error(`deploy ${version} to ${name}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: DEPLOY_CONCURRENCY }, worker));
}

/**
 * Polls the services until `done` holds for every one; throws at once when a release ends badly, and
 * after `limitMs` naming the services still waiting.
 */
async function waitForAll(
  apiUrl: string,
  token: string,
  what: string,
  limitMs: number,
  done: (row: ServiceRow) => boolean,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const { services } = await getJson<{ services: ServiceRow[] }>(`${apiUrl}/api/v1/services`, token);
    const bad = services.find((s) =>
      ['rolled_back', 'aborted', 'failed', 'paused'].includes(s.release?.state ?? ''),
    );
    if (bad) {
      const r = bad.release!;
      throw new Error(`${bad.name} ${r.version} ${r.state} while waiting for ${what}: ${r.reason ?? ''}`);
    }
    const waiting = services.filter((s) => !done(s));
    if (waiting.length === 0) return;
    if (Date.now() > deadline) {
      const shown = waiting
        .slice(0, 5)
        .map(
          (s) =>
            `${s.name} (${s.release ? `${s.release.version} ${s.release.state} ${s.release.phase}` : 'no release'})`,
        );
      throw new Error(
        `${waiting.length} of ${services.length} services not ${what} after ${limitMs / 1000}s: ${shown.join(', ')}`,
      );
    }
    await sleep(POLL_MS);
  }
}

function readMetrics(text: string): MetricsSnapshot {
  // Reconcile timings carry a service label: one series per service, summed here bucket by bucket.
  const byBound = new Map<number, number>();
  let count = 0;
  let loopLagP99Seconds = Number.NaN;
  let heapUsedBytes = Number.NaN;
  for (const line of text.split('\n')) {
    const bucket = /^shipcheck_reconcile_duration_seconds_bucket\{([^}]*)\} (\S+)$/.exec(line);
    const bound = bucket ? /(?:^|,)le="([^"]+)"/.exec(bucket[1] ?? '') : null;
    if (bucket && bound) {
      const le = bound[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound[1]);
      byBound.set(le, (byBound.get(le) ?? 0) + Number(bucket[2]));
    }
    const passes = /^shipcheck_reconcile_duration_seconds_count(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (passes) count += Number(passes[1]);
    const value = /^(\w+) (\S+)$/.exec(line);
    if (!value) continue;
    if (value[1] === 'shipcheck_nodejs_eventloop_lag_p99_seconds') loopLagP99Seconds = Number(value[2]);
    if (value[1] === 'shipcheck_nodejs_heap_size_used_bytes') heapUsedBytes = Number(value[2]);
  }
  const buckets = [...byBound].sort(([a], [b]) => a - b);
  return { buckets, count, loopLagP99Seconds, heapUsedBytes };
}

/** The q-quantile of the passes between two snapshots, from their buckets' counts. */
function quantileBetween(before: MetricsSnapshot, after: MetricsSnapshot, q: number): QuantileFromBuckets {
  const total = after.count - before.count;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, cumulative] of after.buckets) {
    const count = cumulative - (before.buckets.find(([b]) => b === bound)?.[1] ?? 0);
    if (count >= rank) {
      if (!Number.isFinite(bound)) return { bucketMs: Infinity, interpolatedMs: lowerBound * 1000 };
      const inBucket = count - lowerCount;
      const fraction = inBucket > 0 ? (rank - lowerCount) / inBucket : 1;
      return {
        bucketMs: bound * 1000,
        interpolatedMs: (lowerBound + (bound - lowerBound) * fraction) * 1000,
      };
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return { bucketMs: Number.NaN, interpolatedMs: Number.NaN };
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

/** User + system CPU time of the process so far, in seconds. */
function cpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/**
 * One `shipcheck up` with `count` services: v1 everywhere (first releases take all traffic), then v2
 * everywhere, held at its canary step; then the window is measured. Everything started is stopped.
 */
async function measurePlane(count: number, windowMs: number): Promise<PlaneFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-services-'));
  const services = names(count);
  const log = path.join(dir, 'shipcheck.log');
  let farm: ChildProcess | undefined;
  let plane: ChildProcess | undefined;
  try {
    farm = await startPortFarm(dir, services);
    fs.mkdirSync(path.join(dir, 'services'));
    for (const name of services)
      fs.writeFileSync(path.join(dir, 'services', `${name}.yaml`), serviceFile(name, dir));
    // Port 0 for the API too: on a shared machine a port found free can be taken before it is bound.
    fs.writeFileSync(
      path.join(dir, 'shipcheck.yaml'),
      `server: { listen: 127.0.0.1:0 }\nstore: sqlite:state.db\nservices: [services/*.yaml]\n`,
    );
    const logFd = fs.openSync(log, 'a');
    plane = spawn(process.execPath, [BIN, 'up', '-c', path.join(dir, 'shipcheck.yaml')], {
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
    });
    fs.closeSync(logFd);
    const pid = plane.pid;
    if (pid === undefined) throw new Error('shipcheck up did not start');
    const limitMs = BASE_WAIT_MS + count * WAIT_PER_SERVICE_MS;
    const spawnedAt = performance.now();
    // `shipcheck up` logs its API's address once every service's engine has started.
    const deadline = Date.now() + limitMs;
    let apiUrl: string | undefined;
    while (apiUrl === undefined) {
      if (plane.exitCode !== null) throw new Error(`shipcheck up exited with ${plane.exitCode}`);
      if (Date.now() > deadline) throw new Error(`shipcheck up not started after ${limitMs / 1000}s`);
      await sleep(200);
      apiUrl = STARTED_LINE.exec(fs.readFileSync(log, 'utf8'))?.[1];
    }
    const startupS = (performance.now() - spawnedAt) / 1000;
    // Signed in as a person would: the first admin through the setup link it logged, then a token.
    const token = await loginAsAdmin(apiUrl, () => fs.readFileSync(log, 'utf8'));

    await deployAll(apiUrl, token, services, 'v1');
    await waitForAll(
      apiUrl,
      token,
      'v1 succeeded',
      limitMs,
      (s) => s.release?.version === 'v1' && s.release.state === 'succeeded',
    );
    await deployAll(apiUrl, token, services, 'v2');
    const atCanary = (s: ServiceRow): boolean =>
      s.release?.version === 'v2' &&
      s.release.state === 'progressing' &&
      s.release.phase === 'canary' &&
      s.release.weight > 0;
    await waitForAll(apiUrl, token, 'at the v2 canary step', limitMs, atCanary);
    await sleep(SETTLE_MS);

    const ticks = clockTicks();
    const before = readMetrics(
      await (await fetch(`${apiUrl}/metrics`, { headers: authorized(token) })).text(),
    );
    const cpuBefore = cpuSeconds(pid, ticks);
    const startedAt = performance.now();
    const rssStartMb = rssMb(pid);
    let rssPeakMb = rssStartMb;
    while (performance.now() - startedAt < windowMs) {
      await sleep(RSS_SAMPLE_MS);
      rssPeakMb = Math.max(rssPeakMb, rssMb(pid));
    }
    const cpuAfter = cpuSeconds(pid, ticks);
    const elapsedS = (performance.now() - startedAt) / 1000;
    const after = readMetrics(
      await (await fetch(`${apiUrl}/metrics`, { headers: authorized(token) })).text(),
    );
    const rss = rssMb(pid);
    // The window counts only if every release was at its canary step throughout: none left it.
    await waitForAll(apiUrl, token, 'still at the v2 canary step', 0, atCanary);
    return {
      services: count,
      startupS,
      rssMb: rss,
      rssPeakMb: Math.max(rssPeakMb, rss),
      rssStartMb,
      heapUsedMb: after.heapUsedBytes / MB,
      cpuPercent: ((cpuAfter - cpuBefore) / elapsedS) * 100,
      passes: after.count - before.count,
      tick: quantileBetween(before, after, 0.99),
      loopLagP99Ms: after.loopLagP99Seconds * 1000,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${count} service(s): ${message}\n--- last lines of shipcheck's log ---\n${tail(log)}`);
  } finally {
    // A hooks fleet's instances outlive the control plane; here they are the farm's ports, stopped next.
    if (plane) await stopChild(plane, STOP_GRACE_MS);
    if (farm) await stopChild(farm, STOP_GRACE_MS);
    killProxyProcesses(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (value: number): string => `${value.toFixed(1)} MB`;
const tick = (q: QuantileFromBuckets): string =>
  `<= ${q.bucketMs} ms (interpolated ${q.interpolatedMs.toFixed(2)} ms)`;

function describe(figures: PlaneFigures, windowMs: number): string {
  return [
    `started (every engine running) ${figures.startupS.toFixed(1)} s after spawn`,
    `RSS ${mb(figures.rssMb)} at the window's end (${mb(figures.rssStartMb)} at its start, ` +
      `peak ${mb(figures.rssPeakMb)}), V8 heap used ${mb(figures.heapUsedMb)}`,
    `CPU ${figures.cpuPercent.toFixed(1)}% of a core`,
    `${figures.passes} reconcile passes in ${windowMs / 1000}s ` +
      `(${((figures.passes / (windowMs / 1000) / figures.services) * (DEFAULT_TICK_MS / 1000)).toFixed(2)} of one per service per ${DEFAULT_TICK_MS} ms tick)`,
    `tick p99 ${tick(figures.tick)}`,
    `event-loop lag p99 ${figures.loopLagP99Ms.toFixed(1)} ms as prom-client reports it ` +
      `(${(figures.loopLagP99Ms - LAG_SAMPLING_MS).toFixed(1)} ms beyond its ${LAG_SAMPLING_MS} ms sampling timer)`,
  ].join('\n    ');
}

/** Runs the one-service reference, then `services` services in one process, and prints the figures. */
export async function main(options: { services?: number; windowSeconds?: number } = {}): Promise<void> {
  const count = options.services ?? DEFAULT_SERVICES;
  const windowMs = (options.windowSeconds ?? DEFAULT_WINDOW_SECONDS) * 1000;
  if (!Number.isInteger(count) || count < 2)
    throw new Error(`--services takes a whole number >= 2, got ${count}`);
  if (!(windowMs > 0)) throw new Error(`--window takes a number of seconds > 0`);
  console.log(
    `each service: hooks fleet (1 instance, health every 1s), built-in proxy, a release at its ${CANARY_WEIGHT}% ` +
      `canary step, analysis every 1s on 2 synthetic rps; window ${windowMs / 1000}s`,
  );
  const one = await measurePlane(1, windowMs);
  console.log(`1 service in its own shipcheck up:\n    ${describe(one, windowMs)}`);
  const many = await measurePlane(count, windowMs);
  console.log(`${count} services in one shipcheck up:\n    ${describe(many, windowMs)}`);
  const perService = (many.rssMb - one.rssMb) / (count - 1);
  console.log(`  RSS per added service        ${mb(perService)}`);
  console.log(
    `  CPU per service              ${(many.cpuPercent / count).toFixed(2)}% of a core ` +
      `(alone: ${one.cpuPercent.toFixed(2)}%)`,
  );
  console.log(
    `  RSS, ${count} in one process vs ${count} x one: ${mb(many.rssMb)} vs ${mb(one.rssMb * count)} ` +
      `(ratio ${(many.rssMb / (one.rssMb * count)).toFixed(3)})`,
  );
  console.log(
    `  target: RSS < ${TARGET_RSS_MB} MB (peak ${mb(many.rssPeakMb)}: ` +
      `${many.rssPeakMb < TARGET_RSS_MB ? 'met' : `missed by ${mb(many.rssPeakMb - TARGET_RSS_MB)}`}); ` +
      `tick p99 < ${TARGET_TICK_P99_MS} ms (${tick(many.tick)}: ` +
      `${many.tick.bucketMs <= TARGET_TICK_P99_MS ? 'met' : `missed by ${(many.tick.interpolatedMs - TARGET_TICK_P99_MS).toFixed(1)} ms interpolated`})`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const option = (name: string): number | undefined => {
    const index = process.argv.indexOf(name);
    return index > 0 ? Number(process.argv[index + 1]) : undefined;
  };
  main({ services: option('--services'), windowSeconds: option('--window') }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
