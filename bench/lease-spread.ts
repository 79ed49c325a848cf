import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { BIN, ROOT } from '../test/e2e/harness.js';
import { PG_URL, probePostgres, unreachableMessage } from '../test/support/postgres.js';
import { killProxyProcesses } from '../test/support/proxy-process.js';

/**
 * (g) How replicas share the units: one service with 60 environments (60 units, no release, so no
 *     instance runs) over three `shipcheck up` on one PostgreSQL, against server.leaseTtl:
 *     - the time until the leases settle (every unit held, no replica above its fair share plus one)
 *       after a first replica, then two more, start, and how many leases change hands once settled;
 *     - after kill -9 of one replica, the time until its units are held again and settled, and the
 *       longest a unit went without a holder (from its old lease's expiry to its new holder's taking).
 */

const UNITS = 60;
const REPLICAS = ['spread-a', 'spread-b', 'spread-c'];
const LEASE_TTL_MS = 2000;
/** Bound on every wait: far above what settling needs, so a broken spread fails instead of hanging. */
const WAIT_LIMIT_MS = 30 * LEASE_TTL_MS;
/** How long the settled spread is watched for leases changing hands. */
const WATCH_MS = 5 * LEASE_TTL_MS;
const POLL_MS = 50;
const SAMPLE_APP = path.join(ROOT, 'examples', 'app', 'server.js');
/** What `shipcheck up` logs once every unit's engine has started. */
const UP_LINE = 'shipcheck up: API';

interface LeaseRow {
  name: string;
  holder: string;
  expires_at: string;
  acquired_at: string;
  epoch: number;
}

interface Running {
  child: ChildProcess;
  log: string;
}

/** Three replicas' config files, a schema of their own, and the processes while they run. */
class Bench {
  readonly running = new Map<string, Running>();
  private readonly client: pg.Client;

  constructor(
    readonly dir: string,
    readonly schema: string,
  ) {
    this.client = new pg.Client({ connectionString: PG_URL });
  }

  async setUp(): Promise<void> {
    await this.client.connect();
    await this.client.query(`CREATE SCHEMA ${this.schema}`);
    const store = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${this.schema}`)}`;
    const environments = Array.from({ length: UNITS }, (_, i) => `  e${String(i).padStart(2, '0')}: {}`);
    for (const id of REPLICAS) {
      fs.writeFileSync(
        path.join(this.dir, `${id}.yaml`),
        `service: web
store: "${store}"
# Port 0 for the API too: a port picked in advance could be taken by another replica's proxies.
server: { listen: 127.0.0.1:0, leaseTtl: ${LEASE_TTL_MS}ms }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
# Each environment's proxy gets a free port from the OS.
traffic: { kind: proxy, listen: "127.0.0.1:0" }
environments:
${environments.join('\n')}
`,
      );
    }
  }

