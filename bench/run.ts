import { main as authCost } from './auth.js';
import { main as proxyOverhead } from './proxy.js';
import { main as prometheusLatency } from './prometheus.js';
import { main as leaseSpread } from './lease-spread.js';
import { main as replicas } from './replicas.js';
import { main as retention } from './retention.js';
import { main as rollbacks } from './rollback.js';
import { main as services } from './services.js';

/**
 * `npm run bench`: every benchmark in turn, each printing its figures as ratios against a reference
 * run in the same script. The proxy benchmark needs Debian's nginx and wrk
 * (`apt-get install -y nginx wrk`); the rollback benchmarks need nothing beyond the repository; the
 * Prometheus one needs Debian's prometheus (`apt-get install -y prometheus`); the replica one needs
 * nginx and the PostgreSQL at SHIPCHECK_TEST_PG; the lease spread needs that PostgreSQL only; the
 * services one needs nothing beyond the repository; the authentication one needs wrk; the retention
 * soak needs nothing for SQLite and runs on the PostgreSQL at SHIPCHECK_TEST_PG too when it answers.
 */
async function run(): Promise<void> {
  console.log('== (a) proxy overhead: built-in proxy vs nginx vs direct');
  await proxyOverhead();
  console.log('');
  console.log('== (b) time to roll back, (c) false rollbacks');
  await rollbacks();
  console.log('');
  console.log('== (d) analysis latency with Prometheus: query time and detection time vs builtin');
  await prometheusLatency();
  console.log('');
  console.log('== (e) nginx weight-change time, (f) takeover time after kill -9 of the lease holder');
  await replicas();
  console.log('');
  console.log('== (g) lease spread: 60 units over three replicas, and after kill -9 of one');
  await leaseSpread();
  console.log('');
  console.log(
    '== (h) 200 services in one control plane: memory, CPU and reconcile time vs one service alone',
  );
  await services();
  console.log('');
  console.log('== (i) what authentication costs per API request: token and session vs auth off');
  await authCost();
  console.log('');
  console.log(
    '== (j) store retention soak: 10,000 releases over two years, store size with retention vs without',
  );
  await retention();
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
