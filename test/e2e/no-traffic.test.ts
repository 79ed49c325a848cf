import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scenario, waitFor } from './harness.js';

/** A checklist whose only automated verdicts read metrics: they need traffic to judge. */
const TEMPLATE = `name: no-traffic
items:
  - id: deployment/process/monitor-metrics
    section: Deployment / Process
    title: Monitor metrics
    kind: metrics
    gate: verify
    params: { version: canary, metric: error_rate, window: 1m, max: 5%, minRequests: 10 }
  - id: post-deployment/monitoring/verify-metrics-collection
    section: Post-Deployment / Monitoring
    title: Verify metrics collection
    kind: metrics
    gate: post-deploy
    params: { version: canary, metric: requests, window: 1m }
`;
const ANALYSIS = 'analysis: { interval: 250ms, inconclusiveLimit: 4 }';
const WITH_SYNTHETIC =
  'analysis: { interval: 250ms, inconclusiveLimit: 4, syntheticLoad: { rps: 20, path: / } }';
const TRIGGERS = '[{metric: error_rate, above: 5%, window: 10s, minRequests: 10}, {health: failed}]';

interface Item {
  id: string;
  state: string;
  evidence: { summary: string; data?: Record<string, unknown> }[];
}

async function items(s: Scenario): Promise<Item[]> {
  const result = await s.cli('checklist', '--json');
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { items: Item[] }).items;
}

async function scenario(analysis: string, faults = {}): Promise<Scenario> {
  const s = await Scenario.create({
    faults,
    analysis,
    triggers: TRIGGERS,
    extra: 'checklist:\n  template: checklist.yaml\n',
  });
  fs.writeFileSync(path.join(s.dir, 'checklist.yaml'), TEMPLATE);
  return s;
}

describe('a service nobody calls yet', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('holds a first release with no traffic at its metrics item, serving, and passes it once synthetic load runs', async () => {
    // Given a first release and no traffic at all
    s = await scenario(ANALYSIS);
    await s.up();
    expect((await s.cli('deploy', 'v1')).code).toBe(0);

    // Then it waits at the verify gate with the metrics item inconclusive: not failed, not rolled back
    await waitFor('monitor-metrics inconclusive', async () => (await items(s!))[0]?.state === 'inconclusive');
    await waitFor('v1 waiting', async () => (await s!.status()).release?.state === 'waiting');
    // Well past inconclusiveLimit x interval (4 x 250 ms): a held release has a person on it, not a streak.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const held = (await s.status()).release;
    expect(held).toMatchObject({ version: 'v1', phase: 'verify', state: 'waiting', weight: 100 });
    expect(held?.reason).toMatch(
      /1 item inconclusive .*deployment\/process\/monitor-metrics.*error_rate has no value over 1m on v1 \(canary\): no requests recorded/,
    );
    const [metrics] = await items(s);
    expect(metrics?.evidence, 'checked again, one entry kept').toHaveLength(1);
    // And v1 serves while it waits
    expect((await fetch(s.proxyUrl)).status).toBe(200);

    // When the control plane restarts with synthetic load configured
    fs.writeFileSync(s.file, fs.readFileSync(s.file, 'utf8').replace(ANALYSIS, WITH_SYNTHETIC));
    await s.crash();
    await s.up();

    // Then the release gets its verdict from synthetic traffic and succeeds, and the evidence says so
    await s.waitForState('succeeded');
    const done = await items(s);
    expect(done.map((i) => i.state)).toEqual(['passed', 'passed']);
    const evidence = done[0]!.evidence.at(-1)!;
    expect(evidence.summary).toMatch(
      /^error_rate 0% <= 5% over 1m on v1 \(canary\) \(\d+ requests, \d+ of them synthetic\)$/,
    );
    expect(evidence.data).toMatchObject({
      synthetic: { requests: expect.any(Number), errors: expect.any(Number) },
    });
    expect((evidence.data!.synthetic as { requests: number }).requests).toBeGreaterThan(0);
  });

  it('gives a canary with no user traffic a verdict through synthetic load: a good one is promoted, a bad one rolled back', async () => {
    // Given synthetic load and a v3 that answers 50% 5xx
    s = await scenario(WITH_SYNTHETIC, { v3: { errorRate: 0.5 } });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);

    // When v2 is deployed with no user traffic, synthetic requests alone judge it
    const good = await s.cli('deploy', 'v2', '--wait');
    expect(good.code, good.stdout + good.stderr).toBe(0);
    const release = (await s.status()).release!;
    const measurements = (await (
      await s.api(`/api/v1/releases/${release.id}/measurements?limit=200`)
    ).json()) as {
      measurements: {
        metric: string;
        verdict: string;
        message: string;
        inputs: { synthetic?: { requests: number } };
      }[];
    };
    const passes = measurements.measurements.filter((m) => m.metric === 'error_rate' && m.verdict === 'pass');
    expect(passes.length).toBeGreaterThan(0);
    expect(passes[0]!.inputs.synthetic!.requests).toBeGreaterThan(0);
    expect(passes[0]!.message).toMatch(/synthetic\)$/);

    // And a bad v3 is rolled back on synthetic traffic alone
    const bad = await s.cli('deploy', 'v3', '--wait');
    expect(bad.code).toBe(3);
    expect((await s.status()).release?.reason).toMatch(
      /^rollback trigger "error_rate > 5% over 10s" fired: error_rate \d+(\.\d)?% > 5% over 10s on v3 \(\d+ requests, \d+ synthetic\)$/,
    );
  });
});
