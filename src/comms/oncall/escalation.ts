/** Whom an escalation policy's step reaches at an instant: its users, its channels, and whoever its schedules have on call. */
import type { EscalationPolicy } from '../types.js';
import { onCallAt } from './schedule.js';
import type { Schedule, ScheduleOverride } from './types.js';

/** One target of a step, resolved: a schedule target names who it had on call (possibly nobody). */
export type ResolvedTarget =
  { user: string } | { channel: string } | { schedule: string; users: string[]; known: boolean };

/** What one step of a policy reaches at an instant. */
export interface ResolvedStep {
  /** The step's index within `policy.steps` (a larger index given wraps around, for repeats). */
  step: number;
  /** Every user reached, directly or through a schedule, each once, in target order. */
  users: string[];
  /** Every channel reached, each once. */
  channels: string[];
  targets: ResolvedTarget[];
  /** Schedules the step names that were not given (a config the schema checked never has any). */
  unknownSchedules: string[];
  /** The step's delay before the next one, in ms. */
  delayMs: number;
}

/** The schedules a policy may name, and the stored overrides of each, by schedule name. */
export interface TargetContext {
  schedules: readonly Schedule[];
  overrides?: Readonly<Record<string, readonly ScheduleOverride[]>>;
}

/**
 * The users and channels step `stepIndex` of `policy` reaches at `at` (epoch ms): user targets as
 * they are, channel targets as they are, schedule targets as whoever the schedule has on call then
 * (nobody during a gap). An index past the last step wraps around (the policy repeating).
 */
export function resolveTargets(
  policy: EscalationPolicy,
  stepIndex: number,
  at: number,
  context: TargetContext,
): ResolvedStep {
  const count = policy.steps.length;
  const index = count === 0 ? 0 : ((stepIndex % count) + count) % count;
  const step = policy.steps[index];
  const users = new Set<string>();
  const channels = new Set<string>();
  const targets: ResolvedTarget[] = [];
  const unknownSchedules: string[] = [];
  for (const target of step?.targets ?? []) {
    if ('user' in target) {
      users.add(target.user);
      targets.push({ user: target.user });
    } else if ('channel' in target) {
      channels.add(target.channel);
      targets.push({ channel: target.channel });
    } else {
      const schedule = context.schedules.find((s) => s.name === target.schedule);
      if (!schedule) {
        unknownSchedules.push(target.schedule);
        targets.push({ schedule: target.schedule, users: [], known: false });
        continue;
      }
      const now = onCallAt(schedule, at, context.overrides?.[schedule.name] ?? []);
      for (const user of now.users) users.add(user);
      targets.push({ schedule: target.schedule, users: now.users, known: true });
    }
  }
  return {
    step: index,
    users: [...users],
    channels: [...channels],
    targets,
    unknownSchedules,
    delayMs: step?.delayMs ?? 0,
  };
}
