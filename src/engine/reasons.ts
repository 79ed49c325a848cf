import type { Decision } from '../analysis/analysis-policy.js';
import type { Instance } from '../providers/fleet/types.js';
import { formatDuration } from '../util/duration.js';

/** Reasons a user reads on a release, named so tests and scripts can recognise them. */
export const Reasons = {
  abortedByUser: 'aborted by user',
  pausedByUser: 'paused by user',
  waitingForPromote: (step: number, steps: number) => `waiting for promote at step ${step}/${steps}`,
  canaryExited: (id: string, detail: string) => `canary instance ${id} exited: ${detail}`,
  notHealthyInTime: (version: string, timeout: string, detail: string) =>
    `${version} not healthy within fleet.startTimeout ${timeout}: ${detail}`,
  triggerFired: (rule: string, measured: string) => `rollback trigger "${rule}" fired: ${measured}`,
  inconclusive: (count: number, detail: string) => `analysis inconclusive ${count} times in a row: ${detail}`,
  checkFailed: (gate: string, item: string) => `${gate} check failed: ${item}`,
  itemInconclusive: (gate: string, item: string) =>
    `${gate} check inconclusive for too long (analysis.onInconclusive: rollback): ${item}`,
  blockedAtGate: (gate: string, item: string) =>
    `blocked at the ${gate} gate: ${item}; fix it and run "shipcheck checklist rerun", waive it, or abort`,
  alertFired: (alert: string) => `alert firing: ${alert}`,
  firstReleaseFailed: (detail: string) => `first release failed, nothing to roll back to: ${detail}`,
} as const;

/** Why analysis rolls a release back or pauses it: the rule that fired and what it measured, or the streak. */
export function analysisReason(decision: Extract<Decision, { action: 'rollback' | 'hold' }>): string {
  const { measurement } = decision;
  if (decision.cause === 'inconclusive') return Reasons.inconclusive(decision.streak, measurement.message);
  const held = decision.heldMs > 0 ? ` for ${formatDuration(decision.heldMs)}` : '';
  return Reasons.triggerFired(measurement.trigger, measurement.message + held);
}

/** Instances that are not ready, as `v2-1 starting, v2-2 unhealthy (connection refused)`; `no instance` without any. */
export function describeNotReady(instances: readonly Instance[]): string {
  const waiting = instances.filter((i) => i.state !== 'ready');
  const detail = waiting.map((i) => `${i.id} ${i.state}${i.lastError ? ` (${i.lastError})` : ''}`).join(', ');
  return detail || 'no instance';
}
