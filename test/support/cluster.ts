import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseRouteComment } from '../../src/providers/traffic/nginx/nginx-router.js';
import { freePort } from '../../src/util/net.js';
import { BIN, ROOT, type ReleaseJson, runCli, waitFor } from '../e2e/harness.js';
import { authorized, loginAsAdmin } from './auth.js';
import { NGINX_PATH, startNginx, type TestNginx } from './nginx.js';
import { PG_URL } from './postgres.js';

const HOOKS = path.join(ROOT, 'examples', 'hooks');

export interface Replica {
  id: string;
  url: string;
  child: ChildProcess;
  log: string;
}

/** How a {@link Cluster} is set up. */
export interface ClusterOptions {
  replicas: string[];
  /** `server.leaseTtl`, e.g. `10s` (the default). */
  leaseTtl?: string;
  steps?: string;
  /** Lines added to every replica's config, e.g. a notifications block. */
  extra?: string;
}

/** Several `shipcheck up` on one PostgreSQL, a hooks fleet of real app processes, and the user's nginx. */
export class Cluster {
  readonly replicas = new Map<string, Replica>();
  nginx: TestNginx | undefined;
  /** The admin API token, made once through the first replica that logged the setup link; every replica takes it. */
  private apiToken: Promise<string> | undefined;
  private constructor(
    readonly dir: string,
    readonly schema: string,
  ) {}

