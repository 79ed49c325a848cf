import type { ChecklistItemRow } from '../store/types.js';
import type { Gate } from '../domain/checklist.js';

/** A gate's open items, by what each waits for. */
export interface GateItems {
  /** Manual items still to sign. */
  toSign: ChecklistItemRow[];
  /** Automated items still running (or about to). */
  running: ChecklistItemRow[];
  /** Items that could not judge (no data yet); they hold the release until they pass or a person acts. */
  inconclusive: ChecklistItemRow[];
  /** Checks that failed. */
  failed: ChecklistItemRow[];
}

/**
 * Sorts the items of `gate` by what they wait for. The one reading of a gate that the engine (why a
 * release waits), `promote` (why it cannot move) and the CLI (what a person must do) share.
 */
export function gateItems(items: readonly ChecklistItemRow[], gate: Gate | string): GateItems {
  const at = items.filter((i) => i.gate === gate);
  return {
    toSign: at.filter((i) => !i.automated && i.state === 'pending'),
    running: at.filter((i) => i.automated && (i.state === 'pending' || i.state === 'running')),
    inconclusive: at.filter((i) => i.state === 'inconclusive'),
    failed: at.filter((i) => i.state === 'failed'),
  };
}
