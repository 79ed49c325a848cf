import { describe, expect, it } from 'vitest';
import { ExitCode, exitCodeFor, formatPhase } from './format.js';
import { releaseView } from '../../test/support/release-fixtures.js';

describe('formatPhase', () => {
  it('shows the canary step and its weight', () => {
    expect(formatPhase(releaseView({ step: 1, stepName: 'pause 30s' }))).toBe(
      'canary step 2/4 (pause 30s), weight 10%',
    );
  });

  it('shows that a first release takes all traffic once its instances run, though its stored weight is 0', () => {
    const first = { fromVersion: null, weight: 0 };
    expect(formatPhase(releaseView({ ...first, phase: 'verify', state: 'waiting' }))).toBe(
      'verify, all traffic (first release)',
    );
    expect(formatPhase(releaseView({ ...first, phase: 'starting' }))).toBe(
      'starting, all traffic (first release)',
    );
    // Before its instances start, and once it has failed, nothing of it serves.
    expect(formatPhase(releaseView({ ...first, phase: 'pre-deploy', state: 'waiting' }))).toBe(
      'pre-deploy, weight 0%',
    );
    expect(formatPhase(releaseView({ ...first, phase: 'rolling-back' }))).toBe('rolling-back, weight 0%');
    expect(formatPhase(releaseView({ ...first, phase: 'completed', state: 'failed' }))).toBe(
      'completed, weight 0%',
    );
  });
});

describe('exitCodeFor', () => {
  it('gives each way a release ends its own code', () => {
    expect(exitCodeFor('succeeded')).toBe(ExitCode.ok);
    expect(exitCodeFor('rolled_back')).toBe(3);
    expect(exitCodeFor('aborted')).toBe(4);
    expect(exitCodeFor('failed')).toBe(7);
  });
});
