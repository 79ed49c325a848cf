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
