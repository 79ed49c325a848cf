/**
 * The words the communication modules share: what a notice says, and where it goes. A notice is
 * channel-neutral; each channel (providers/notify/*) renders it in its own format.
 */

/** How bad something is, in PagerDuty's words. */
export type Severity = 'critical' | 'error' | 'warning' | 'info';

/** Where one notification goes: a configured channel, or a user's contact methods (one, or all of them). */
export type Destination =
  { channel: string } | { user: string; contactMethod?: number } | { subscriber: number };

/** What a notification says, whatever carries it. */
export interface Notice {
  /** What it is about, e.g. `release.rolled_back`, `incident.triggered`, `incident.resolved`, `test`. */
  event: string;
  title: string;
  /** Plain text, a few lines at most. */
  text: string;
  severity: Severity;
  /** The unit (`web` or `web@production`) it concerns, if one. */
  service?: string;
  /** Where a person reads more: the release or incident page. */
  url?: string;
  /** The incident it concerns; PagerDuty's dedup key comes from `key`. */
  incident?: { id: number; key: string; state: string };
  /** The release it concerns. */
  release?: { id: number; version: string; fromVersion: string | null; state: string };
  /** Anything else a channel may show. */
  data?: Record<string, unknown>;
}

/** One notification asked for: `key` makes asking twice harmless (the second is dropped). */
export interface NewNotification {
  key: string;
  to: Destination;
  notice: Notice;
}

/** Who an escalation step reaches: a user (their contact methods), whoever a schedule has on call, or a channel. */
export type EscalationTarget = { user: string } | { schedule: string } | { channel: string };

/** One rung of an escalation policy: its targets are notified, then, unless acknowledged, the next step follows `delayMs` later. */
export interface EscalationStep {
  delayMs: number;
  targets: EscalationTarget[];
}

/** Ordered steps, run `repeat` more times after the last one while nobody acknowledges. */
export interface EscalationPolicy {
  name: string;
  steps: EscalationStep[];
  /** How many times the whole policy runs again after its last step (0: once). */
  repeat: number;
  /** An acknowledged incident not resolved within this long escalates again, from the first step. */
  ackTimeoutMs: number;
}
