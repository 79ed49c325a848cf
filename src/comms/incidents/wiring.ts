/**
 * What `shipcheck up` hands the incident service until on-call is wired in: the installation's
 * escalation policies, read defensively, and a resolver that reaches users and channels directly.
 */
import type { Installation } from '../../config/installation.js';
import type { Destination, EscalationPolicy, EscalationTarget } from '../types.js';
import type { ResolveTargets } from './types.js';

function isTarget(value: unknown): value is EscalationTarget {
  if (!value || typeof value !== 'object') return false;
  const t = value as Record<string, unknown>;
  return typeof t.user === 'string' || typeof t.schedule === 'string' || typeof t.channel === 'string';
}

function isPolicy(value: unknown): value is EscalationPolicy {
  if (!value || typeof value !== 'object') return false;
  const p = value as Record<string, unknown>;
  return (
    typeof p.name === 'string' &&
    typeof p.repeat === 'number' &&
    typeof p.ackTimeoutMs === 'number' &&
    Array.isArray(p.steps) &&
    p.steps.every(
      (s: unknown) =>
        !!s &&
        typeof (s as { delayMs?: unknown }).delayMs === 'number' &&
        Array.isArray((s as { targets?: unknown }).targets) &&
        (s as { targets: unknown[] }).targets.every(isTarget),
    )
  );
}

/**
 * The installation's escalation policies (`oncall.escalationPolicies`), or [] while its config has
 * none; entries not shaped as EscalationPolicy are left out.
 */
export function policiesOf(installation: Pick<Installation, 'oncall'>): EscalationPolicy[] {
  const listed = (installation.oncall as { escalationPolicies?: unknown } | undefined)?.escalationPolicies;
  return Array.isArray(listed) ? listed.filter(isPolicy) : [];
}

/** Users and channels as they are; schedules reach nobody (the on-call resolver replaces this). */
export const directTargets: ResolveTargets = async (policy, stepIndex) =>
  (policy.steps[stepIndex]?.targets ?? []).flatMap((t): Destination[] =>
    'user' in t ? [{ user: t.user }] : 'channel' in t ? [{ channel: t.channel }] : [],
  );
