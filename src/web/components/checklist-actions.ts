/**
 * The checklist grouped by gate, and which buttons each item gets for a role. Pure, so the rules are
 * tested without a browser; the API still decides (its 403 and 409 messages are shown).
 */
import type { ChecklistItem } from '../api/types.js';

/** The gates shown, in the order a release meets them. */
export const CHECKLIST_GATES = [
  'pre-deploy',
  'canary',
  'verify',
  'post-deploy',
  'rollback',
  'scheduled',
] as const;

/** Item states a waiver cannot change. */
const SETTLED: ReadonlySet<string> = new Set(['passed', 'waived', 'not-applicable']);
/** Automated item states a re-run applies to. */
const RERUNNABLE: ReadonlySet<string> = new Set(['failed', 'inconclusive']);

/** One gate's items, in checklist order. */
export interface GateGroup {
  gate: string;
  items: ChecklistItem[];
}

/** `items` by gate: the known gates in order, then any other gate the server names, none empty. */
export function groupByGate(items: readonly ChecklistItem[]): GateGroup[] {
  const byGate = new Map<string, ChecklistItem[]>();
  for (const item of [...items].sort((a, b) => a.position - b.position)) {
    const list = byGate.get(item.gate) ?? [];
    list.push(item);
    byGate.set(item.gate, list);
  }
  const order = [
    ...CHECKLIST_GATES,
    ...[...byGate.keys()].filter((g) => !(CHECKLIST_GATES as readonly string[]).includes(g)),
  ];
  return order.flatMap((gate) => {
    const list = byGate.get(gate);
    return list ? [{ gate, items: list }] : [];
  });
}

/** A button of a checklist item. */
export type ItemAction = 'sign' | 'waive' | 'rerun';

/** What the user may do to the checklist of this release. */
export interface ChecklistRole {
  /** Approver or above in the unit's environment: sign, sign a gate, waive. */
  mayApprove: boolean;
  /** Deployer or above: re-run a check. */
  mayDeploy: boolean;
  /** The release has ended: nothing can change its checklist. */
  ended: boolean;
}

/**
 * The buttons `item` gets: sign a pending manual item, waive what has not settled (approver), re-run a
 * failed or inconclusive check (deployer). An item of another gate may still be refused with a 409,
 * whose message says why.
 */
export function itemActions(item: ChecklistItem, role: ChecklistRole): ItemAction[] {
  if (role.ended) return [];
  const actions: ItemAction[] = [];
  if (role.mayApprove && !item.automated && item.state === 'pending') actions.push('sign');
  if (role.mayDeploy && item.automated && RERUNNABLE.has(item.state)) actions.push('rerun');
  if (role.mayApprove && !SETTLED.has(item.state)) actions.push('waive');
  return actions;
}

/** Whether `Sign all at this gate` applies: an approver, at the release's gate, with a manual item left to sign. */
export function maySignGate(group: GateGroup, currentGate: string | null, role: ChecklistRole): boolean {
  return (
    !role.ended &&
    role.mayApprove &&
    group.gate === currentGate &&
    group.items.some((item) => !item.automated && item.state === 'pending')
  );
}
