import type { ReleaseView } from '../engine/views.js';
import type { ChecklistItemRow } from '../store/types.js';
import type { ChecklistView } from './api-shapes.js';
import { formatPhase } from './format.js';
import { gateItems } from '../checklist/gate-items.js';
import { listIds, plural } from '../util/words.js';

/** A release stopped until a person acts: paused, or waiting at a gate for a signature or a decision. */
export interface Hold {
  /** Equal keys are the same hold: it is announced once, however often it is seen. */
  key: string;
  /** One line: what holds the release and what to do about it. */
  message: string;
}

/** Item ids named in one message; the rest are counted. */
const ITEMS_NAMED = 5;

/**
 * What holds `release` for a person, or undefined when it goes on by itself (progressing, rolling
 * back, or waiting only for automated checks that are still running). `checklist` is the release's
 * checklist when it is waiting at a gate; without it the release's own reason is shown.
 */
export function holdOf(release: ReleaseView, checklist?: ChecklistView): Hold | undefined {
  if (release.phase === 'rolling-back') return undefined;
  if (release.state === 'paused') return pausedHold(release);
  if (release.state !== 'waiting') return undefined;
  if (!checklist || checklist.release.id !== release.id || checklist.gate === null) {
    return {
      key: `waiting:${release.reason ?? ''}`,
      message: `release #${release.id} is ${release.reason ?? `waiting at the ${release.phase} gate`} (see "shipcheck checklist")`,
    };
  }
  return gateHold(release, checklist.gate, checklist.items);
}

function pausedHold(release: ReleaseView): Hold {
  return {
    key: `paused:${release.phase}:${release.step}:${release.reason ?? ''}`,
    message:
      `release #${release.id} is paused at ${formatPhase(release)}${release.reason ? ` (${release.reason})` : ''}: ` +
      `run "shipcheck resume" to go on, "shipcheck promote" to move to the next step, or "shipcheck abort" to roll back`,
  };
}

function gateHold(release: ReleaseView, gate: string, items: readonly ChecklistItemRow[]): Hold | undefined {
  const { failed, inconclusive, toSign } = gateItems(items, gate);
  const what: string[] = [];
  const todo: string[] = [];
  if (failed.length > 0) {
    what.push(`${plural(failed.length, 'check')} failed: ${listIds(failed, ITEMS_NAMED)}`);
    todo.push(
      'fix it and run "shipcheck checklist rerun ITEM"',
      'waive it ("shipcheck waive ITEM --reason TEXT")',
    );
  }
  if (inconclusive.length > 0) {
    what.push(
      `${plural(inconclusive.length, 'item')} could not be judged: ${listIds(inconclusive, ITEMS_NAMED)}`,
    );
    todo.push('rerun it ("shipcheck checklist rerun ITEM")', 'sign or waive it');
  }
  if (toSign.length > 0) {
    what.push(`${plural(toSign.length, 'item')} to sign: ${listIds(toSign, ITEMS_NAMED)}`);
    todo.push('run "shipcheck checklist", then "shipcheck sign ITEM" or "shipcheck sign --gate"');
  }
  // Only checks still running: the release goes on by itself once they finish.
  if (what.length === 0) return undefined;
  if (failed.length > 0) todo.push('abort the release ("shipcheck abort")');
  const kinds = [failed, inconclusive, toSign].map((list) => (list.length > 0 ? 1 : 0)).join('');
  const verb = failed.length > 0 ? 'blocked' : 'waiting';
  return {
    key: `waiting:${gate}:${kinds}`,
    message: `release #${release.id} is ${verb} at the ${gate} gate: ${what.join('; ')} — ${todo.join(', or ')}`,
  };
}
