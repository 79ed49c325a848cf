import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { type Faults, Scenario } from './harness.js';

/** Deploys v1, then the faulty v2 under load; returns the `deploy --wait` result and the final release. */
async function rollOutFaulty(s: Scenario): Promise<{ code: number; reason: string; stdout: string }> {
  await s.up();
  expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
  const load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 80, concurrency: 8, maxDurationMs: 60_000 });
  load.start();
  try {
    const result = await s.cli('deploy', 'v2', '--wait');
    return { code: result.code, reason: (await s.status()).release?.reason ?? '', stdout: result.stdout };
  } finally {
    await load.stop();
  }
}

const STEPS = '[{setWeight: 50}, {pause: 1h}]';

describe('automated rollback on each trigger kind', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('rolls back on error_rate, naming the rule, value, threshold, window and request count', async () => {
    const faults: Faults = { v2: { errorRate: 0.2 } };
    s = await Scenario.create({
      faults,
      steps: STEPS,
      triggers: '[{metric: error_rate, above: 5%, window: 3s, for: 500ms, minRequests: 10}]',
    });
    const { code, reason } = await rollOutFaulty(s);
    expect(code).toBe(3);
    expect(reason).toMatch(
      /^rollback trigger "error_rate > 5% over 3s for 500ms" fired: error_rate \d+(\.\d)?% > 5% over 3s on v2 \([\d,]+ requests\) for \d/,
    );
    const status = await s.status();
    expect(status.stable).toBe('v1');
    expect(status.release).toMatchObject({ state: 'rolled_back', weight: 0 });
    expect(s.processCounts()).toEqual({ v1: 3 });
    // The engine's own action is in the audit log, with its reason, under its own name.
    const audit = (await (await s.api('/api/v1/audit?actor=engine')).json()) as {
      entries: { action: string; reason: string | null; result: string }[];
    };
    expect(audit.entries.find((e) => e.action === 'release.rolling_back')).toMatchObject({
      result: 'ok',
      reason: expect.stringMatching(/^rollback trigger "error_rate > 5% over 3s for 500ms" fired/),
    });
  });

  it('rolls back on latency_p99', async () => {
    s = await Scenario.create({
      faults: { v2: { latencyMs: 300 } },
      steps: STEPS,
      triggers: '[{metric: latency_p99, above: 150ms, window: 3s, minRequests: 5}]',
    });
    const { code, reason } = await rollOutFaulty(s);
    expect(code).toBe(3);
    expect(reason).toMatch(
      /latency_p99 > 150ms over 3s" fired: latency_p99 \d+(\.\d)?ms > 150ms over 3s on v2/,
    );
  });

  it('rolls back on failed health checks of the canary', async () => {
    s = await Scenario.create({
      faults: { v2: { unhealthyAfterMs: 1500 } },
      steps: STEPS,
      triggers: '[{health: failed}]',
    });
    const { code, reason } = await rollOutFaulty(s);
    expect(code).toBe(3);
    expect(reason).toMatch(
      /rollback trigger "health failed" fired: health: 1 of \d v2 instances failing; web-v2-\d failed/,
    );
    expect(s.processCounts()).toEqual({ v1: 3 });
  });

  it('keeps every measurement with its inputs', async () => {
    s = await Scenario.create({
      faults: { v2: { errorRate: 0.5 } },
      steps: STEPS,
      triggers: '[{metric: error_rate, above: 5%, window: 3s, minRequests: 10}, {health: failed}]',
    });
    await rollOutFaulty(s);
    const release = (await s.status()).release!;
    const res = await s.api(`/api/v1/releases/${release.id}/measurements`);
    const { measurements } = (await res.json()) as {
      measurements: { metric: string; verdict: string; requests: number; inputs: Record<string, unknown> }[];
    };
    const failing = measurements.filter((m) => m.metric === 'error_rate' && m.verdict === 'fail');
    expect(failing.length).toBeGreaterThan(0);
    expect(failing[0]!.requests).toBeGreaterThanOrEqual(10);
    expect(failing[0]!.inputs).toHaveProperty('errors');
    expect(measurements.some((m) => m.metric === 'health')).toBe(true);
  });
});

describe('a canary that cannot run', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('rolls back a canary that crashes', async () => {
    s = await Scenario.create({
      faults: { v2: { crashAfterMs: 1000 } },
      steps: '[{setWeight: 20}, {pause: 1h}]',
    });
    const { code, reason } = await rollOutFaulty(s);
    expect(code).toBe(3);
    expect(reason).toMatch(/^canary instance web-v2-0 exited: exited with code 1/);
    expect(s.processCounts()).toEqual({ v1: 3 });
  });

  it('rolls back a canary that never becomes healthy within fleet.startTimeout', async () => {
    s = await Scenario.create({ faults: { v2: { neverHealthy: true } }, startTimeout: '2s' });
    const { code, reason } = await rollOutFaulty(s);
    expect(code).toBe(3);
    expect(reason).toMatch(
      /^v2 not healthy within fleet.startTimeout 2s: web-v2-0 starting \(GET \/healthz: 503\)/,
    );
    expect(s.processCounts()).toEqual({ v1: 3 });
  });
});
