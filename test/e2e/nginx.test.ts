import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { LOG_FORMAT } from '../../src/providers/metrics/nginx-log/nginx-log-source.js';
import { freePort } from '../../src/util/net.js';
import { Scenario, waitFor } from './harness.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const nginxPath = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => fs.existsSync(p));
const hasNginx = nginxPath !== undefined || spawnSync('nginx', ['-v']).status === 0;
if (!hasNginx && !REQUIRE_REAL)
  console.warn('SKIPPING the nginx end-to-end test: nginx is not installed (apt-get install nginx)');

/** The user's own nginx: it includes the upstream file shipcheck owns and writes the JSON access log. */
function nginxConf(dir: string, port: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 512; }
http {
  ${LOG_FORMAT}
  access_log ${dir}/access.log shipcheck;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  include ${dir}/upstream.conf;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
    }
  }
}
`;
}

describe.runIf(hasNginx || REQUIRE_REAL)('a rollout through the nginx the user already runs', () => {
  let s: Scenario | undefined;
  let nginx: ChildProcess | undefined;
  afterEach(async () => {
    await s?.cleanup().catch(() => undefined);
    if (nginx?.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve));
      nginx.kill('SIGTERM');
      await exited;
    }
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
    const port = await freePort();
    const conf = path.join(s.dir, 'nginx.conf');
    fs.mkdirSync(path.join(s.dir, 'tmp'));
    fs.writeFileSync(conf, nginxConf(s.dir, port));
    // nginx needs the included file to exist before shipcheck first writes it.
    fs.writeFileSync(path.join(s.dir, 'upstream.conf'), 'upstream app { server 127.0.0.1:9 down; }\n');
    fs.writeFileSync(path.join(s.dir, 'access.log'), '');
    nginx = spawn(nginxPath ?? 'nginx', ['-c', conf, '-p', s.dir], { stdio: 'ignore' });
    await waitFor('nginx', async () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      ),
    );
    await s.up();

    // When v1 and then a good v2 are deployed under load through nginx
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const load = new LoadGenerator({
      url: `http://127.0.0.1:${port}/`,
      rps: 60,
      concurrency: 4,
      maxDurationMs: 60_000,
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
