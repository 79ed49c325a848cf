import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/loader.js';
import { startControlPlane } from '../src/control-plane.js';
import { LoadGenerator } from '../src/load/load-generator.js';
import { createLogger } from '../src/logger.js';
import type { EventRow } from '../src/store/types.js';
import { freePort } from '../src/util/net.js';

/**
 * Rollback benchmarks on the local fleet and built-in proxy:
 *  (b) time from a bad canary's first request to weight 0, against the target `for` + one interval;
 *  (c) false rollbacks over 20 healthy canaries, against a target of 0.
 */

const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));
/** 10% of 100 rps: the canary gets the 10 requests per second the target is stated for. */
const TOTAL_RPS = 100;
const CANARY_WEIGHT = 10;
const INTERVAL_MS = 1000;
const FOR_MS = 2000;
const BAD_RUNS = 5;
const HEALTHY_RUNS = 20;
/** Every bad run deploys a new version, bad-1 ... bad-N, each answering 20% of requests with a 500. */
const BAD_FAULTS = JSON.stringify(
  Object.fromEntries(Array.from({ length: BAD_RUNS }, (_, i) => [`bad-${i + 1}`, { errorRate: 0.2 }])),
);

function config(apiPort: number, proxyPort: number, pause: string): string {
  return `service: bench
server: { listen: 127.0.0.1:${apiPort} }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 3
  stopTimeout: 3s
  env: { SAMPLE_FAULTS: '${BAD_FAULTS}' }
  health: { path: /healthz, interval: 250ms, timeout: 1s, unhealthyAfter: 3 }
traffic: { kind: proxy, listen: 127.0.0.1:${proxyPort} }
strategy:
  steps: [{ setWeight: ${CANARY_WEIGHT} }, { pause: ${pause} }]
analysis: { interval: ${INTERVAL_MS}ms }
rollback:
  triggers:
    - { metric: error_rate, above: 5%, window: 10s, for: ${FOR_MS}ms, minRequests: 5 }
    - { metric: latency_p99, above: 2s, window: 10s, minRequests: 5 }
    - { health: failed }
  keepPreviousFor: 1m
`;
}

interface Plane {
  close(): Promise<void>;
  deploy(version: string): Promise<{ state: string; events: EventRow[] }>;
  load: LoadGenerator;
}

async function startPlane(pause: string): Promise<Plane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-bench-'));
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(file, config(await freePort(), await freePort(), pause));
  const plane = await startControlPlane(
    await loadConfig(file),
    createLogger({ level: 'error', pretty: false }),
  );
  const waitEnd = async (id: number): Promise<string> => {
    for (;;) {
      const release = await plane.engine.release(id);
      if (['succeeded', 'rolled_back', 'aborted', 'failed'].includes(release.state)) return release.state;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const first = await plane.engine.deploy('v0');
  await waitEnd(first.id);
  const load = new LoadGenerator({
    url: `${plane.proxyUrl}/`,
    rps: TOTAL_RPS,
    concurrency: 8,
    maxDurationMs: 15 * 60_000,
  });
  load.start();
  return {
    load,
    async deploy(version) {
      const release = await plane.engine.deploy(version);
      const state = await waitEnd(release.id);
      return { state, events: await plane.store.listEvents({ releaseId: release.id, limit: 1000 }) };
    },
    async close() {
      await load.stop();
      await plane.close({ stopInstances: true });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** (b): seconds from the canary's first request to weight 0, per run. */
async function timeToRollback(): Promise<number[]> {
  const plane = await startPlane('1h');
  const times: number[] = [];
  try {
    for (let run = 1; run <= BAD_RUNS; run++) {
      const version = `bad-${run}`;
      const { state, events } = await plane.deploy(version);
      const report = plane.load.snapshot();
      const rollingBack = events.find((e) => e.type === 'release.rolling_back');
      const weightEvent = events.find((e) => e.type === 'release.weight');
      if (state !== 'rolled_back' || !rollingBack || !weightEvent)
        throw new Error(`run ${run}: ended ${state}`);
      // The load generator saw the canary's first response; the weight event bounds it from below.
      const firstRequest = Math.max(weightEvent.at, report.firstSeenAt[version] ?? weightEvent.at);
      times.push((rollingBack.at - firstRequest) / 1000);
    }
  } finally {
    await plane.close();
  }
  return times;
}

/** (c): how many of HEALTHY_RUNS good canaries were rolled back. */
async function falseRollbacks(): Promise<{ rolledBack: number; outcomes: string[] }> {
  const plane = await startPlane('3s');
  const outcomes: string[] = [];
  try {
    for (let run = 1; run <= HEALTHY_RUNS; run++) {
      const { state } = await plane.deploy(`good-${run}`);
      outcomes.push(state);
    }
  } finally {
    await plane.close();
  }
  return { rolledBack: outcomes.filter((s) => s !== 'succeeded').length, outcomes };
}

/** Runs (b) and (c) and prints the figures with their targets. */
export async function main(): Promise<void> {
  const targetS = (FOR_MS + INTERVAL_MS) / 1000;
  console.log(`(b) time to roll back: canary with 20% 5xx at ${(TOTAL_RPS * CANARY_WEIGHT) / 100} rps,`);
  console.log(
    `    trigger error_rate > 5% over 10s for ${FOR_MS / 1000}s, analysis every ${INTERVAL_MS / 1000}s`,
  );
  const times = await timeToRollback();
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  const worst = sorted[sorted.length - 1] ?? Number.NaN;
  console.log(`    runs: ${times.map((t) => `${t.toFixed(2)}s`).join(', ')}`);
  console.log(
    `    median ${median.toFixed(2)}s, worst ${worst.toFixed(2)}s; target <= for + interval = ${targetS}s ` +
      `(ratio worst/target ${(worst / targetS).toFixed(2)}); product bar 5s`,
  );
  console.log(
    `(c) false rollbacks over ${HEALTHY_RUNS} healthy canaries (same triggers, steps 10% then 3s pause):`,
  );
  const { rolledBack, outcomes } = await falseRollbacks();
  console.log(`    rolled back: ${rolledBack} of ${outcomes.length} (target 0)`);
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
