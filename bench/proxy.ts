import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../src/util/net.js';

/**
 * Proxy overhead benchmark: the built-in proxy against nginx (one worker, upstream keepalive) in
 * front of the same three Node upstreams, measured with wrk. Needs `nginx` and `wrk` on PATH.
 * Usage: `node dist/bench/proxy.js [--duration SECONDS] [--rounds N]`.
 */

const UPSTREAM_COUNT = 3;
/** The proxy splits 2 stable + 1 canary at this weight, so each instance gets about a third, like nginx. */
const CANARY_WEIGHT = 33;
const THROUGHPUT_THREADS = 2;
const THROUGHPUT_CONNECTIONS = 32;
const DEFAULT_DURATION_SECONDS = 5;
const DEFAULT_ROUNDS = 3;
const WARMUP_SECONDS = 2;
/** Targets the proxy should meet: throughput vs nginx, and p50 added over one connection. */
const TARGET_THROUGHPUT_RATIO = 0.5;
const TARGET_ADDED_P50_MS = 0.25;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 50;
const US_PER_MS = 1000;

/** One wrk run's figures. */
export interface WrkResult {
  rps: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number;
}

/** The five runs of one round, taken back to back so they share the machine's conditions. */
export interface ProxyBenchRound {
  nginxMany: WrkResult;
  proxyMany: WrkResult;
  directOne: WrkResult;
  proxyOne: WrkResult;
  nginxOne: WrkResult;
}

/** What main() measured: every round, and medians over rounds of the per-round comparisons. */
export interface ProxyBenchResult {
  rounds: ProxyBenchRound[];
  /** Median over rounds of proxy req/s / nginx req/s at 32 connections. */
  throughputRatio: number;
  /** Median over rounds of p50(proxy) - p50(direct) over one connection, in ms. */
  addedP50Ms: number;
  /** The same for nginx, for reference. */
  nginxAddedP50Ms: number;
  /** Sum of errors over every run. */
  errors: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs the benchmark, prints a table and ratios, and stops every process it started, even on error. */
export async function main(
  options: { durationSeconds?: number; rounds?: number } = {},
): Promise<ProxyBenchResult> {
  const duration = options.durationSeconds ?? DEFAULT_DURATION_SECONDS;
  const roundCount = options.rounds ?? DEFAULT_ROUNDS;
  requireTool('nginx', ['-v']);
  requireTool('wrk', ['--version']);
  const children: ChildProcess[] = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'shipcheck-bench-'));
  try {
    const upstreams: string[] = [];
    for (let i = 0; i < UPSTREAM_COUNT; i++) {
      const child = spawnNode(path.join(here, 'fixtures', 'hello-server.js'), []);
      children.push(child);
      upstreams.push(`127.0.0.1:${await readListening(child)}`);
    }
    const [first, ...rest] = upstreams as [string, ...string[]];

    const proxyChild = spawnNode(path.join(here, 'proxy-server.js'), [
      '127.0.0.1:0',
      [first, ...rest.slice(0, -1)].join(','),
      rest.slice(-1).join(','),
      String(CANARY_WEIGHT),
    ]);
    children.push(proxyChild);
    const proxy = await readListening(proxyChild);

    const nginxPort = await freePort();
    await writeFile(path.join(tmp, 'nginx.conf'), nginxConfig(tmp, nginxPort, upstreams));
    const nginxChild = spawn(
      'nginx',
      ['-p', tmp, '-c', path.join(tmp, 'nginx.conf'), '-e', path.join(tmp, 'error.log')],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    nginxChild.on('error', (err) => console.error(`nginx: ${err.message}`));
    children.push(nginxChild);
    const nginx = `127.0.0.1:${nginxPort}`;
    await waitForPort(nginxPort);

    const many = ['-t', String(THROUGHPUT_THREADS), '-c', String(THROUGHPUT_CONNECTIONS)];
    const one = ['-t', '1', '-c', '1'];
    // Warm up both (JIT, connection pools) so the measured runs compare steady states.
    await wrk(proxy, many, WARMUP_SECONDS);
    await wrk(nginx, many, WARMUP_SECONDS);

    const rounds: ProxyBenchRound[] = [];
    for (let round = 0; round < roundCount; round++) {
      // Alternate who goes first, so a drift in the machine's load does not favour one side.
      const proxyFirst = round % 2 === 1;
      const firstMany = await wrk(proxyFirst ? proxy : nginx, many, duration);
      const secondMany = await wrk(proxyFirst ? nginx : proxy, many, duration);
      const directOne = await wrk(first, one, duration);
      const proxyOne = await wrk(proxy, one, duration);
      const nginxOne = await wrk(nginx, one, duration);
      rounds.push({
        nginxMany: proxyFirst ? secondMany : firstMany,
        proxyMany: proxyFirst ? firstMany : secondMany,
        directOne,
        proxyOne,
        nginxOne,
      });
    }

    const result: ProxyBenchResult = {
      rounds,
      throughputRatio: median(rounds.map((r) => r.proxyMany.rps / r.nginxMany.rps)),
      addedP50Ms: median(rounds.map((r) => (r.proxyOne.p50Ms ?? NaN) - (r.directOne.p50Ms ?? NaN))),
      nginxAddedP50Ms: median(rounds.map((r) => (r.nginxOne.p50Ms ?? NaN) - (r.directOne.p50Ms ?? NaN))),
      errors: rounds.reduce(
        (sum, r) =>
          sum +
          r.nginxMany.errors +
          r.proxyMany.errors +
          r.directOne.errors +
          r.proxyOne.errors +
          r.nginxOne.errors,
        0,
      ),
    };
    printReport(result, duration);
    return result;
  } finally {
    await Promise.all(children.map((child) => stop(child)));
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Fails early, before anything is started, when a tool the benchmark drives is missing. */
function requireTool(command: string, args: string[]): void {
  const probe = spawnSync(command, args, { stdio: 'ignore' });
  if (probe.error !== undefined) {
    throw new Error(`${command} not found: install it (Debian: apt-get install -y nginx wrk)`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function nginxConfig(prefix: string, port: number, upstreams: string[]): string {
  return `worker_processes 1;
daemon off;
pid ${path.join(prefix, 'nginx.pid')};
error_log ${path.join(prefix, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${path.join(prefix, 'body')};
  proxy_temp_path ${path.join(prefix, 'proxy')};
  fastcgi_temp_path ${path.join(prefix, 'fastcgi')};
  uwsgi_temp_path ${path.join(prefix, 'uwsgi')};
  scgi_temp_path ${path.join(prefix, 'scgi')};
  upstream app {
${upstreams.map((address) => `    server ${address};`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The same request headers the built-in proxy sends, so both upstream paths do the same work.
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`;
}

function spawnNode(script: string, args: string[]): ChildProcess {
  const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...flags, script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.on('error', (err) => console.error(`${script}: ${err.message}`));
  return child;
}

/** Waits for the child's `LISTENING <address>` line and returns the address. */
function readListening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`pid ${child.pid} did not start listening`)),
      START_TIMEOUT_MS,
    );
    child.once('exit', (code) => reject(new Error(`pid ${child.pid} exited with ${code} before listening`)));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      const match = /^LISTENING (\S+)$/m.exec(buffered);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`nothing listens on port ${port} after ${START_TIMEOUT_MS} ms`);
}

