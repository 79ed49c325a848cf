import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, ProviderError } from '../../../errors.js';
import { NGINX_PATH, startNginx, type TestNginx } from '../../../../test/support/nginx.js';
import { runTrafficRouterContract, VersionApps } from '../traffic-router.case.js';
import type { Route } from '../types.js';
import { NginxTrafficRouter, parseRouteComment, upstreamBlock } from './nginx-router.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const HAS_NGINX = NGINX_PATH !== undefined;
const UPSTREAM_NAME = 'app';
const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;

const fixed: Record<string, string[]> = {
  v1: ['127.0.0.1:1001', '127.0.0.1:1002'],
  v2: ['127.0.0.1:2001', '127.0.0.1:2002'],
  v3: ['127.0.0.1:3001', '127.0.0.1:3002', '127.0.0.1:3003'],
  none: [],
};
const fixedSource = (version: string): readonly string[] => fixed[version] ?? [];

/** Sums the server weights per version in a block, to check the split it encodes. */
function shares(block: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const [, address, weight] of block.matchAll(/server (\S+) weight=(\d+);/g)) {
    const version = Object.keys(fixed).find((v) => fixed[v]!.includes(address!))!;
    totals[version] = (totals[version] ?? 0) + Number(weight);
  }
  return totals;
}

describe('upstreamBlock', () => {
  it('splits by weight with exact integer ratios and names the route', () => {
    const block = upstreamBlock('app', { stable: 'v1', canary: 'v3', weight: 10 }, fixedSource);
    const totals = shares(block);
    expect(totals.v3! / (totals.v1! + totals.v3!)).toBeCloseTo(0.1, 10);
    expect(block).toContain('# shipcheck route: stable=v1 canary=v3 weight=10\nupstream app {');
    expect(block).toContain('    keepalive 32;\n}\n');
    expect(parseRouteComment(block)).toEqual({ stable: 'v1', canary: 'v3', weight: 10 });
  });

  it('leaves out a version at 0% and gives a version without ready servers share to the other', () => {
    expect(shares(upstreamBlock('app', { stable: 'v1', canary: 'v2', weight: 0 }, fixedSource))).toEqual({
      v1: 2,
    });
    expect(shares(upstreamBlock('app', { stable: 'v1', canary: 'v2', weight: 100 }, fixedSource))).toEqual({
      v2: 2,
    });
    expect(shares(upstreamBlock('app', { stable: 'none', canary: 'v2', weight: 5 }, fixedSource))).toEqual({
      v2: 2,
    });
    expect(shares(upstreamBlock('app', { stable: 'v1', canary: 'none', weight: 50 }, fixedSource))).toEqual({
      v1: 2,
    });
    expect(shares(upstreamBlock('app', { stable: 'v1', canary: undefined, weight: 0 }, fixedSource))).toEqual(
      { v1: 2 },
    );
  });

  it('never writes an empty upstream and rejects bad input', () => {
    expect(() => upstreamBlock('app', { stable: 'none', canary: undefined, weight: 0 }, fixedSource)).toThrow(
      ProviderError,
    );
    expect(() => upstreamBlock('app', { stable: 'v1', canary: 'v2', weight: 101 }, fixedSource)).toThrow(
      InputError,
    );
    expect(() => upstreamBlock('a b', { stable: 'v1', canary: undefined, weight: 0 }, fixedSource)).toThrow(
      InputError,
    );
    expect(() =>
      upstreamBlock('app', { stable: 'v1', canary: undefined, weight: 0 }, () => ['x; }']),
    ).toThrow(InputError);
  });

  it('round-trips version names that need escaping', () => {
    const route: Route = { stable: undefined, canary: 'v 2\n#', weight: 100 };
    const block = upstreamBlock('app', route, () => ['127.0.0.1:1']);
    expect(block.split('\n')[0]).toBe('# shipcheck route: stable= canary=v%202%0A%23 weight=100');
    expect(parseRouteComment(block)).toEqual(route);
  });
});

