import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { Cluster, listen } from '../support/cluster.js';
import { NGINX_PATH } from '../support/nginx.js';
import { REQUIRE_REAL, probePostgres, unreachableMessage } from '../support/postgres.js';
import { waitFor } from './harness.js';

const REPLICAS = ['replica-a', 'replica-b', 'replica-c'];

const pgProblem = await probePostgres();
const missing = [
  pgProblem === undefined ? undefined : unreachableMessage(pgProblem),
  NGINX_PATH === undefined ? 'nginx is not installed (apt-get install nginx)' : undefined,
].filter((m) => m !== undefined);
if (missing.length > 0 && !REQUIRE_REAL)
  console.warn(`SKIPPING the replica end-to-end test: ${missing.join('; ')}`);

describe.runIf(missing.length === 0 || REQUIRE_REAL)(
  'several control-plane replicas on one PostgreSQL',
  () => {
    let cluster: Cluster | undefined;
    let hooks: http.Server | undefined;
    afterAll(async () => {
      await cluster?.cleanup();
      if (hooks) await new Promise((resolve) => hooks!.close(resolve));
    });

    it('carries a rollout on after the lease holder is killed, shifting each weight once', async () => {
      if (missing.length > 0) throw new Error(`${missing.join('; ')}, and SHIPCHECK_REQUIRE_REAL=1`);
      // A webhook receiver, to see that each notification arrives once across the takeover.
      const received: { key: string; type: string; message: string }[] = [];
      hooks = http.createServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          const { event } = JSON.parse(body) as { event: { type: string; message: string } };
          received.push({
            key: String(req.headers['idempotency-key']),
            type: event.type,
            message: event.message,
          });
          res.end();
        });
      });
      await new Promise<void>((resolve) => hooks!.listen(0, '127.0.0.1', resolve));
      const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/`;
      cluster = await Cluster.create({
        replicas: REPLICAS,
        extra: `notifications: { webhooks: [{ url: "${hookUrl}", events: [release.*] }] }\n`,
      });
      const c = cluster;
      for (const id of REPLICAS) await c.start(id);
      await waitFor('a lease holder', async () => (await c.holder()) !== undefined);

      // Given v1 deployed through one replica and v2 started through another, under load through nginx
      expect((await c.cli('replica-b', 'deploy', 'v1', '--wait')).code).toBe(0);
      const load = new LoadGenerator({
        url: `http://127.0.0.1:${c.nginx!.port}/`,
        rps: 40,
        concurrency: 4,
        maxDurationMs: 120_000,
        retryResets: true,
      });
      load.start();
      expect((await c.cli('replica-c', 'deploy', 'v2')).code).toBe(0);
      await waitFor('v2 paused at 20%', async () => {
        const release = await c.release('replica-a');
        return release?.weight === 20 && release.state === 'paused';
      });

      // When the replica holding the lease is killed with kill -9, and the release is promoted through a survivor
      const holder = (await c.holder())!;
      const survivors = REPLICAS.filter((id) => id !== holder);
      const watcher = listen(c.replicas.get(survivors[0]!)!.url, await c.token());
      const sentBeforeKill = received.length;
      await c.kill(holder);
      const sentAtKill = received.length;
      expect((await c.cli(survivors[1]!, 'promote')).code).toBe(0);

      // Then another replica takes the release over and completes it
      await waitFor(
        'the release to succeed',
        async () => (await c.release(survivors[0]!))?.state === 'succeeded',
      );
      const report = await load.stop();
      watcher.close();
      const release = (await c.release(survivors[1]!))!;
      expect(release.version).toBe('v2');
      const newHolder = await c.holder();
      expect(survivors).toContain(newHolder);
      // A replica without the lease says who drives the service, in the API and in `status`.
      const follower = survivors.find((id) => id !== newHolder)!;
      const view = (await (await c.api(follower, '/api/v1/services/web')).json()) as {
        replica: { id: string; leading: boolean; holder: string | null };
      };
      expect(view.replica).toEqual({ id: follower, leading: false, holder: newHolder });
      expect((await c.cli(follower, 'status')).stdout).toContain(
        `replica  ${follower}; ${newHolder} drives web and watches its instances`,
      );

      // And each weight of the plan was applied once: recorded once under its key, and reloaded once in nginx
      const effects = await c.sql<{ key: string; state: string; holder: string }>(
        `SELECT key, state, holder FROM ${c.schema}.effects WHERE kind = 'traffic' AND release_id = ${release.id} ORDER BY at`,
      );
      expect(effects.map((e) => [e.key, e.state])).toEqual([
        [`web#${release.id}:traffic:20`, 'done'],
        [`web#${release.id}:traffic:50`, 'done'],
        [`web#${release.id}:traffic:100`, 'done'],
      ]);
      expect(effects[0]!.holder).toBe(holder);
      expect(effects[1]!.holder).toBe(newHolder);
      const shares = c.canaryShares('v2');
      const changes = shares.filter((share, i) => share !== (shares[i - 1] ?? 0));
      expect(changes).toEqual([20, 50, 100]);

      // And the takeover was announced, reached a client of another replica, and no request failed
      const takeovers = await c.sql<{ message: string }>(
        `SELECT message FROM ${c.schema}.events WHERE type = 'replica.leading' ORDER BY id`,
      );
      expect(takeovers.at(-1)?.message).toMatch(
        new RegExp(`^${newHolder} drives web \\(lease epoch \\d+\\)$`),
      );
      expect(watcher.types.some((t) => t.startsWith('release.weight:v2 weight 50%'))).toBe(true);
      expect(watcher.types.some((t) => t.startsWith('release.succeeded:'))).toBe(true);
      // Every request sent got an answer, and every answer was a 2xx: a request reset by a reload of
      // nginx is sent again once on a new connection, as a browser does (counted in `retried`).
      const why = `${JSON.stringify(report)}\n${c.diagnostics()}`;
      expect(report.failed + report.proxyErrors, why).toBe(0);
      const answered = Object.values(report.byVersion).flatMap((counts) => Object.entries(counts));
      expect(
        answered.filter(([klass]) => klass !== '2xx'),
        why,
      ).toEqual([]);
      expect(
        answered.reduce((sum, [, n]) => sum + n, 0),
        why,
      ).toBe(report.sent);
      expect(report.sent, why).toBeGreaterThan(100);
      // And every notification of v2's release reached the webhook, under its idempotency key. The one
      // delivery in flight when the holder died may come again, with the same key, and nothing else may.
      await waitFor('the success notification', () =>
        received.some((r) => r.type === 'release.succeeded' && r.message.startsWith('v2 ')),
      );
      const keys = received.map((r) => r.key);
      const repeated = received.filter((r, i) => keys.indexOf(r.key) !== i);
      const inFlight = received.slice(Math.max(0, sentBeforeKill - 1), sentAtKill).map((r) => r.key);
      expect(repeated.length, JSON.stringify(repeated)).toBeLessThanOrEqual(1);
      for (const r of repeated) expect(inFlight).toContain(r.key);
      const once = received.filter((r, i) => keys.indexOf(r.key) === i);
      expect(once.filter((r) => r.type === 'release.weight').map((r) => r.message)).toEqual([
        'v1 takes all traffic (first release)',
        'v2 weight 20%',
        'v2 weight 50%',
        'v2 weight 100%',
      ]);
      const notified = await c.sql<{ state: string; holder: string }>(
        `SELECT state, holder FROM ${c.schema}.effects WHERE kind = 'notification' AND release_id = ${release.id}`,
      );
      expect(notified.every((e) => e.state === 'done')).toBe(true);
      expect(new Set(notified.map((e) => e.holder))).toEqual(new Set([holder, newHolder]));
      // And no instance was started twice: v2 serves, v1 stays warm as the previous version
      await waitFor('instances settle', () => {
        const counts = c.instanceCounts();
        return counts.v2 === 2 && counts.v1 === 2;
      });
    });
  },
);