/** Sends SIGTERM to the child by pid, then SIGKILL if it has not exited in time. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function wrk(address: string, connections: string[], seconds: number): Promise<WrkResult> {
  return runWrk([...connections, '-d', `${seconds}s`, '--latency', `http://${address}/`]);
}

/** Runs wrk with `args` (which should include --latency) and reads its report. */
export async function runWrk(args: string[]): Promise<WrkResult> {
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`wrk ${args.join(' ')} exited with ${code}:\n${output}`);
  return parseWrk(output);
}

/** Reads requests/sec, the 50% and 99% latency lines and error counts from wrk's report. */
export function parseWrk(output: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrorCount = socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    rps,
    p50Ms: latencyMs(/^\s+50%\s+([\d.]+)(us|ms|s)\s*$/m.exec(output)),
    p99Ms: latencyMs(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(output)),
    errors: non2xx + socketErrorCount,
  };
}

function latencyMs(match: RegExpExecArray | null): number | undefined {
  if (match === null) return undefined;
  const value = Number(match[1]);
  if (match[2] === 'us') return value / US_PER_MS;
  if (match[2] === 's') return value * US_PER_MS;
  return value;
}

function printReport(result: ProxyBenchResult, duration: number): void {
  const row = (round: number, name: string, run: WrkResult): string =>
    `${String(round).padStart(5)}  ${name.padEnd(18)} ${run.rps.toFixed(0).padStart(9)} ${fmt(run.p50Ms)} ${fmt(run.p99Ms)} ${String(run.errors).padStart(7)}`;
  console.log(`proxy overhead: wrk, ${duration}s per run, ${result.rounds.length} rounds`);
  console.log(
    `${'round'.padStart(5)}  ${'run'.padEnd(18)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)}`,
  );
  result.rounds.forEach((r, index) => {
    const round = index + 1;
    console.log(row(round, 'nginx  -t2 -c32', r.nginxMany));
    console.log(row(round, 'proxy  -t2 -c32', r.proxyMany));
    console.log(row(round, 'direct -t1 -c1', r.directOne));
    console.log(row(round, 'proxy  -t1 -c1', r.proxyOne));
    console.log(row(round, 'nginx  -t1 -c1', r.nginxOne));
  });
  const verdict = (ok: boolean): string => (ok ? 'meets target' : 'MISSES target');
  console.log(
    `throughput proxy/nginx at 32 connections (median of rounds): ${result.throughputRatio.toFixed(2)} (target >= ${TARGET_THROUGHPUT_RATIO}: ${verdict(result.throughputRatio >= TARGET_THROUGHPUT_RATIO)})`,
  );
  console.log(
    `p50 added over 1 connection vs direct (median of rounds): proxy ${result.addedP50Ms.toFixed(3)} ms (target <= ${TARGET_ADDED_P50_MS}: ${verdict(result.addedP50Ms <= TARGET_ADDED_P50_MS)}), nginx ${result.nginxAddedP50Ms.toFixed(3)} ms`,
  );
  console.log(`errors (non-2xx/3xx and socket errors, all runs): ${result.errors}`);
}

function fmt(ms: number | undefined): string {
  return (ms === undefined ? '-' : ms.toFixed(3)).padStart(8);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const flag = (name: string): number | undefined => {
    const index = process.argv.indexOf(name);
    return index > 0 ? Number(process.argv[index + 1]) : undefined;
  };
  main({ durationSeconds: flag('--duration'), rounds: flag('--rounds') }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
