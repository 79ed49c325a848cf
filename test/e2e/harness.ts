import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { freePort } from '../../src/util/net.js';
import { authorized, loginAsAdmin } from '../support/auth.js';
import { killProxyProcesses, liveProxyProcess } from '../support/proxy-process.js';

/** The repository: the nearest folder above this file with a package.json (this file may run from dist/). */
export const ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
/** The CLI as a user runs it. */
export const BIN = path.join(ROOT, 'bin', 'shipcheck');
const SAMPLE_APP = path.join(ROOT, 'examples', 'app', 'server.js');
/** Upper bound for any condition a test waits on; tests poll, they never assert durations. */
const WAIT_LIMIT_MS = 45_000;

/** Faults the sample app applies per version (see examples/app/README.md). */
export type Faults = Record<
  string,
  {
    errorRate?: number;
    latencyMs?: number;
    crashAfterMs?: number;
    unhealthyAfterMs?: number;
    neverHealthy?: boolean;
  }
>;

/** A config for a test, with short timings so a rollout takes seconds. */
export interface ScenarioOptions {
  faults?: Faults;
  instances?: number;
  steps?: string;
  triggers?: string;
  startTimeout?: string;
  /** Replaces the traffic line (and may add metrics); `{{dir}}` is the scenario's folder. */
  traffic?: string;
  /** Replaces the analysis line, e.g. to tolerate a metrics source that lags by a scrape or two. */
  analysis?: string;
  /** Lines added inside the `rollback:` block, indented two spaces, e.g. `  alerts: { token: ... }`. */
  rollbackExtra?: string;
  extra?: string;
}

