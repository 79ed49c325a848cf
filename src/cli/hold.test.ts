import { describe, expect, it } from 'vitest';
import type { ChecklistView } from './api-shapes.js';
import { holdOf } from './hold.js';
import { checklistItem, releaseView } from '../../test/support/release-fixtures.js';
import type { ChecklistItemRow } from '../store/types.js';

const AT_VERIFY = releaseView({
  state: 'waiting',
  phase: 'verify',
  reason: 'waiting at the verify gate: 2 items to sign: a, b',
});

function checklist(items: ChecklistItemRow[], release = AT_VERIFY): ChecklistView {
  return { release, gate: 'verify', items, auditHead: null };
}

describe('holdOf', () => {
  it('is nothing while a release goes on by itself', () => {
    expect(holdOf(releaseView())).toBeUndefined();
    expect(holdOf(releaseView({ state: 'paused', phase: 'rolling-back' }))).toBeUndefined();
    // Waiting only for automated checks that are still running needs nobody.
    const running = checklistItem({ id: 'c', automated: true, kind: 'http', state: 'running' });
    expect(holdOf(AT_VERIFY, checklist([running]))).toBeUndefined();
  });

  it('names the gate and the items to sign, and how to sign them', () => {
    const items = [
      checklistItem({ id: 'a' }),
      checklistItem({ id: 'b' }),
      checklistItem({ id: 'done', state: 'passed' }),
      checklistItem({ id: 'later', gate: 'post-deploy' }),
    ];
    expect(holdOf(AT_VERIFY, checklist(items))?.message).toBe(
      'release #4 is waiting at the verify gate: 2 items to sign: a, b — run "shipcheck checklist", then "shipcheck sign ITEM" or "shipcheck sign --gate"',
    );
  });

  it('is the same hold while items are signed one by one, and a new one when a check fails', () => {
    const two = holdOf(AT_VERIFY, checklist([checklistItem({ id: 'a' }), checklistItem({ id: 'b' })]));
    const one = holdOf(AT_VERIFY, checklist([checklistItem({ id: 'b' })]));
    expect(one?.key).toBe(two?.key);
    const failed = checklistItem({ id: 'c', automated: true, kind: 'http', state: 'failed' });
    const blocked = holdOf(AT_VERIFY, checklist([checklistItem({ id: 'b' }), failed]));
    expect(blocked?.key).not.toBe(one?.key);
    expect(blocked?.message).toMatch(
      /^release #4 is blocked at the verify gate: 1 check failed: c; 1 item to sign: b — fix it and run "shipcheck checklist rerun ITEM"/,
    );
    expect(blocked?.message).toMatch(/or abort the release \("shipcheck abort"\)/);
  });

  it('names items that could not be judged, and counts the ones it does not name', () => {
    const many = Array.from({ length: 7 }, (_, i) => checklistItem({ id: `m${i}` }));
    const unsure = checklistItem({ id: 'metrics', automated: true, kind: 'metrics' });
    Object.assign(unsure, { state: 'inconclusive' });
    const hold = holdOf(AT_VERIFY, checklist([unsure, ...many]));
    expect(hold?.message).toMatch(
      /1 item could not be judged: metrics; 7 items to sign: m0, m1, m2, m3, m4 and 2 more/,
    );
    expect(hold?.message).toMatch(/rerun it \("shipcheck checklist rerun ITEM"\)/);
  });

  it('falls back to the reason without the checklist', () => {
    expect(holdOf(AT_VERIFY)?.message).toBe(
      'release #4 is waiting at the verify gate: 2 items to sign: a, b (see "shipcheck checklist")',
    );
  });

  it('says how to go on from a pause, naming why it paused', () => {
    const paused = releaseView({
      state: 'paused',
      step: 1,
      stepName: 'pause 1m',
      reason: 'analysis inconclusive 5 times in a row: error_rate on v2: 1 requests in 5s',
    });
    const hold = holdOf(paused);
    expect(hold?.message).toBe(
      'release #4 is paused at canary step 2/4 (pause 1m), weight 10% (analysis inconclusive 5 times in a row: error_rate on v2: 1 requests in 5s): run "shipcheck resume" to go on, "shipcheck promote" to move to the next step, or "shipcheck abort" to roll back',
    );
    expect(holdOf({ ...paused, reason: 'paused by user' })?.key).not.toBe(hold?.key);
  });
});
