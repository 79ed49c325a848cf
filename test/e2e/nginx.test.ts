import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { NGINX_PATH, startNginx, type TestNginx } from '../support/nginx.js';
import { Scenario, waitFor } from './harness.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const hasNginx = NGINX_PATH !== undefined;
if (!hasNginx && !REQUIRE_REAL)
  console.warn('SKIPPING the nginx end-to-end test: nginx is not installed (apt-get install nginx)');

describe.runIf(hasNginx || REQUIRE_REAL)('a rollout through the nginx the user already runs', () => {
  let s: Scenario | undefined;
  let nginx: TestNginx | undefined;
  afterEach(async () => {
    await s?.cleanup().catch(() => undefined);
    await nginx?.stop();
    s = undefined;
    nginx = undefined;
  });

  it('shifts weights by reloading nginx and rolls back on errors read from its access log', async () => {
    if (!hasNginx) throw new Error('nginx is not installed, and SHIPCHECK_REQUIRE_REAL=1');
    // Given an nginx in front of the fleet, with shipcheck owning its upstream file
    s = await Scenario.create({
      faults: { v3: { errorRate: 0.5 } },
      steps: '[{setWeight: 20}, {pause: 1s}, {setWeight: 50}, {pause: 1s}]',
      triggers: '[{metric: error_rate, above: 5%, window: 3s, minRequests: 10}]',
      traffic: `traffic: { kind: nginx, upstream: app, upstreamFile: "{{dir}}/upstream.conf", nginxConfig: "{{dir}}/nginx.conf" }
metrics: { kind: nginx-log, accessLog: "{{dir}}/access.log" }`,
    });
    nginx = await startNginx(s.dir);
    const port = nginx.port;
    await s.up();

    // When v1 and then a good v2 are deployed under load through nginx
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const load = new LoadGenerator({
      url: `http://127.0.0.1:${port}/`,
      rps: 60,
      concurrency: 4,
      maxDurationMs: 60_000,
      // A reload closes nginx's idle keep-alive connections; a GET that raced one is retried, as
      // browsers and most HTTP clients do. A reset after nginx took the request still fails.
      retryResets: true,
    });
    load.start();
    const good = await s.cli('deploy', 'v2', '--wait');
    const afterGood = load.snapshot();
    // And a bad v3
    const bad = await s.cli('deploy', 'v3', '--wait');
    const report = await load.stop();

    // Then v2 was promoted with every request answered, and v3 was rolled back from nginx's own log
    expect(good.code, good.stdout).toBe(0);
    expect(afterGood.failed + afterGood.proxyErrors, JSON.stringify(afterGood)).toBe(0);
    expect(bad.code, bad.stdout).toBe(3);
    expect((await s.status()).release?.reason).toMatch(/error_rate \d+(\.\d)?% > 5% over 3s on v3/);
    expect(report.sent).toBeGreaterThan(afterGood.sent);
    const upstream = fs.readFileSync(path.join(s.dir, 'upstream.conf'), 'utf8');
    expect(upstream).toMatch(/# shipcheck route: stable=v2 /);
    await waitFor('v3 stopped', () => !('v3' in s!.processCounts()));
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    expect(await answer.json()).toMatchObject({ version: 'v2' });
  });
});
