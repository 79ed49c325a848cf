import { describe, expect, it } from 'vitest';
import type { ChecklistItem } from '../api/types.js';
import { groupByGate, itemActions, maySignGate } from './checklist-actions.js';

function item(patch: Partial<ChecklistItem>): ChecklistItem {
  return {
    releaseId: 1,
    id: 'pre/plan',
    position: 0,
    section: 'pre',
    title: 'Rollout plan reviewed',
    kind: 'manual',
    gate: 'pre-deploy',
    params: {},
    hint: null,
    automated: false,
    state: 'pending',
    evidence: [],
    updatedAt: 0,
    ...patch,
  };
}

const approver = { mayApprove: true, mayDeploy: true, ended: false };
const deployer = { mayApprove: false, mayDeploy: true, ended: false };
const viewer = { mayApprove: false, mayDeploy: false, ended: false };

describe('groupByGate', () => {
  it('orders gates as a release meets them and items by position', () => {
    const groups = groupByGate([
      item({ id: 'v/a', gate: 'verify', position: 3 }),
      item({ id: 'p/b', gate: 'pre-deploy', position: 2 }),
      item({ id: 'p/a', gate: 'pre-deploy', position: 1 }),
      item({ id: 'x', gate: 'custom', position: 4 }),
    ]);
    expect(groups.map((g) => [g.gate, g.items.map((i) => i.id)])).toEqual([
      ['pre-deploy', ['p/a', 'p/b']],
      ['verify', ['v/a']],
      ['custom', ['x']],
    ]);
  });
});

describe('itemActions', () => {
  it('lets an approver sign or waive a pending manual item', () => {
    expect(itemActions(item({}), approver)).toEqual(['sign', 'waive']);
  });

  it('lets a deployer re-run a failed or inconclusive check, but not sign or waive', () => {
    expect(itemActions(item({ automated: true, state: 'failed' }), deployer)).toEqual(['rerun']);
    expect(itemActions(item({ automated: true, state: 'inconclusive' }), deployer)).toEqual(['rerun']);
    expect(itemActions(item({ automated: true, state: 'running' }), deployer)).toEqual([]);
    expect(itemActions(item({}), deployer)).toEqual([]);
  });

  it('offers nothing for settled items, ended releases, or viewers', () => {
    expect(itemActions(item({ state: 'passed' }), approver)).toEqual([]);
    expect(itemActions(item({ state: 'waived' }), approver)).toEqual([]);
    expect(itemActions(item({}), { ...approver, ended: true })).toEqual([]);
    expect(itemActions(item({ automated: true, state: 'failed' }), viewer)).toEqual([]);
  });
});

describe('maySignGate', () => {
  const group = { gate: 'verify', items: [item({ gate: 'verify' })] };
  it('applies at the current gate with a manual item left, for an approver', () => {
    expect(maySignGate(group, 'verify', approver)).toBe(true);
    expect(maySignGate(group, 'canary', approver)).toBe(false);
    expect(maySignGate(group, 'verify', deployer)).toBe(false);
    expect(
      maySignGate({ gate: 'verify', items: [item({ gate: 'verify', state: 'passed' })] }, 'verify', approver),
    ).toBe(false);
  });
});
