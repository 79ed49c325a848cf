import { describe, expect, it } from 'vitest';
import { directTargets, policiesOf } from './wiring.js';

const policy = {
  name: 'web',
  steps: [{ delayMs: 60_000, targets: [{ user: 'ana' }, { schedule: 'primary' }, { channel: 'ops' }] }],
  repeat: 0,
  ackTimeoutMs: 0,
};

describe('incident wiring for shipcheck up', () => {
  it('reads escalation policies from oncall when there are any, and [] otherwise', () => {
    expect(policiesOf({ oncall: {} })).toEqual([]);
    expect(policiesOf({ oncall: { escalationPolicies: [policy, { name: 'broken' }] } as never })).toEqual([
      policy,
    ]);
  });

  it('reaches users and channels directly and leaves schedules to the on-call resolver', async () => {
    expect(await directTargets(policy, 0, 0)).toEqual([{ user: 'ana' }, { channel: 'ops' }]);
    expect(await directTargets(policy, 5, 0)).toEqual([]);
  });
});