  static async create(options: ClusterOptions): Promise<Cluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-replicas-'));
    const cluster = new Cluster(dir, `sc_replicas_${crypto.randomBytes(5).toString('hex')}`);
    await cluster.sql(`CREATE SCHEMA ${cluster.schema}`);
    cluster.nginx = await startNginx(dir);
    // nginx as shipcheck runs it, noting the upstream file after every reload that succeeded.
    const wrapper = path.join(dir, 'nginx-logged.sh');
    fs.writeFileSync(
      wrapper,
      `#!/bin/sh\n"${NGINX_PATH}" "$@" || exit $?\ncase "$*" in *"-s reload"*) { echo '=== reload'; cat "${cluster.nginx.upstreamFile}"; } >> "${dir}/reloads.log";; esac\n`,
      { mode: 0o755 },
    );
    const store = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${cluster.schema}`)}`;
    for (const id of options.replicas) {
      const port = await freePort();
      fs.writeFileSync(
        path.join(dir, `${id}.yaml`),
        `service: web
store: "${store}"
server: { listen: 127.0.0.1:${port}, leaseTtl: ${options.leaseTtl ?? '10s'} }
fleet:
  kind: hooks
  hooks: { start: ${HOOKS}/start.sh, stop: ${HOOKS}/stop.sh, list: ${HOOKS}/list.sh }
  instances: 2
  startTimeout: 20s
  env: { SHIPCHECK_HOOKS_STATE: "${dir}/instances" }
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }
traffic: { kind: nginx, upstream: app, upstreamFile: "${cluster.nginx.upstreamFile}", nginxConfig: "${cluster.nginx.conf}", nginxBinary: "${wrapper}" }
metrics: { kind: nginx-log, accessLog: "${cluster.nginx.accessLog}" }
strategy:
  steps: ${options.steps ?? '[{setWeight: 20}, {pause: {}}, {setWeight: 50}, {pause: 2s}]'}
analysis: { interval: 250ms, inconclusiveLimit: 400 }
${options.extra ?? ''}`,
      );
      cluster.replicas.set(id, { id, url: `http://127.0.0.1:${port}`, child: undefined as never, log: '' });
    }
    return cluster;
  }

  async sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  }

  async start(id: string): Promise<void> {
    const replica = this.replicas.get(id)!;
    replica.log = '';
    const child = spawn(process.execPath, [BIN, 'up', '-c', path.join(this.dir, `${id}.yaml`)], {
      cwd: this.dir,
      env: { ...process.env, SHIPCHECK_REPLICA_ID: id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    replica.child = child;
    child.stdout?.on('data', (d: Buffer) => (replica.log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (replica.log += d.toString()));
    await waitFor(`${id} up`, async () => {
      if (child.exitCode !== null) throw new Error(`shipcheck up exited ${child.exitCode}:\n${replica.log}`);
      return fetch(`${replica.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    });
    // The users live in PostgreSQL: the first replica up creates them, the others find them there.
    await (this.apiToken ??= loginAsAdmin(replica.url, () => replica.log));
  }

  /** The admin API token every replica accepts; set by the first {@link start}. */
  async token(): Promise<string> {
    if (this.apiToken === undefined) throw new Error('no API token before the first replica starts');
    return this.apiToken;
  }

  /** fetch of `path` on replica `id`'s API, with the API token. */
  async api(id: string, path: string): Promise<Response> {
    return fetch(`${this.replicas.get(id)!.url}${path}`, { headers: authorized(await this.token()) });
  }

  /** kill -9, as a crash or a lost machine would. */
  async kill(id: string): Promise<void> {
    const child = this.replicas.get(id)!.child;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async cli(id: string, ...args: string[]): ReturnType<typeof runCli> {
    return runCli(args, {
      cwd: this.dir,
      env: { SHIPCHECK_URL: this.replicas.get(id)!.url, SHIPCHECK_TOKEN: await this.token() },
    });
  }

  async release(id: string): Promise<ReleaseJson | null> {
    const res = await this.api(id, '/api/v1/services/web');
    return ((await res.json()) as { release: ReleaseJson | null }).release;
  }

  async holder(): Promise<string | undefined> {
    const rows = await this.sql<{ holder: string; expires_at: string }>(
      `SELECT holder, expires_at FROM ${this.schema}.leases WHERE name = 'web'`,
    );
    const row = rows[0];
    return row && Number(row.expires_at) > Date.now() ? row.holder : undefined;
  }

  /** The canary's share of traffic after each nginx reload, in order. */
  canaryShares(version: string): number[] {
    const file = path.join(this.dir, 'reloads.log');
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('=== reload\n')
      .filter((s) => s.trim() !== '')
      .map((content) => {
        const route = parseRouteComment(content);
        if (route?.canary === version) return route.weight;
        return route?.stable === version ? 100 : 0;
      });
  }

  /** Instances the hooks' list script reports, by version. */
  instanceCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    const dir = path.join(this.dir, 'instances');
    for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!file.endsWith('.json')) continue;
      const { version, pid } = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
        version: string;
        pid: number;
      };
      if (alive(pid)) counts[version] = (counts[version] ?? 0) + 1;
    }
    return counts;
  }

  /** nginx's error log and every upstream file it reloaded, for a failure message. */
  diagnostics(): string {
    const read = (file: string): string =>
      fs.existsSync(path.join(this.dir, file)) ? fs.readFileSync(path.join(this.dir, file), 'utf8') : '';
    return `nginx-error.log:\n${read('nginx-error.log').slice(-4000)}\nreloads:\n${read('reloads.log').slice(-4000)}`;
  }

  async cleanup(): Promise<void> {
    for (const replica of this.replicas.values()) {
      if (replica.child && replica.child.exitCode === null && replica.child.signalCode === null) {
        const exited = new Promise((resolve) => replica.child.once('exit', resolve));
        replica.child.kill('SIGTERM');
        await exited;
      }
    }
    // The hooks fleet's instances outlive the control plane by design; the test started them, so it ends them.
    const dir = path.join(this.dir, 'instances');
    for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!file.endsWith('.json')) continue;
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { pid: number };
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await this.nginx?.stop();
    await this.sql(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`).catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A process counts while it runs; a zombie (exited, not yet reaped) does not. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Collects the SSE events one replica streams to the holder of `token`. */
export function listen(url: string, token: string): { types: string[]; close(): void } {
  const controller = new AbortController();
  const types: string[] = [];
  void (async () => {
    const res = await fetch(`${url}/api/v1/events`, {
      signal: controller.signal,
      headers: authorized(token),
    });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (type && data) types.push(`${type}:${(JSON.parse(data) as { message: string }).message}`);
      }
    }
  })().catch(() => undefined);
  return { types, close: () => controller.abort() };
}
