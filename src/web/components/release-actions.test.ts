import { describe, expect, it } from 'vitest';
import type { Release } from '../api/types.js';
import { actionText, releaseActions } from './release-actions.js';

function release(patch: Partial<Release> = {}): Release {
  return {
    id: 12,
    service: 'web@production',
    version: 'v2',
    fromVersion: 'v1',
    kind: 'deploy',
    state: 'progressing',
    phase: 'canary',
    step: 1,
    steps: 4,
    stepName: 'pause 30s',
    plan: ['setWeight 10', 'pause 30s', 'setWeight 50', 'pause 30s'],
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

const deployer = { mayDeploy: true, isLast: true };

describe('releaseActions', () => {
  it('gives a viewer no controls at all', () => {
    expect(releaseActions(release(), { mayDeploy: false, isLast: true })).toEqual([]);
    expect(
      releaseActions(release({ state: 'succeeded', phase: 'completed' }), { mayDeploy: false, isLast: true }),
    ).toEqual([]);
  });

  it('offers promote, pause and abort to a canary that is moving', () => {
    expect(releaseActions(release(), deployer)).toEqual(['promote', 'promote-full', 'pause', 'abort']);
  });

  it('offers resume instead of pause to a paused canary, which can still be promoted', () => {
    expect(releaseActions(release({ state: 'paused' }), deployer)).toEqual([
      'promote',
      'promote-full',
      'resume',
      'abort',
    ]);
  });

  it('does not offer promote at a gate, where the API would refuse it', () => {
    expect(releaseActions(release({ state: 'waiting', step: 0, weight: 0 }), deployer)).toEqual(['abort']);
    expect(releaseActions(release({ state: 'waiting', phase: 'verify' }), deployer)).toEqual(['abort']);
  });

  it('does not offer promote before the canary steps or once verifying', () => {
    expect(releaseActions(release({ phase: 'starting' }), deployer)).toEqual(['pause', 'abort']);
    expect(releaseActions(release({ phase: 'verifying', weight: 100 }), deployer)).toEqual([
      'pause',
      'abort',
    ]);
  });

  it('offers nothing while the release rolls back', () => {
    expect(releaseActions(release({ phase: 'rolling-back', weight: 0 }), deployer)).toEqual([]);
  });

  it("offers roll back only for a succeeded release that is the unit's last", () => {
    const done = release({ state: 'succeeded', phase: 'completed', weight: 100, endedAt: 1 });
    expect(releaseActions(done, deployer)).toEqual(['rollback']);
    expect(releaseActions(done, { mayDeploy: true, isLast: false })).toEqual([]);
    expect(releaseActions(release({ state: 'rolled_back', phase: 'completed' }), deployer)).toEqual([]);
    expect(releaseActions(release({ state: 'aborted', phase: 'completed' }), deployer)).toEqual([]);
  });
});

describe('actionText', () => {
  it('says what an abort does, naming both versions', () => {
    expect(actionText('abort', release()).body).toBe(
      "Abort release #12 of web@production: traffic goes back to v1 (stable), the canary's instances stop, and the release ends aborted.",
    );
  });

  it('names the step as written in the plan, falling back to stepName', () => {
    expect(actionText('pause', release()).body).toContain('step 2 of 4 (pause 30s)');
    expect(actionText('pause', release({ plan: undefined, stepName: 'pause 1m' })).body).toContain(
      'step 2 of 4 (pause 1m)',
    );
  });

  it('says where a rollback goes', () => {
    const text = actionText('rollback', release({ state: 'succeeded', phase: 'completed' }));
    expect(text.body).toContain('from v2 back to v1');
    expect(text.danger).toBe(true);
  });
});
