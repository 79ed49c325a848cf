import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { Scenario, waitFor } from './harness.js';

/** The seed's four Baseline Metrics items, as the default template has them. */
const TEMPLATE = `name: baselines
items:
${['latency', 'throughput', 'errors', 'resources']
  .map(
    (metric) => `  - id: performance/baseline-metrics/${metric}
    section: Performance / Baseline Metrics
    title: ${metric}
    kind: baseline
    gate: scheduled
    params: { metric: ${metric} }
`,
  )
  .join('')}`;

interface Baseline {
  releaseId: number;
  version: string;
  state: string;
  reason: string | null;
  figures: {
    requests: number;
    windowMs: number;
    instances: number | null;
    p50: number | null;
    p95: number | null;
    p99: number | null;
    rps: number | null;
    errorRate: number | null;
    cpuPer1k: number | null;
    rssBytes: number | null;
  } | null;
}

describe('performance baselines per release, with a real fleet and proxy under load', () => {
  let s: Scenario | undefined;
  let load: LoadGenerator | undefined;
  afterEach(async () => {
    await load?.stop();
    load = undefined;
    await s?.cleanup();
    s = undefined;
  });

  /** Waits until release `id`'s baseline window has closed, and returns it. */
  async function closedBaseline(id: number): Promise<Baseline> {
    let baseline: Baseline | null = null;
    await waitFor(`the baseline of release ${id}`, async () => {
      const res = await s!.api(`/api/v1/releases/${id}/baseline`);
      baseline = ((await res.json()) as { baseline: Baseline | null }).baseline;
      return baseline !== null && baseline.state !== 'recording';
    });
    return baseline!;
  }

  async function deploy(version: string, rps: number): Promise<number> {
    load = new LoadGenerator({ url: `${s!.proxyUrl}/`, rps, concurrency: 8, maxDurationMs: 60_000 });
    load.start();
    const result = await s!.cli('deploy', version, '--wait');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const id = (await s!.status()).release!.id;
    const baseline = await closedBaseline(id);
    await load.stop();
    load = undefined;
    expect(baseline).toMatchObject({ version, state: 'complete' });
    return id;
  }

  async function item(releaseId: number, metric: string): Promise<{ state: string; summary: string }> {
    const res = await s!.api(`/api/v1/releases/${releaseId}/checklist`);
    const { items } = (await res.json()) as {
      items: { id: string; state: string; evidence: { summary: string }[] }[];
    };
    const found = items.find((i) => i.id === `performance/baseline-metrics/${metric}`)!;
    return { state: found.state, summary: found.evidence.at(-1)?.summary ?? '' };
  }

  it('records each release, catches a deliberately slower one, and calls an incomparable load inconclusive', async () => {
    // Given a service whose v2 answers 40 ms slower, a bake at 100% and the baseline items
    s = await Scenario.create({
      faults: { v2: { latencyMs: 40 } },
      steps: '[{setWeight: 50}, {pause: 1s}]\n  bakeTime: 6s',
      extra: 'baseline: { minWindow: 6s, minRequests: 40 }\nchecklist: { template: baselines.yaml }\n',
    });
    fs.writeFileSync(path.join(s.dir, 'baselines.yaml'), TEMPLATE);
    await s.up();

    // When v1 and then v2 are deployed under the same steady load
    const v1 = await deploy('v1', 60);
    const v2 = await deploy('v2', 60);

    // Then v1's baseline holds every figure with its sample size, CPU and memory from its processes
    const first = await closedBaseline(v1);
    expect(first.figures!.requests).toBeGreaterThanOrEqual(40);
    expect(first.figures!.windowMs).toBeGreaterThanOrEqual(3000);
    expect(first.figures).toMatchObject({ instances: 3, errorRate: 0 });
    for (const key of ['p50', 'p95', 'p99', 'rps', 'cpuPer1k', 'rssBytes'] as const)
      expect(first.figures![key], key).not.toBeNull();

    // And v2's p99 regression fails its latency item with both figures; the other figures hold
    const latency = await item(v2, 'latency');
    expect(latency.state, latency.summary).toBe('failed');
    expect(latency.summary).toMatch(
      /^regressed: p99 latency .* ms -> .* ms \(\+\d+\.\d%, tolerance \+20\.0%\); v1 \(#1\): \d+ requests over \d+s on 3 instances; v2/,
    );
    expect((await item(v2, 'throughput')).state).toBe('passed');
    expect((await item(v2, 'errors')).state).toBe('passed');
    // v1 had nothing to compare with
    expect(await item(v1, 'latency')).toMatchObject({ state: 'inconclusive' });

    // And `baseline compare v1 v2` prints the table and exits 7 (failed)
    const compared = await s.cli('baseline', 'compare', 'v1', 'v2');
    expect(compared.code, compared.stdout + compared.stderr).toBe(7);
    expect(compared.stdout).toMatch(/p99 latency\s+\S+ ms\s+\S+ ms\s+\+\d+\.\d%\s+regressed/);
    expect(compared.stdout).toMatch(/verdict: regressed: p99 latency/);
    const shown = await s.cli('baseline', 'show');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/#2\s+v2\s+complete/);
    const one = await s.cli('baseline', 'show', 'v2');
    expect(one.code, one.stdout + one.stderr).toBe(7);
    expect(one.stdout).toMatch(
      /^web v2 \(release #2\): complete\nwindow: .*, \d+ requests over \d+s on 3 instances\n/,
    );
    expect(one.stdout).toMatch(/verdict: regressed: p99 latency/);

    // When v3 (as fast as v1) is deployed at a third of the load
    const v3 = await deploy('v3', 20);

    // Then its comparison with v2 is inconclusive: the load is not comparable
    const latency3 = await item(v3, 'latency');
    expect(latency3.state, latency3.summary).toBe('inconclusive');
    expect(latency3.summary).toMatch(/load not comparable/);
    const again = await s.cli('baseline', 'compare', 'v2', 'v3');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(/verdict: inconclusive: load not comparable/);
  }, 150_000);

  it('records a window cut by a control plane restart as restarted, never invented', async () => {
    // Given v1, and v2 in a long bake at 100% under load
    s = await Scenario.create({
      steps: '[{setWeight: 50}, {pause: 1s}]\n  bakeTime: 8s',
      extra: 'baseline: { minWindow: 3s, minRequests: 20 }\n',
    });
    await s.up();
    await deploy('v1', 40);
    load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 40, concurrency: 8, maxDurationMs: 60_000 });
    load.start();
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    const id = 2;
    await waitFor('the window of v2 open', async () => {
      const res = await s!.api(`/api/v1/releases/${id}/baseline`);
      return ((await res.json()) as { baseline: Baseline | null }).baseline?.state === 'recording';
    });

    // When the control plane is killed mid-window and started again
    await s.crash();
    await s.up();
    await s.waitForState('succeeded');
    const baseline = await closedBaseline(id);

    // Then the baseline says so: request figures only for the part after the restart, no CPU
    expect(baseline.state).toBe('restarted');
    expect(baseline.reason).toMatch(
      /^the control plane restarted during the window: the figures cover the last \d+s of \d+s/,
    );
    expect(baseline.figures!.cpuPer1k).toBeNull();
    expect(baseline.figures!.requests).toBeGreaterThan(0);
    expect(baseline.figures!.p99).not.toBeNull();
  }, 120_000);
});