  /** Starts a replica and waits until it is up: its API answers and every unit's engine has started. */
  async start(id: string): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'up', '-c', path.join(this.dir, `${id}.yaml`)], {
      cwd: this.dir,
      env: { ...process.env, SHIPCHECK_REPLICA_ID: id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const running: Running = { child, log: '' };
    const keep = (d: Buffer): void => {
      running.log = (running.log + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.running.set(id, running);
    await this.until(`${id} to start`, async () => {
      if (child.exitCode !== null) throw new Error(`${id} exited ${child.exitCode}:\n${running.log}`);
      return running.log.includes(UP_LINE);
    });
  }

  /** kill -9: the replica renews nothing and lets nothing go. */
  async kill(id: string): Promise<void> {
    const { child } = this.running.get(id)!;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.running.delete(id);
  }

  async leases(): Promise<LeaseRow[]> {
    return (await this.client.query<LeaseRow>(`SELECT * FROM ${this.schema}.leases`)).rows;
  }

  /** Units held now, by holder. */
  async counts(): Promise<Record<string, number>> {
    const now = Date.now();
    const counts: Record<string, number> = {};
    for (const lease of await this.leases()) {
      if (Number(lease.expires_at) > now) counts[lease.holder] = (counts[lease.holder] ?? 0) + 1;
    }
    return counts;
  }

  /** Every unit held by a running replica, none above its fair share plus one. */
  async settled(): Promise<boolean> {
    const counts = await this.counts();
    const fair = Math.ceil(UNITS / this.running.size);
    const held = [...this.running.keys()].map((id) => counts[id] ?? 0);
    return held.reduce((a, b) => a + b, 0) === UNITS && held.every((c) => c <= fair + 1);
  }

  /** Polls `check` until it holds; returns the ms it took. */
  async until(what: string, check: () => Promise<boolean>): Promise<number> {
    const start = performance.now();
    while (!(await check())) {
      if (performance.now() - start > WAIT_LIMIT_MS) {
        const logs = [...this.running.entries()].map(([id, r]) => `--- ${id}\n${r.log.slice(-3000)}`);
        throw new Error(`waited ${WAIT_LIMIT_MS} ms for ${what}\n${logs.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return performance.now() - start;
  }

  async tearDown(): Promise<void> {
    for (const { child } of this.running.values()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    this.running.clear();
    // A replica killed with kill -9 leaves its built-in proxy's process serving.
    killProxyProcesses(this.dir);
    await this.client.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`).catch(() => undefined);
    await this.client.end().catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const ttl = (ms: number): string => `${(ms / LEASE_TTL_MS).toFixed(2)} TTL (${seconds(ms)})`;
const shown = (counts: Record<string, number>): string =>
  REPLICAS.filter((id) => counts[id] !== undefined)
    .map((id) => `${id} ${counts[id]}`)
    .join(', ');

export async function main(): Promise<void> {
  const problem = await probePostgres();
  if (problem !== undefined) throw new Error(unreachableMessage(problem));
  const bench = new Bench(
    fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-spread-')),
    `sc_spread_${crypto.randomBytes(5).toString('hex')}`,
  );
  try {
    await bench.setUp();
    const [first, ...others] = REPLICAS as [string, ...string[]];
    console.log(`${UNITS} units over ${REPLICAS.length} replicas, server.leaseTtl ${LEASE_TTL_MS} ms (TTL):`);

    // A replica asks for a unit's lease once that unit's engine has started, one unit after another,
    // so the time to settle counts from the launch and includes the replicas' own start.
    let launchedAt = performance.now();
    await bench.start(first);
    let up = performance.now() - launchedAt;
    await bench.until('the first replica to hold every unit', () => bench.settled());
    let settled = performance.now() - launchedAt;
    console.log(`  ${first} alone: started in ${seconds(up)}, held all ${UNITS} at ${ttl(settled)}`);

    launchedAt = performance.now();
    await Promise.all(others.map((id) => bench.start(id)));
    up = performance.now() - launchedAt;
    await bench.until('the spread to settle', () => bench.settled());
    settled = performance.now() - launchedAt;
    console.log(
      `  ${others.join(' and ')} join: started in ${seconds(up)}, settled at ${ttl(settled)} ` +
        `(${ttl(settled - up)} after both were up); ${shown(await bench.counts())}`,
    );

    const epochs = (rows: LeaseRow[]): number => rows.reduce((sum, l) => sum + Number(l.epoch), 0);
    const before = epochs(await bench.leases());
    await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
    const moved = epochs(await bench.leases()) - before;
    console.log(`  leases changing hands in the ${WATCH_MS / LEASE_TTL_MS} TTLs after settling: ${moved}`);

    const counts = await bench.counts();
    const victim = REPLICAS.reduce((a, b) => ((counts[b] ?? 0) > (counts[a] ?? 0) ? b : a));
    const now = Date.now();
    const orphaned = (await bench.leases()).filter((l) => l.holder === victim && Number(l.expires_at) > now);
    const killedAt = performance.now();
    await bench.kill(victim);
    const heldAgain = await bench.until(`${victim}'s units to be held again`, async () => {
      const held = await bench.counts();
      return [...bench.running.keys()].reduce((sum, id) => sum + (held[id] ?? 0), 0) === UNITS;
    });
    await bench.until('the spread to settle again', () => bench.settled());
    const settledAgain = performance.now() - killedAt;
    const after = new Map((await bench.leases()).map((l) => [l.name, l]));
    const gaps = orphaned.map((old) => Number(after.get(old.name)!.acquired_at) - Number(old.expires_at));
    console.log(
      `  kill -9 of ${victim} (${orphaned.length} units): all held again at ${ttl(heldAgain)}, ` +
        `settled at ${ttl(settledAgain)}; ${shown(await bench.counts())}`,
    );
    console.log(
      `  longest a unit went without a holder after its lease expired: ${ttl(Math.max(0, ...gaps))}`,
    );
  } finally {
    await bench.tearDown();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
