/**
 * What `shipcheck up` hands the incident service: the installation's escalation policies, and a
 * resolver that reaches users and channels as they are and a schedule's targets through whoever it
 * has on call at the time (its layers, its configured overrides and those stored through the API).
 */
import type { OnCallConfig } from '../../config/oncall-schema.js';
import type { Store } from '../../store/types.js';
import { resolveTargets } from '../oncall/escalation.js';
import type { ScheduleOverride } from '../oncall/types.js';
import type { Destination, EscalationPolicy } from '../types.js';
import type { ResolveTargets } from './types.js';

/** How far around the time asked about stored overrides are read: an override holds for one shift at most. */
const OVERRIDE_LOOKAROUND_MS = 45 * 24 * 3600_000;

/** The installation's escalation policies. */
export function policiesOf(installation: { oncall: OnCallConfig }): EscalationPolicy[] {
  return installation.oncall.escalationPolicies;
}

/** Resolves a step's targets at a time, on the on-call config as it is then (a reload may change it). */
export function onCallTargets(store: Pick<Store, 'oncall'>, oncall: () => OnCallConfig): ResolveTargets {
  return async (policy, stepIndex, at) => {
    const { schedules } = oncall();
    const overrides: Record<string, ScheduleOverride[]> = {};
    const named = new Set(
      (policy.steps[stepIndex % Math.max(1, policy.steps.length)]?.targets ?? []).flatMap((t) =>
        'schedule' in t ? [t.schedule] : [],
      ),
    );
    for (const schedule of named) {
      const rows = await store.oncall.overrides(
        schedule,
        at - OVERRIDE_LOOKAROUND_MS,
        at + OVERRIDE_LOOKAROUND_MS,
      );
      overrides[schedule] = rows.map((row) => ({
        user: row.user,
        from: row.startsAt,
        to: row.endsAt,
        id: row.id,
      }));
    }
    const step = resolveTargets(policy, stepIndex, at, { schedules, overrides });
    return [
      ...step.users.map((user): Destination => ({ user })),
      ...step.channels.map((channel): Destination => ({ channel })),
    ];
  };
}
