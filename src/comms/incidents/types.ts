/** The words incidents are spoken of in: their states, sources, timeline kinds and the incident itself. */
import type { Destination, EscalationPolicy, Severity } from '../types.js';

/** Every incident state, in the order an incident moves through them. */
export const INCIDENT_STATES = ['triggered', 'acknowledged', 'resolved'] as const;
/** Where an incident is in its life: paged, someone is on it, or over. */
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** Every severity, worst first. */
export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const satisfies readonly Severity[];

/** Every source an incident can come from. */
export const INCIDENT_SOURCES = ['manual', 'rollback', 'alert'] as const;
/** What opened an incident: a person, a release that rolled back, or an Alertmanager alert. */
export type IncidentSource = (typeof INCIDENT_SOURCES)[number];

/** What a timeline entry records. */
export type TimelineKind =
  'triggered' | 'acknowledged' | 'resolved' | 'note' | 'escalated' | 'notified' | 'reopened' | 'postmortem';

/** Where escalation stands, held on the incident's row so that it survives a restart. */
export interface EscalationState {
  /** The step last notified (0-based). */
  step: number;
  /** How many times the policy has started over after its last step (0: the first run). */
  round: number;
  /** How many times escalation started from the first step: 0 at trigger, +1 on each ack timeout. */
  cycle: number;
  /**
   * When the runner acts next: the next step (triggered) or the ack timeout (acknowledged); null
   * when nothing is scheduled (no policy, exhausted, resolved).
   */
  nextAt: number | null;
  /** The policy ran out of steps and repeats with nobody acknowledging. */
  exhausted: boolean;
}

/** An incident, as the store keeps it and the API shows it. */
export interface Incident {
  id: number;
  /** The dedup key: one open incident per key. */
  key: string;
  title: string;
  severity: Severity;
  state: IncidentState;
  source: IncidentSource;
  /** The unit it concerns (`web`, `web@production`), if one. */
  service: string | null;
  releaseId: number | null;
  /** The escalation policy's name; null pages nobody. */
  policy: string | null;
  /** Shown on the status page. */
  public: boolean;
  postmortem: string | null;
  acknowledgedBy: string | null;
  acknowledgedAt: number | null;
  resolvedBy: string | null;
  resolvedAt: number | null;
  /** When a monitored incident resolves by itself (a verified rollback); null when nothing is scheduled. */
  resolveAt: number | null;
  createdAt: number;
  updatedAt: number;
  escalation: EscalationState;
  /** Every destination notified for this incident, so acknowledge and resolve reach the same ones. */
  paged: Destination[];
}

/** One entry of an incident's timeline. */
export interface TimelineEntry {
  id: number;
  incidentId: number;
  at: number;
  /** Who did it: a user's name, `shipcheck` for the escalation runner, `alertmanager`. */
  actor: string;
  kind: TimelineKind;
  message: string;
  data: Record<string, unknown>;
}

/**
 * Who step `stepIndex` of `policy` reaches at `at`: users and channels as they are, schedules as the
 * users on call then. Given to the escalation runner, since schedules live with on-call.
 */
export type ResolveTargets = (
  policy: EscalationPolicy,
  stepIndex: number,
  at: number,
) => Promise<Destination[]>;
