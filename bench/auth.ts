import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../src/util/net.js';
import { TEST_USER, authorized, login, loginAsAdmin } from '../test/support/auth.js';
import { killProxyProcesses } from '../test/support/proxy-process.js';
import { runWrk, type WrkResult } from './proxy.js';

/**
 * (i) What authentication costs per API request: the same read (`GET /api/v1/services`) against a
 * control plane with `server.auth.required: false` (the reference), and against one with auth on,
 * with an API token and with a session cookie; and what one password login costs (argon2id).
 * Both control planes run as `shipcheck up` processes; wrk drives them, interleaved, round by round.
 */

const BIN = fileURLToPath(new URL('../../bin/shipcheck', import.meta.url));
const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));
const STARTED_LINE = /"api":"(http:\/\/[^"]+)"/;
const DEFAULT_SECONDS = 5;
const DEFAULT_ROUNDS = 3;
const CONNECTIONS = 8;
const LOGINS = 10;
const START_LIMIT_MS = 30_000;
const POLL_MS = 100;
const PASSWORD = 'correct horse battery staple';

interface Plane {
  child: ChildProcess;
  url: string;
  log: string;
  dir: string;
}

async function startPlane(authRequired: boolean): Promise<Plane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-auth-'));
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(
    file,
    `service: web
server: { listen: 127.0.0.1:${await freePort()}, auth: { required: ${authRequired} } }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
traffic: { kind: proxy, listen: 127.0.0.1:${await freePort()} }
`,
  );
  const log = path.join(dir, 'up.log');
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [BIN, 'up', '-c', file], { cwd: dir, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const deadline = Date.now() + START_LIMIT_MS;
  for (;;) {
    const url = STARTED_LINE.exec(fs.readFileSync(log, 'utf8'))?.[1];
    if (url !== undefined) return { child, url, log, dir };
    if (child.exitCode !== null) throw new Error(`shipcheck up exited:\n${fs.readFileSync(log, 'utf8')}`);
    if (Date.now() > deadline) throw new Error('shipcheck up did not start in time');
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function stopPlane(plane: Plane): Promise<void> {
  if (plane.child.exitCode === null) {
    const exited = new Promise((resolve) => plane.child.once('exit', resolve));
    plane.child.kill('SIGTERM');
    await exited;
  }
  killProxyProcesses(plane.dir);
  fs.rmSync(plane.dir, { recursive: true, force: true });
}

async function wrk(url: string, headers: Record<string, string>, seconds: number): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${CONNECTIONS}`,
    '-d',
    `${seconds}s`,
    '--latency',
    ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    url,
  ];
  return runWrk(args);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** What main() measured: medians over rounds, and the login cost. */
export interface AuthBenchResult {
  open: { rps: number; p50Ms: number };
  token: { rps: number; p50Ms: number };
  session: { rps: number; p50Ms: number };
  loginMs: number;
  errors: number;
}

/** Runs the benchmark, prints figures and ratios, and stops both control planes, even on error. */
export async function main(options: { seconds?: number; rounds?: number } = {}): Promise<AuthBenchResult> {
  const seconds = options.seconds ?? DEFAULT_SECONDS;
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  const planes: Plane[] = [];
  try {
    const open = await startPlane(false);
    planes.push(open);
    const locked = await startPlane(true);
    planes.push(locked);
    const token = await loginAsAdmin(locked.url, () => fs.readFileSync(locked.log, 'utf8'));
    const session = await login(locked.url, TEST_USER, PASSWORD);
    const route = '/api/v1/services';
    const runs = { open: [] as WrkResult[], token: [] as WrkResult[], session: [] as WrkResult[] };
    for (let round = 0; round < rounds; round++) {
      runs.open.push(await wrk(open.url + route, {}, seconds));
      // Token and session alternate which goes first, so neither always meets a colder process.
      const pair = [
        async () => runs.token.push(await wrk(locked.url + route, authorized(token), seconds)),
        async () => runs.session.push(await wrk(locked.url + route, { cookie: session.cookie }, seconds)),
      ];
      for (const run of round % 2 === 0 ? pair : [...pair].reverse()) await run();
    }
    const loginTimes: number[] = [];
    for (let i = 0; i < LOGINS; i++) {
      const started = performance.now();
      await login(locked.url, TEST_USER, PASSWORD);
      loginTimes.push(performance.now() - started);
    }
    const summary = (list: WrkResult[]): { rps: number; p50Ms: number } => ({
      rps: median(list.map((r) => r.rps)),
      p50Ms: median(list.map((r) => r.p50Ms ?? NaN)),
    });
    const result: AuthBenchResult = {
      open: summary(runs.open),
      token: summary(runs.token),
      session: summary(runs.session),
      loginMs: median(loginTimes),
      errors: [...runs.open, ...runs.token, ...runs.session].reduce((sum, r) => sum + r.errors, 0),
    };
    console.log(
      `GET ${route}, ${CONNECTIONS} connections, ${seconds}s x ${rounds} rounds (medians), one service, wrk:`,
    );
    for (const [name, figures] of Object.entries({
      'auth off (reference)': result.open,
      'API token': result.token,
      'session cookie': result.session,
    }))
      console.log(
        `    ${name.padEnd(22)} ${figures.rps.toFixed(0).padStart(7)} req/s, p50 ${figures.p50Ms.toFixed(2)} ms`,
      );
    console.log(
      `    ratio token/off: throughput ${(result.token.rps / result.open.rps).toFixed(2)}, p50 added ${(result.token.p50Ms - result.open.p50Ms).toFixed(2)} ms; session/off: throughput ${(result.session.rps / result.open.rps).toFixed(2)}`,
    );
    console.log(
      `    one password login (argon2id, 19 MiB, t=2): median ${result.loginMs.toFixed(0)} ms over ${LOGINS}`,
    );
    console.log(`    failed requests: ${result.errors}`);
    return result;
  } finally {
    for (const plane of planes) await stopPlane(plane);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const option = (name: string): number | undefined => {
    const index = process.argv.indexOf(name);
    return index > 0 ? Number(process.argv[index + 1]) : undefined;
  };
  main({ seconds: option('--seconds'), rounds: option('--rounds') }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
