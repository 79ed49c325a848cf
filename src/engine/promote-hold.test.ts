import { describe, expect, it } from 'vitest';
import type { ChecklistItemRow, ReleaseRow } from '../store/types.js';
import { promoteHold } from './promote-hold.js';
import { checklistItem, releaseView } from '../../test/support/release-fixtures.js';

function release(patch: Partial<ReleaseRow>): ReleaseRow {
  return releaseView({ weight: 0, ...patch });
}

function item(
  id: string,
  gate: ChecklistItemRow['gate'],
  state: string,
  automated = false,
): ChecklistItemRow {
  return checklistItem({
    id,
    title: id,
    gate,
    automated,
    kind: automated ? 'http' : 'manual',
    state: state as ChecklistItemRow['state'],
  });
}

describe('promoteHold', () => {
  it('lets promote move canary steps, a pause at step 0 after the gate, and the bake', () => {
    expect(promoteHold(release({ step: 1, weight: 10 }), [])).toBeUndefined();
    expect(promoteHold(release({ state: 'paused' }), [item('c', 'canary', 'passed')])).toBeUndefined();
    expect(promoteHold(release({ phase: 'verifying', weight: 100 }), [])).toBeUndefined();
  });

  it('says what holds a gate and what to do about each kind of item', () => {
    const items = [
      item('a', 'canary', 'pending'),
      item('b', 'canary', 'running', true),
      item('c', 'canary', 'failed', true),
      item('d', 'canary', 'inconclusive', true),
      item('e', 'verify', 'pending'),
      item('f', 'canary', 'waived'),
    ];
    expect(promoteHold(release({ state: 'paused' }), items)).toBe(
      'release #4 is paused at the canary gate: 1 item to sign (a), 1 check running (b), 1 check failed (c), ' +
        '1 check inconclusive (d); sign them ("shipcheck sign --gate") or waive them; wait for the checks to finish; ' +
        'fix and re-run ("shipcheck checklist rerun ITEM") or waive what failed; ' +
        'wait for data, or re-run, sign or waive what could not judge',
    );
  });

  it('holds a release at pre-deploy, verify and post-deploy even with nothing left there', () => {
    expect(promoteHold(release({ phase: 'post-deploy', weight: 100 }), [])).toBe(
      'release #4 is passing the post-deploy gate; it moves on by itself',
    );
    const many = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => item(id, 'pre-deploy', 'pending'));
    expect(promoteHold(release({ phase: 'pre-deploy', state: 'waiting' }), many)).toMatch(
      /^release #4 is waiting at the pre-deploy gate: 7 items to sign \(a, b, c, d, e and 2 more\);/,
    );
  });

  it('has nothing to promote before the canary steps', () => {
    expect(promoteHold(release({ phase: 'migrating' }), [])).toMatch(/is running its migrations/);
    expect(promoteHold(release({ phase: 'starting' }), [])).toBe(
      'release #4 is starting the instances of v2; promote moves canary steps and it has reached none yet',
    );
  });
});
