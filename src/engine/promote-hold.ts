import { SETTLED_STATES } from '../checklist/checklist-runner.js';
import { gateItems } from '../checklist/gate-items.js';
import type { Gate } from '../domain/checklist.js';
import type { ChecklistItemRow, ReleaseRow } from '../store/types.js';
import { listIds, plural } from '../util/words.js';

/** Item ids named in one message; the rest are counted. */
const LISTED_ITEMS = 5;

/**
 * Why `promote` cannot move `release` now, or undefined when it can. Promote moves a canary through
 * its steps; it never passes a gate, nor skips the way to one (migrations, instances starting), so
 * `promote --full` cannot jump over the canary gate either. A pause step after the canary gate, even
 * at step 0, can be promoted. `items` is the release's checklist (empty without one).
 */
export function promoteHold(release: ReleaseRow, items: readonly ChecklistItemRow[]): string | undefined {
  const at = `release #${release.id}`;
  switch (release.phase) {
    case 'migrating':
      return `${at} is running its migrations; promote moves canary steps and it has reached none yet`;
    case 'starting':
      return `${at} is starting the instances of ${release.version}; promote moves canary steps and it has reached none yet`;
    case 'pre-deploy':
    case 'verify':
    case 'post-deploy':
      return (
        gateHold(release, release.phase, items) ??
        `${at} is passing the ${release.phase} gate; it moves on by itself`
      );
    case 'canary':
      // Before any user traffic the canary is at its gate; once the gate passed, step 0 may be a pause.
      return release.step === 0 && release.weight === 0 ? gateHold(release, 'canary', items) : undefined;
    default:
      return undefined;
  }
}

/**
 * `release #4 is waiting at the verify gate: 2 items to sign (a, b); sign them ("shipcheck sign --gate")
 * or waive them`, or undefined when nothing holds the gate.
 */
function gateHold(release: ReleaseRow, gate: Gate, items: readonly ChecklistItemRow[]): string | undefined {
  const open = items.filter((i) => i.gate === gate && !SETTLED_STATES.has(i.state));
  if (open.length === 0) return undefined;
  const { toSign, running, failed, inconclusive } = gateItems(open, gate);
  const sorted = new Set([...toSign, ...running, ...failed, ...inconclusive]);
  const other = open.filter((i) => !sorted.has(i));
  const parts: string[] = [];
  const todo: string[] = [];
  if (toSign.length > 0) {
    parts.push(`${plural(toSign.length, 'item')} to sign (${listIds(toSign, LISTED_ITEMS)})`);
    todo.push('sign them ("shipcheck sign --gate") or waive them');
  }
  if (running.length > 0) {
    parts.push(`${plural(running.length, 'check')} running (${listIds(running, LISTED_ITEMS)})`);
    todo.push('wait for the checks to finish');
  }
  if (failed.length > 0) {
    parts.push(`${plural(failed.length, 'check')} failed (${listIds(failed, LISTED_ITEMS)})`);
    todo.push('fix and re-run ("shipcheck checklist rerun ITEM") or waive what failed');
  }
  if (inconclusive.length > 0) {
    parts.push(
      `${plural(inconclusive.length, 'check')} inconclusive (${listIds(inconclusive, LISTED_ITEMS)})`,
    );
    todo.push('wait for data, or re-run, sign or waive what could not judge');
  }
  for (const state of new Set(other.map((i) => i.state))) {
    const these = other.filter((i) => i.state === state);
    parts.push(`${plural(these.length, 'item')} ${state} (${listIds(these, LISTED_ITEMS)})`);
  }
  if (other.length > 0) todo.push('see "shipcheck checklist" for what to do');
  const how = release.state === 'waiting' || release.state === 'paused' ? `${release.state} ` : '';
  return `release #${release.id} is ${how}at the ${gate} gate: ${parts.join(', ')}; ${todo.join('; ')}`;
}
