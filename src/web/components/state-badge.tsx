/** A release's or an item's state, as text with a colour that never carries the meaning alone. */

const TONE: Record<string, string> = {
  succeeded: 'ok',
  delivered: 'ok',
  passed: 'ok',
  pass: 'ok',
  ok: 'ok',
  ready: 'ok',
  progressing: 'info',
  running: 'info',
  starting: 'info',
  verifying: 'info',
  waiting: 'warn',
  paused: 'warn',
  pending: 'muted',
  inconclusive: 'warn',
  waived: 'muted',
  'not-applicable': 'muted',
  stopping: 'muted',
  rolled_back: 'bad',
  aborted: 'bad',
  failed: 'bad',
  fail: 'bad',
  denied: 'bad',
  unhealthy: 'bad',
  exited: 'bad',
};

/** `rolled_back` -> `rolled back`. */
export function stateLabel(state: string): string {
  return state.replaceAll('_', ' ');
}

/** A small labelled badge for a state. */
export function StateBadge({ state }: { state: string }) {
  return <span className={`badge badge-${TONE[state] ?? 'muted'}`}>{stateLabel(state)}</span>;
}