/** The fields of a release tests read from the API. */
export interface ReleaseJson {
  id: number;
  version: string;
  state: string;
  phase: string;
  weight: number;
  reason: string | null;
}

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One isolated shipcheck install: a temp folder, a config, a control plane process, and its app instances. */
export class Scenario {
  readonly dir: string;
  readonly file: string;
  apiUrl = '';
  proxyUrl = '';
  private server: ChildProcess | undefined;
  private serverLog = '';
  /** The admin API token, made on the first start; the users live in the store, so restarts keep it. */
  private apiToken: string | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.file = path.join(dir, 'shipcheck.yaml');
  }

  /** Writes the config with free ports. */
  static async create(options: ScenarioOptions = {}): Promise<Scenario> {
    const scenario = new Scenario(fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-e2e-')));
    const apiPort = await freePort();
    const proxyPort = await freePort();
    scenario.apiUrl = `http://127.0.0.1:${apiPort}`;
    scenario.proxyUrl = `http://127.0.0.1:${proxyPort}`;
    const faults = JSON.stringify(JSON.stringify(options.faults ?? {}));
    fs.writeFileSync(
      scenario.file,
      `service: web
server: { listen: 127.0.0.1:${apiPort} }
fleet:
  kind: local
  # The folder in argv lets the test find exactly the processes it started.
  command: ["${process.execPath}", "${SAMPLE_APP}", "${scenario.dir}"]
  instances: ${options.instances ?? 3}
  startTimeout: ${options.startTimeout ?? '15s'}
  stopTimeout: 3s
  env: { SAMPLE_FAULTS: ${faults} }
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }
${(options.traffic ?? `traffic: { kind: proxy, listen: 127.0.0.1:${proxyPort} }`).replaceAll('{{dir}}', scenario.dir)}
strategy:
  steps: ${options.steps ?? '[{setWeight: 20}, {pause: 1s}, {setWeight: 50}, {pause: 1s}]'}
${options.analysis ?? 'analysis: { interval: 250ms, inconclusiveLimit: 40 }'}
rollback:
  triggers: ${options.triggers ?? '[]'}
  keepPreviousFor: 10m
${options.rollbackExtra ? `${options.rollbackExtra}\n` : ''}${options.extra ?? ''}`,
    );
    return scenario;
  }

  /**
   * Starts `shipcheck up` and waits until its API answers. The first start of the scenario then
   * signs in as a user would (the first-admin link it logged, a login, an API token), see {@link token}.
   */
  async up(): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'up', '-c', this.file], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.server = child;
    child.stdout?.on('data', (d: Buffer) => (this.serverLog += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.serverLog += d.toString()));
    await waitFor(`shipcheck up at ${this.apiUrl}`, async () => {
      if (child.exitCode !== null)
        throw new Error(`shipcheck up exited ${child.exitCode}:\n${this.serverLog}`);
      return fetch(`${this.apiUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    });
    this.apiToken ??= await loginAsAdmin(this.apiUrl, () => this.serverLog);
  }

  /** The admin API token of {@link TEST_USER}, which every API call and CLI run of this scenario sends. */
  get token(): string {
    if (this.apiToken === undefined) throw new Error('no API token before the first up()');
    return this.apiToken;
  }

  /** What the CLI needs in its environment to reach this scenario's API as the test user. */
  get cliEnv(): Record<string, string> {
    return { SHIPCHECK_URL: this.apiUrl, SHIPCHECK_TOKEN: this.token };
  }

  /** fetch of `path` on this scenario's API (e.g. `/api/v1/services/web`), with the API token. */
  api(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', authorized(this.token).authorization!);
    return fetch(`${this.apiUrl}${path}`, { ...init, headers });
  }

  /** The pid of the running control plane. */
  get serverPid(): number {
    if (!this.server?.pid) throw new Error('shipcheck up is not running');
    return this.server.pid;
  }

  /** Everything the control plane logged so far. */
  get log(): string {
    return this.serverLog;
  }

  /** Kills the control plane with SIGKILL, as a crash would, and waits for it to be gone. */
  async crash(): Promise<void> {
    const child = this.server;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.server = undefined;
  }

  /** Stops the control plane gracefully (it stops its app instances). */
  async down(): Promise<void> {
    const child = this.server;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.server = undefined;
  }

  /**
   * Stops the control plane with SIGUSR2, which leaves the app instances and the built-in proxy
   * serving for the next `up`, and returns its exit code.
   */
  async leave(): Promise<number | null> {
    const child = this.server;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGUSR2');
    const code = await exited;
    this.server = undefined;
    return code;
  }

  /** Runs the CLI against this scenario. */
  cli(...args: string[]): Promise<CliResult> {
    return runCli(args, { cwd: this.dir, env: this.cliEnv });
  }

  /** The API's view of the service. */
  async status(): Promise<{ stable: string | null; release: ReleaseJson | null }> {
    const res = await this.api('/api/v1/services/web');
    return (await res.json()) as Awaited<ReturnType<Scenario['status']>>;
  }

  /** Waits until the active or last release reaches `state`. */
  async waitForState(state: string): Promise<void> {
    await waitFor(`release state ${state}`, async () => (await this.status()).release?.state === state);
  }

  /** App processes this scenario started, by version, read from /proc (the folder is in their argv). */
  appProcesses(): { pid: number; version: string }[] {
    const found: { pid: number; version: string }[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (!cmdline.includes(this.dir) || !cmdline.includes(SAMPLE_APP)) continue;
        const environ = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
        const version =
          environ.find((e) => e.startsWith('APP_VERSION='))?.slice('APP_VERSION='.length) ?? '?';
        found.push({ pid: Number(entry), version });
      } catch {
        // The process ended while we looked.
      }
    }
    return found;
  }

  /** Counts app processes per version. */
  processCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const p of this.appProcesses()) counts[p.version] = (counts[p.version] ?? 0) + 1;
    return counts;
  }

  /**
   * The built-in proxy's own process for `unit` (from its state file), when it is alive: it outlives a
   * control plane killed with kill -9 and is stopped by a graceful stop.
   */
  proxyProcess(unit = 'web'): { pid: number; startTime: string } | undefined {
    return liveProxyProcess(this.dir, unit);
  }

  /** Instance records the control plane persisted. */
  instanceRecords(): { id: string; version: string; pid: number }[] {
    const db = new BetterSqlite3(path.join(this.dir, '.shipcheck', 'state.db'), { readonly: true });
    try {
      return db.prepare('SELECT id, version, pid FROM instances').all() as {
        id: string;
        version: string;
        pid: number;
      }[];
    } finally {
      db.close();
    }
  }

  /** Stops everything this scenario started and removes its folder. */
  async cleanup(): Promise<void> {
    await this.down().catch(() => undefined);
    await this.crash().catch(() => undefined);
    killProxyProcesses(this.dir);
    for (const p of this.appProcesses()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A command a test started and may signal before it ends. */
export interface RunningCommand {
  pid: number;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Settles when it has exited and its output is closed. */
  result: Promise<CliResult>;
}

/** Starts `command` with `args` in `cwd` (default: the repository), with `env` added to ours. */
export function startCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): RunningCommand {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  if (child.pid === undefined) {
    // The spawn error arrives as a rejection; this throw already says it.
    result.catch(() => undefined);
    throw new Error(`${command} did not start`);
  }
  return { pid: child.pid, stdout: () => stdout, stderr: () => stderr, result };
}

/** Runs bin/shipcheck with `args`. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return startCommand(process.execPath, [BIN, ...args], options).result;
}

/** Polls `check` until it is true; fails with `what` after a generous bound. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  limitMs = WAIT_LIMIT_MS,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
      if ((err as Error).message.startsWith('shipcheck up exited')) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export { TEST_USER } from '../support/auth.js';

// A real Prometheus, for tests and benchmarks that read metrics the way users' setups do; it lives in
// test/support so that unit tests can start one without the rest of this harness.
export {
  hasPrometheus,
  type PrometheusOptions,
  type RunningPrometheus,
  startPrometheus,
} from '../support/prometheus.js';
