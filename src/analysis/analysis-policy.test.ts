import { describe, expect, it } from 'vitest';
import { releaseView } from '../../test/support/release-fixtures.js';
import { configSchema } from '../config/schema.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import type { ReleaseRow } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { AnalysisPolicy, type Decision } from './analysis-policy.js';

const SECOND = 1000;
const INTERVAL = 5 * SECOND;
const RECHECK = 200;

/** A policy over the built-in metric source, with time in the test's hands and no instances to check. */
function rig(analysis: Record<string, unknown>, trigger: Record<string, unknown>) {
  const clock = new ManualClock();
  const metrics = new RequestMetrics({ clock });
  const config = configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'x' },
    analysis: { interval: '5s', ...analysis },
    rollback: {
      triggers: [{ metric: 'error_rate', above: '5%', window: '1m', minRequests: 10, ...trigger }],
    },
  });
  const policy = new AnalysisPolicy({
    config,
    metrics: new BuiltinMetricSource(metrics),
    fleet: { instances: () => [] },
    syntheticLoad: undefined,
    recheckMs: RECHECK,
  });
  /** Evaluates when due and decides; undefined when nothing was due. */
  const step = async (release: ReleaseRow): Promise<Decision | undefined> => {
    const evaluation = await policy.evaluate(release, clock.now());
    return evaluation && policy.decide(release, evaluation, clock.now());
  };
  return { clock, metrics, policy, step };
}

/** Records `count` requests for `version`, every `errorEvery`-th a 500. */
function traffic(metrics: RequestMetrics, version: string, count: number, errorEvery: number): void {
  for (let i = 1; i <= count; i++) metrics.record(version, i % errorEvery === 0 ? 500 : 200, 5);
}

describe('AnalysisPolicy', () => {
  it('rolls back only once a failing condition has held for `for`', async () => {
    const { clock, metrics, step } = rig({}, { for: '10s' });
    const release = releaseView({ weight: 10 });
    traffic(metrics, 'v2', 100, 2);
    expect(await step(release)).toEqual({ action: 'proceed' });
    clock.advance(INTERVAL);
    expect(await step(release)).toEqual({ action: 'proceed' });
    clock.advance(INTERVAL);
    expect(await step(release)).toMatchObject({ action: 'rollback', cause: 'fired', heldMs: 10 * SECOND });
  });

  it('evaluates once per interval, and re-checks sooner while a version waits for its first requests', async () => {
    const { clock, metrics, step } = rig({}, {});
    const release = releaseView({ weight: 10 });
    expect(await step(release)).toMatchObject({ action: 'inconclusive' });
    expect(await step(release)).toBeUndefined();
    clock.advance(RECHECK);
    traffic(metrics, 'v2', 100, 1000);
    expect(await step(release)).toEqual({ action: 'proceed' });
    clock.advance(RECHECK);
    expect(await step(release)).toBeUndefined();
    clock.advance(INTERVAL);
    expect(await step(release)).toEqual({ action: 'proceed' });
  });

  it('counts inconclusive evaluations only while the version has weight, then holds the release', async () => {
    const { clock, step } = rig({ inconclusiveLimit: 2 }, {});
    const atGate = releaseView({ weight: 0 });
    for (let i = 0; i < 3; i++) {
      expect(await step(atGate)).toMatchObject({ action: 'inconclusive', streak: 0 });
      clock.advance(INTERVAL);
    }
    const exposed = releaseView({ weight: 10 });
    expect(await step(exposed)).toMatchObject({ action: 'inconclusive', streak: 1 });
    clock.advance(INTERVAL);
    const held = await step(exposed);
    expect(held).toMatchObject({ action: 'hold', cause: 'inconclusive', streak: 2 });
    expect(held && 'measurement' in held && held.measurement.message).toMatch(/fewer than minRequests 10/);
  });

  it('rolls back instead of holding with analysis.onInconclusive: rollback', async () => {
    const { clock, step } = rig({ inconclusiveLimit: 1, onInconclusive: 'rollback' }, {});
    const release = releaseView({ weight: 10 });
    expect(await step(release)).toMatchObject({ action: 'rollback', cause: 'inconclusive', streak: 1 });
    clock.advance(INTERVAL);
    expect(await step(releaseView({ weight: 10, state: 'paused' }))).toMatchObject({
      action: 'inconclusive',
      streak: 0,
    });
  });

  it('lets a timed pause end only on a fresh pass of every metric trigger', async () => {
    const { clock, metrics, policy, step } = rig({}, {});
    const release = releaseView({ weight: 10 });
    expect(policy.passes(release)).toBe(false);
    await step(release);
    expect(policy.passes(release)).toBe(false);
    traffic(metrics, 'v2', 100, 1000);
    clock.advance(INTERVAL);
    await step(release);
    expect(policy.passes(release)).toBe(true);
    policy.forget(release.id);
    expect(policy.passes(release)).toBe(false);
  });

  it('starts `for` afresh when a person resumes the release', async () => {
    const { clock, metrics, policy, step } = rig({}, { for: '10s' });
    const release = releaseView({ weight: 10 });
    traffic(metrics, 'v2', 100, 2);
    await step(release);
    clock.advance(INTERVAL);
    policy.resumed(release.id);
    expect(await step(release)).toEqual({ action: 'proceed' });
    clock.advance(INTERVAL);
    expect(await step(release)).toEqual({ action: 'proceed' });
    clock.advance(INTERVAL);
    expect(await step(release)).toMatchObject({ action: 'rollback', cause: 'fired', heldMs: 10 * SECOND });
  });
});