describe.runIf(!HAS_NGINX && REQUIRE_REAL)('NginxTrafficRouter against nginx (required)', () => {
  it('has nginx because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail('nginx is not on PATH; install it (Debian: apt-get install -y nginx)');
  });
});

describe.skipIf(!HAS_NGINX)(
  HAS_NGINX
    ? 'NginxTrafficRouter against a real nginx'
    : 'NginxTrafficRouter: SKIPPED, nginx is not installed',
  () => {
    let apps: VersionApps | undefined;
    let tmp = '';
    let conf = '';
    let upstreamFile = '';
    let port = 0;
    let nginx: TestNginx | undefined;
    let router: NginxTrafficRouter;

    beforeAll(async () => {
      apps = await VersionApps.start();
      tmp = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-router-'));
      nginx = await startNginx(tmp, { name: UPSTREAM_NAME });
      ({ conf, upstreamFile, port } = nginx);
      router = new NginxTrafficRouter({
        upstream: UPSTREAM_NAME,
        upstreamFile,
        nginxConfig: conf,
        prefix: tmp,
        upstreams: apps.upstreams,
      });
      await router.start();
      await router.setRoute({ stable: 'v1', canary: undefined, weight: 0 });
      await waitFor(async () => (await get(port).catch(() => undefined)) === 'v1', START_TIMEOUT_MS);
    });

    afterAll(async () => {
      await router?.close();
      await nginx?.stop();
      await apps?.close();
      if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    });

    runTrafficRouterContract('nginx', {
      harness: () => ({ router, address: `127.0.0.1:${port}`, apps: apps! }),
      applyFailures: [
        {
          what: 'nginx -t rejects the config',
          cause: async () => {
            const original = readFileSync(conf, 'utf8');
            writeFileSync(conf, original.replace(/\n}\n$/, '\n  not_a_directive on;\n}\n'));
            return async () => writeFileSync(conf, original);
          },
          message:
            /^nginx -t rejected the config .*restored the last good .*unknown directive "not_a_directive"/,
        },
      ],
    });

    it('skips the reload when the file would not change', async () => {
      const calls: string[][] = [];
      const spy = new NginxTrafficRouter({
        upstream: UPSTREAM_NAME,
        upstreamFile,
        nginxConfig: conf,
        upstreams: apps!.upstreams,
        run: async (_cmd, args) => {
          calls.push(args);
          return { code: 0, stdout: '', stderr: '' };
        },
      });
      const route = (await router.currentRoute())!;
      await spy.setRoute(route);
      expect(calls).toEqual([]);
    });

    it('reports a reload nginx did not act on, and restores the last good file', async () => {
      await router.setRoute({ stable: 'v1', canary: 'v2', weight: 20 });
      const good = readFileSync(upstreamFile, 'utf8');
      // nginx -t does not bind ports, so a listen on a port in use passes the test and fails the reload.
      const busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      const busyPort = (busy.address() as net.AddressInfo).port;
      const original = readFileSync(conf, 'utf8');
      writeFileSync(
        conf,
        original.replace(/\n}\n$/, `\n  server { listen 127.0.0.1:${busyPort}; return 204; }\n}\n`),
      );
      try {
        const strict = new NginxTrafficRouter({
          upstream: UPSTREAM_NAME,
          upstreamFile,
          nginxConfig: conf,
          prefix: tmp,
          upstreams: apps!.upstreams,
          reloadTimeoutMs: 1000,
        });
        const attempt = strict.setRoute({ stable: 'v1', canary: 'v2', weight: 60 });
        await expect(attempt).rejects.toThrow(/nginx did not start workers on the new configuration/);
        expect(readFileSync(upstreamFile, 'utf8')).toBe(good);
        expect(['v1', 'v2']).toContain(await get(port));
      } finally {
        writeFileSync(conf, original);
        await new Promise((resolve) => busy.close(resolve));
      }
    });
  },
);

/** One GET on a fresh connection; a reload closes idle keep-alive connections, which is the client's race to retry. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}: ${body}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}
