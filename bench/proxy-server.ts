import { RequestMetrics } from '../src/providers/metrics/builtin/request-metrics.js';
import { ProxyRouter } from '../src/providers/traffic/proxy/proxy-router.js';

/**
 * Benchmark child: runs the proxy alone in its process, as in production.
 * Usage: proxy-server.js LISTEN STABLE_ADDRS CANARY_ADDRS WEIGHT (addresses comma-separated; prints
 * `LISTENING host:port` once bound; SIGTERM closes it).
 */
async function run(): Promise<void> {
  const [listen = '127.0.0.1:0', stable = '', canary = '', weight = '0'] = process.argv.slice(2);
  const ready = new Map([
    ['stable', stable.split(',').filter(Boolean)],
    ['canary', canary.split(',').filter(Boolean)],
  ]);
  const router = new ProxyRouter({
    listen,
    upstreams: (version) => ready.get(version) ?? [],
    // Metrics on, as in production: recording is part of the request path being measured.
    metrics: new RequestMetrics(),
    logger: { warn: (obj, msg) => console.error(msg, obj) },
  });
  await router.start();
  await router.setRoute({ stable: 'stable', canary: 'canary', weight: Number(weight) });
  process.stdout.write(`LISTENING ${router.address()}\n`);
  process.once('SIGTERM', () => {
    void router.close().then(() => process.exit(0));
  });
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
