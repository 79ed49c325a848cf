import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/loader.js';
import { type ControlPlane, startControlPlane } from '../../control-plane.js';
import type { ReleaseView } from '../../engine/engine.js';
import { LoadGenerator, type LoadReport } from '../../load/load-generator.js';
import { createLogger } from '../../logger.js';
import { freePort } from '../../util/net.js';
import { ApiClient } from '../client.js';
import type { GlobalOptions, Io } from '../main.js';
import { waitForRelease } from '../wait.js';

const SAMPLE_APP = fileURLToPath(new URL('../../../../examples/app/server.js', import.meta.url));
const BIN =
  path.relative(process.cwd(), fileURLToPath(new URL('../../../../bin/shipcheck', import.meta.url))) ||
  'bin/shipcheck';
/** Steady demo traffic: enough that a 10% canary gets ~5 requests a second. */
const DEMO_RPS = 50;
/** Upper bound on the whole demo; it normally takes well under a minute. */
const DEMO_MAX_MS = 5 * 60_000;

function demoConfig(apiPort: number, proxyPort: number): string {
  return `# Written by "shipcheck demo": three instances of a sample app behind the built-in proxy.
service: demo
server:
  listen: 127.0.0.1:${apiPort}
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 3
  canaryInstances: 1
  startTimeout: 20s
  stopTimeout: 5s
  env:
    # v3 answers every fifth request with a 500.
    SAMPLE_FAULTS: '{"v3": {"errorRate": 0.2, "logErrors": true}}'
  health: { path: /healthz, interval: 500ms, timeout: 1s, unhealthyAfter: 3 }
traffic:
  kind: proxy
  listen: 127.0.0.1:${proxyPort}
strategy:
  steps:
    - setWeight: 10
    - pause: 5s
    - setWeight: 50
    - pause: 5s
analysis:
  interval: 1s
rollback:
  triggers:
    - { metric: error_rate, above: 5%, window: 10s, for: 2s, minRequests: 20 }
    - { metric: latency_p99, above: 2s, window: 10s, minRequests: 20 }
    - { health: failed }
  keepPreviousFor: 10m
`;
}

/** `shipcheck demo`: v1 on three instances, a good v2 promoted, a bad v3 rolled back; exits 0 only if all of that happened. */
export async function demoCommand(opts: GlobalOptions & { keep: boolean }, io: Io): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-demo-'));
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(file, demoConfig(await freePort(), await freePort()));
  const logger = createLogger({ debug: opts.debug ?? false, level: opts.debug ? 'debug' : 'warn' });
  let plane: ControlPlane | undefined;
  let load: LoadGenerator | undefined;
  const failures: string[] = [];
  const expect = (ok: boolean, what: string): void => {
    io.out(`${ok ? '  ok  ' : '  FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };
  const deadline = setTimeout(() => {
    io.err(`demo: still running after ${DEMO_MAX_MS / 60_000} minutes; giving up`);
    process.exit(1);
  }, DEMO_MAX_MS);
  deadline.unref();
  try {
    plane = await startControlPlane(await loadConfig(file), logger);
    const client = new ApiClient(plane.apiUrl);
    io.out(`shipcheck demo in ${dir}`);
    io.out(
      `  API and live events:  ${plane.apiUrl}/api/v1/services/demo   curl -N ${plane.apiUrl}/api/v1/events`,
    );
    io.out(`  the service, proxied: ${plane.proxyUrl}/`);
    io.out(`  watch from another terminal: SHIPCHECK_URL=${plane.apiUrl} ${BIN} status`);

    const deploy = async (version: string): Promise<{ code: number; release: ReleaseView }> => {
      io.out('');
      io.out(`== shipcheck deploy ${version} --wait`);
      const created = await client.post<ReleaseView>('/api/v1/services/demo/releases', { version });
      const code = await waitForRelease(client, 'demo', created.id, { ...io, isTTY: false });
      return { code, release: await client.get<ReleaseView>(`/api/v1/releases/${created.id}`) };
    };

    const first = await deploy('v1');
    expect(first.release.state === 'succeeded', 'v1 starts on 3 instances and becomes stable');

    load = new LoadGenerator({
      url: `${plane.proxyUrl}/`,
      rps: DEMO_RPS,
      concurrency: 8,
      maxDurationMs: DEMO_MAX_MS,
    });
    load.start();
    io.out('');
    io.out(`== load generator: ${DEMO_RPS} requests/s through the proxy`);

    const good = await deploy('v2');
    expect(
      good.code === 0 && good.release.state === 'succeeded',
      'good v2 goes 10% -> 50% -> 100% and is promoted',
    );
    const afterGood = load.snapshot();

    const bad = await deploy('v3');
    expect(
      bad.code === 3 && bad.release.state === 'rolled_back',
      'bad v3 (20% 5xx) is rolled back by itself',
    );
    expect(
      /error_rate/.test(bad.release.reason ?? ''),
      `the reason names the rule: ${bad.release.reason ?? '(none)'}`,
    );

    const report = await load.stop();
    load = undefined;
    const status = await client.get<{ stable: string }>('/api/v1/services/demo');
    expect(status.stable === 'v2', `v2 is still stable (stable: ${status.stable})`);
    expect(
      report.failed === 0 && report.proxyErrors === 0,
      `no request failed at the proxy (${describe(report)})`,
    );
    expect(
      (afterGood.byVersion.v1?.['5xx'] ?? 0) + (afterGood.byVersion.v2?.['5xx'] ?? 0) === 0,
      'no user saw an error during the good rollout',
    );
  } catch (err) {
    failures.push((err as Error).message);
    io.err(`demo: ${(err as Error).message}`);
  } finally {
    clearTimeout(deadline);
    if (load) await load.stop();
    if (plane) await plane.close({ stopInstances: true });
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  io.out('');
  io.out(failures.length === 0 ? 'demo passed' : `demo FAILED: ${failures.length} check(s) did not hold`);
  return failures.length === 0 ? 0 : 1;
}

function describe(report: LoadReport): string {
  const versions = Object.entries(report.byVersion)
    .map(
      ([v, c]) =>
        `${v}: ${Object.entries(c)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ')}`,
    )
    .join('; ');
  return `${report.sent} sent; ${versions}; ${report.failed} failed, ${report.proxyErrors} proxy errors`;
}
