import { describe, expect, it } from 'vitest';
import type { Release } from '../api/types.js';
import { phasesVisited, planTimeline } from './plan-timeline.js';

function release(patch: Partial<Release> = {}): Release {
  return {
    id: 3,
    service: 'web',
    version: 'v2',
    fromVersion: 'v1',
    kind: 'deploy',
    state: 'progressing',
    phase: 'canary',
    step: 1,
    steps: 3,
    stepName: 'pause 30s',
    plan: ['setWeight 10', 'pause 30s', 'setWeight 50'],
    weight: 10,
    reason: null,
    createdAt: 0,
    updatedAt: 0,
    endedAt: null,
    stepStartedAt: 0,
    phaseStartedAt: 0,
    ...patch,
  };
}

const view = (entries: ReturnType<typeof planTimeline>): string[] =>
  entries.map((e) => `${e.label}: ${e.status}`);

describe('planTimeline', () => {
  it('marks the steps before the current one done and the later ones pending', () => {
    expect(view(planTimeline(release()))).toEqual([
      'Pre-deploy gate: done',
      'Starting v2: done',
      'Canary steps: current',
      'Step 1: setWeight 10: done',
      'Step 2: pause 30s: current',
      'Step 3: setWeight 50: pending',
      'Verifying at 100%: pending',
      'Verify gate: pending',
      'Post-deploy gate: pending',
      'Completed: pending',
    ]);
  });

  it('falls back to the step count and stepName without a plan', () => {
    const entries = planTimeline(release({ plan: undefined }));
    expect(entries.filter((e) => e.kind === 'step').map((e) => e.label)).toEqual([
      'Step 1',
      'Step 2: pause 30s',
      'Step 3',
    ]);
  });

  it('shows migrations only while they run', () => {
    const entries = planTimeline(release({ phase: 'migrating', step: 0 }));
    expect(entries.find((e) => e.key === 'migrating')?.status).toBe('current');
    expect(planTimeline(release()).some((e) => e.key === 'migrating')).toBe(false);
  });

  it('marks everything done once the release succeeded', () => {
    const entries = planTimeline(release({ state: 'succeeded', phase: 'completed', step: 3, weight: 100 }));
    expect(entries.every((e) => e.status === 'done')).toBe(true);
  });

  it('shows where a rolled back release stopped and what it never reached', () => {
    const entries = planTimeline(
      release({ state: 'rolled_back', phase: 'completed', weight: 0 }),
      // Its last events were recorded while rolling back and once completed.
      new Set(['pre-deploy', 'starting', 'canary', 'rolling-back', 'completed']),
    );
    expect(view(entries)).toEqual([
      'Pre-deploy gate: done',
      'Starting v2: done',
      'Canary steps: stopped',
      'Step 1: setWeight 10: done',
      'Step 2: pause 30s: stopped',
      'Step 3: setWeight 50: skipped',
      'Verifying at 100%: skipped',
      'Verify gate: skipped',
      'Post-deploy gate: skipped',
      'Ended rolled back: done',
    ]);
  });

  it('shows a first release, which has no canary, stopped at the verify gate', () => {
    const entries = planTimeline(
      release({ state: 'aborted', phase: 'completed', step: 0, weight: 0 }),
      phasesVisited([
        { data: { phase: 'pre-deploy' } },
        { data: { phase: 'verify' } },
        { data: { phase: 'rolling-back' } },
      ]),
    );
    expect(entries.find((e) => e.key === 'canary')?.status).toBe('skipped');
    expect(entries.find((e) => e.key === 'step-0')?.status).toBe('skipped');
    expect(entries.find((e) => e.key === 'verify')?.status).toBe('stopped');
    expect(entries.at(-1)).toMatchObject({ label: 'Ended aborted', status: 'done' });
  });

  it('ends with a current rolling-back entry while it rolls back', () => {
    const entries = planTimeline(release({ phase: 'rolling-back', weight: 0 }));
    expect(entries.at(-1)).toMatchObject({ label: 'Rolling back to v1', status: 'current' });
  });

  it('skips the canary of a rollback release', () => {
    const entries = planTimeline(
      release({ kind: 'rollback', phase: 'verifying', step: 0, steps: 3, weight: 100 }),
    );
    expect(entries.find((e) => e.key === 'starting')?.status).toBe('skipped');
    expect(entries.find((e) => e.key === 'step-0')?.status).toBe('skipped');
    expect(entries.find((e) => e.key === 'verifying')?.status).toBe('current');
  });
});
