import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  anyStillAccepting,
  childrenOf,
  readMasterPid,
} from '../src/providers/traffic/nginx/nginx-workers.js';
import { NginxTrafficRouter, upstreamBlock } from '../src/providers/traffic/nginx/nginx-router.js';
import { Cluster } from '../test/support/cluster.js';
import { NGINX_PATH, startNginx } from '../test/support/nginx.js';
import { probePostgres, unreachableMessage } from '../test/support/postgres.js';
import { waitFor } from '../test/e2e/harness.js';

/**
 * (e) nginx weight-change time: a whole setRoute (write the upstream file, nginx -t, reload, wait for
 *     the new workers), against a bare reload plus the same wait in the same run;
 * (f) takeover time after kill -9 of the lease holder, against server.leaseTtl: from the kill to the
 *     `replica.leading` event the follower writes as it begins its first reconcile pass as holder.
 */

const WEIGHT_CHANGES = 20;
const TAKEOVER_RUNS = 5;
const LEASE_TTL_MS = 10_000;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const ms = (value: number): string => `${value.toFixed(1)} ms`;

async function nginxWeightChanges(): Promise<{ route: number[]; bare: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-nginx-'));
  const servers: http.Server[] = [];
  const addresses: Record<string, string[]> = { v1: [], v2: [] };
  for (const version of ['v1', 'v1', 'v2', 'v2']) {
    const server = http.createServer((_req, res) => res.end(version));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    addresses[version]!.push(`127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  }
  const nginx = await startNginx(dir);
  try {
    const upstreams = (version: string): readonly string[] => addresses[version] ?? [];
    const router = new NginxTrafficRouter({
      upstream: 'app',
      upstreamFile: nginx.upstreamFile,
      nginxConfig: nginx.conf,
      prefix: dir,
      upstreams,
    });
    await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
    const route: number[] = [];
    const bare: number[] = [];
    const master = await readMasterPid(path.join(dir, 'nginx.pid'));
    if (master === undefined) throw new Error('cannot find the nginx master pid');
    for (let i = 1; i <= WEIGHT_CHANGES; i++) {
      const weight = (i * 37) % 100 || 1;
      let start = performance.now();
      await router.setRoute({ stable: 'v1', canary: 'v2', weight });
      route.push(performance.now() - start);
      // The reference: what any tool pays to have nginx run a changed file, a reload and new workers.
      fs.writeFileSync(
        nginx.upstreamFile,
        upstreamBlock('app', { stable: 'v1', canary: 'v2', weight: (weight + 1) % 100 }, upstreams),
      );
      const before = await childrenOf(master);
      start = performance.now();
      process.kill(master, 'SIGHUP');
      // Until the new split is live, checked as the router checks it: a new worker is up and no old
      // one takes new connections, polled as often.
      while (
        ![...(await childrenOf(master))].some((p) => !before.has(p)) ||
        (await anyStillAccepting(before))
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      bare.push(performance.now() - start);
    }
    return { route, bare };
  } finally {
    await nginx.stop();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function takeovers(): Promise<number[]> {
  const ids = ['bench-a', 'bench-b'];
  const cluster = await Cluster.create({ replicas: ids, leaseTtl: `${LEASE_TTL_MS / 1000}s` });
  const times: number[] = [];
  try {
    for (const id of ids) await cluster.start(id);
    await waitFor('a lease holder', async () => (await cluster.holder()) !== undefined);
    const deployed = await cluster.cli(ids[0]!, 'deploy', 'v1', '--wait');
    if (deployed.code !== 0) throw new Error(`deploy v1 failed: ${deployed.stdout}${deployed.stderr}`);
    for (let run = 0; run < TAKEOVER_RUNS; run++) {
      const holder = (await cluster.holder())!;
      const killedAt = Date.now();
      await cluster.kill(holder);
      let at = 0;
      await waitFor(
        'the takeover',
        async () => {
          const rows = await cluster.sql<{ at: string; message: string }>(
            `SELECT at, message FROM ${cluster.schema}.events WHERE type = 'replica.leading' ORDER BY id DESC LIMIT 1`,
          );
          const row = rows[0];
          if (!row || Number(row.at) < killedAt || row.message.startsWith(`${holder} `)) return false;
          at = Number(row.at);
          return true;
        },
        LEASE_TTL_MS * 3,
      );
      times.push(at - killedAt);
      await cluster.start(holder);
    }
    return times;
  } finally {
    await cluster.cleanup();
  }
}

export async function main(): Promise<void> {
  if (!NGINX_PATH) throw new Error('nginx not found: install it (Debian: apt-get install -y nginx)');
  const { route, bare } = await nginxWeightChanges();
  const routeMedian = quantile(route, 0.5);
  const bareMedian = quantile(bare, 0.5);
  console.log(
    `nginx weight change over ${WEIGHT_CHANGES} changes (write, nginx -t, reload, new workers up):`,
  );
  console.log(`  shipcheck setRoute   median ${ms(routeMedian)}  worst ${ms(Math.max(...route))}`);
  console.log(`  bare reload + wait   median ${ms(bareMedian)}  worst ${ms(Math.max(...bare))}`);
  console.log(`  ratio                ${(routeMedian / bareMedian).toFixed(2)}x`);

  const problem = await probePostgres();
  if (problem !== undefined) throw new Error(unreachableMessage(problem));
  const times = await takeovers();
  console.log(
    `takeover after kill -9 of the lease holder (server.leaseTtl ${LEASE_TTL_MS / 1000}s, ${TAKEOVER_RUNS} runs):`,
  );
  console.log(`  runs   ${times.map((t) => `${(t / 1000).toFixed(2)} s`).join(', ')}`);
  console.log(
    `  median ${(quantile(times, 0.5) / 1000).toFixed(2)} s  worst ${(Math.max(...times) / 1000).toFixed(2)} s`,
  );
  console.log(`  ratio to the TTL     ${(Math.max(...times) / LEASE_TTL_MS).toFixed(2)} (worst)`);
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
