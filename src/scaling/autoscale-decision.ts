/**
 * The autoscaler's decision, after Kubernetes' Horizontal Pod Autoscaler: desired = ceil(current *
 * observed / target), no change within a 10% tolerance band, clamped to [min, max]. Scaling up
 * happens at once unless the last scaling was less than `cooldown` ago; scaling down waits for the
 * cooldown too and goes only as low as the highest recommendation seen during the cooldown window,
 * so a dip in load does not make the count flap. Pure but for the recommendations it remembers;
 * time comes from the caller's clock.
 */

/** The part of a `scaling` block a decision needs. */
export interface ScalingPolicy {
  min: number;
  max: number;
  target: { rpsPerInstance?: number | undefined; cpuPercent?: number | undefined };
  cooldownMs: number;
}

/** What the autoscaler read for the stable version. */
export interface Observation {
  /** Requests per second the version took; undefined when the source could not be read. */
  rps: number | undefined;
  /** Mean CPU per instance in percent of one core; undefined without a reading. */
  cpuPercent: number | undefined;
  /** Stable instances now (the count in force). */
  current: number;
}

/** Why a decision is what it is. */
export type DecisionReason =
  'scale-up' | 'scale-down' | 'within-tolerance' | 'no-data' | 'cooldown' | 'stabilizing' | 'at-bound';

/** One decision with the inputs it was made from (an autoscale event's data). */
export interface Decision {
  /** `scale`: set the count to `desired`; `hold`: leave it as it is. */
  action: 'scale' | 'hold';
  reason: DecisionReason;
  /** The count this decision wants (the current one on a hold). */
  desired: number;
  /** The raw recommendation before stabilisation: ceil(current * observed / target), clamped. */
  recommended: number;
  current: number;
  rps: number | null;
  cpuPercent: number | null;
  /** observed / target; null without data. */
  ratio: number | null;
  min: number;
  max: number;
  at: number;
}

/** Ratios within this distance of 1 change nothing (Kubernetes' default). */
export const TOLERANCE = 0.1;

/** The recommendation alone, without cooldown: what the load asks for. Undefined without data. */
export function recommend(
  policy: ScalingPolicy,
  observation: Observation,
): { recommended: number; ratio: number | null } | undefined {
  const { current } = observation;
  const clamp = (n: number): number => Math.min(policy.max, Math.max(policy.min, n));
  const { rps, cpuPercent } = observation;
  // No traffic and no CPU reading: nothing to go on, so nothing changes.
  if ((rps === undefined || rps <= 0) && cpuPercent === undefined) return undefined;
  let ratio: number;
  if (policy.target.rpsPerInstance !== undefined) {
    if (rps === undefined) return undefined;
    ratio = rps / Math.max(current, 1) / policy.target.rpsPerInstance;
  } else if (policy.target.cpuPercent !== undefined) {
    if (cpuPercent === undefined) return undefined;
    ratio = cpuPercent / policy.target.cpuPercent;
  } else {
    return undefined;
  }
  if (current <= 0) return { recommended: clamp(1), ratio };
  const wanted = Math.abs(ratio - 1) <= TOLERANCE ? current : Math.ceil(current * ratio - 1e-9);
  return { recommended: clamp(wanted), ratio };
}

/** Decides, remembering the recommendations of the last cooldown window. */
export class AutoscaleDecider {
  private history: { at: number; recommended: number }[] = [];

  /** `since`: when this decider started watching; a scale-down waits a full window after it. */
  constructor(
    private readonly policy: ScalingPolicy,
    private readonly since: number,
  ) {}

  /**
   * Decides at `now`, with the time of the last scaling (by hand or by the autoscaler), if any.
   */
  decide(observation: Observation, now: number, lastScaleAt: number | undefined): Decision {
    const { policy } = this;
    const { current } = observation;
    const base = {
      current,
      rps: observation.rps ?? null,
      cpuPercent: observation.cpuPercent ?? null,
      min: policy.min,
      max: policy.max,
      at: now,
    };
    const hold = (reason: DecisionReason, recommended: number, ratio: number | null): Decision => ({
      ...base,
      action: 'hold',
      reason,
      desired: current,
      recommended,
      ratio,
    });
    const rec = recommend(policy, observation);
    if (!rec) return hold('no-data', current, null);
    const { recommended, ratio } = rec;
    this.history = this.history.filter((r) => r.at > now - policy.cooldownMs);
    this.history.push({ at: now, recommended });
    const cooling = lastScaleAt !== undefined && now - lastScaleAt < policy.cooldownMs;
    if (recommended > current) {
      if (cooling) return hold('cooldown', recommended, ratio);
      return { ...base, action: 'scale', reason: 'scale-up', desired: recommended, recommended, ratio };
    }
    if (recommended === current) {
      const atBound = current === policy.min || current === policy.max;
      const reason = Math.abs((ratio ?? 1) - 1) <= TOLERANCE || !atBound ? 'within-tolerance' : 'at-bound';
      return hold(reason, recommended, ratio);
    }
    // Down: only after a full window of recommendations, and no lower than the highest of them.
    if (cooling) return hold('cooldown', recommended, ratio);
    if (now - this.since < policy.cooldownMs) return hold('stabilizing', recommended, ratio);
    const highest = Math.max(...this.history.map((r) => r.recommended));
    if (highest >= current) return hold('stabilizing', recommended, ratio);
    return { ...base, action: 'scale', reason: 'scale-down', desired: highest, recommended, ratio };
  }

  /** Forgets the remembered recommendations (the config changed). */
  reset(): void {
    this.history = [];
  }
}

/** One line for an autoscale event. */
export function describeDecision(d: Decision): string {
  const inputs = [
    d.rps === null ? 'rps n/a' : `${round(d.rps)} rps`,
    d.cpuPercent === null ? undefined : `cpu ${round(d.cpuPercent)}%`,
    `bounds ${d.min}-${d.max}`,
  ]
    .filter((s) => s !== undefined)
    .join(', ');
  switch (d.reason) {
    case 'scale-up':
    case 'scale-down':
      return `autoscaler: ${d.current} -> ${d.desired} instances (${inputs})`;
    case 'cooldown':
      return `autoscaler: wants ${d.recommended} instances, held at ${d.current} by the cooldown (${inputs})`;
    case 'stabilizing':
      return `autoscaler: wants ${d.recommended} instances, held at ${d.current} until the cooldown window's recommendations agree (${inputs})`;
    case 'no-data':
      return `autoscaler: no traffic and no CPU reading; ${d.current} instances unchanged`;
    case 'at-bound':
      return `autoscaler: at its bound, ${d.current} instances (${inputs})`;
    default:
      return `autoscaler: ${d.current} instances fit the load (${inputs})`;
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
