/**
 * `oncall`: the on-call rotation items of the checklist, against the installation's `oncall:` config
 * and the stored overrides. Each looks at a window: the next `within` (12h by default) from when the
 * check runs, or, with `from`/`to`, the next occurrence of that daily window (the deploy window) in
 * `timezone` (the schedule's zone by default).
 * - `check: primary`: `schedule` has someone on call for the whole window; a gap fails with its times.
 * - `check: secondary`: the same, and a notice is written to each secondary on-call person.
 * - `check: escalation`: `policy` exists, every step has targets, every user it names is an enabled
 *   user, and every schedule it names has someone on call for the whole window.
 */
import { z } from 'zod';
import { onCallAt, shifts } from '../../comms/oncall/schedule.js';
import type { Schedule, ScheduleOverride, Shift } from '../../comms/oncall/types.js';
import { parseClock } from '../../comms/oncall/windows.js';
import { formatInZone, fromWall, isTimeZone, startOfDay, toWall } from '../../util/zoned-time.js';
import { duration } from '../../config/schema-values.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const CLOCK_HINT = 'expected a time of day as HH:MM, e.g. 22:00';

const oncallParams = z
  .strictObject({
    check: z
      .enum(['primary', 'secondary', 'escalation'])
      .describe(
        'primary: someone on call; secondary: likewise, and notified; escalation: the policy is sound.',
      ),
    schedule: z.string().min(1).optional().describe('The schedule (primary and secondary).'),
    policy: z.string().min(1).optional().describe('The escalation policy (escalation).'),
    within: duration
      .prefault('12h')
      .describe('The window: this long from when the check runs, unless from/to are given.'),
    from: z
      .string()
      .refine((t) => parseClock(t) !== undefined, CLOCK_HINT)
      .optional()
      .describe('Start of a daily window, HH:MM.'),
    to: z
      .string()
      .refine((t) => parseClock(t) !== undefined, CLOCK_HINT)
      .optional()
      .describe('End of a daily window, HH:MM.'),
    timezone: z
      .string()
      .refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin')
      .optional()
      .describe("Zone of from/to; the schedule's zone by default."),
  })
  .refine((p) => p.check === 'escalation' || p.schedule !== undefined, {
    message: 'name the schedule: schedule: primary',
    path: ['schedule'],
  })
  .refine((p) => p.check !== 'escalation' || p.policy !== undefined, {
    message: 'name the policy: policy: default',
    path: ['policy'],
  })
  .refine((p) => (p.from === undefined) === (p.to === undefined), {
    message: 'from and to go together',
    path: ['to'],
  })
  .describe(
    'On-call: a schedule covers the window (primary, secondary with a notice), or an escalation policy is sound.',
  );

/** Params of an `oncall` item after validation: within in ms. */
export type OnCallParams = z.output<typeof oncallParams>;

/** The window a check looks at: [start, end) in epoch ms. */
export function windowOf(params: OnCallParams, zone: string, now: number): [number, number] {
  if (params.from === undefined || params.to === undefined) return [now, now + params.within];
  const from = parseClock(params.from) ?? 0;
  const to = parseClock(params.to) ?? 0;
  const length = to > from ? to - from : 1440 - from + to;
  const today = startOfDay(toWall(zone, now));
  for (const d of [-1, 0, 1]) {
    const start = fromWall(zone, today + d * DAY_MS + from * MINUTE_MS);
    const end = fromWall(zone, today + d * DAY_MS + (from + length) * MINUTE_MS);
    if (end > now) return [Math.max(start, now), end];
  }
  return [now, now + params.within];
}

/** The stretches of [from, to) no shift covers. */
function gapsOf(list: readonly Shift[], from: number, to: number): [number, number][] {
  const gaps: [number, number][] = [];
  let covered = from;
  for (const shift of [...list].sort((a, b) => a.start - b.start)) {
    if (shift.start > covered) gaps.push([covered, Math.min(shift.start, to)]);
    covered = Math.max(covered, shift.end);
  }
  if (covered < to) gaps.push([covered, to]);
  return gaps;
}

function local(zone: string, ms: number): string {
  return formatInZone(zone, ms).slice(0, 16).replace('T', ' ');
}

function span(zone: string, [from, to]: readonly [number, number]): string {
  return `${local(zone, from)} to ${local(zone, to)} (${zone})`;
}

async function storedOverrides(
  context: CheckContext,
  schedule: string,
  from: number,
  to: number,
): Promise<ScheduleOverride[]> {
  const rows = (await context.store?.oncall.overrides(schedule, from, to)) ?? [];
  return rows.map((r) => ({ user: r.user, from: r.startsAt, to: r.endsAt, id: r.id }));
}

/** Who a schedule has on call over a window, and the gaps. */
async function coverage(
  context: CheckContext,
  schedule: Schedule,
  window: [number, number],
): Promise<{ people: string[]; shifts: Shift[]; gaps: [number, number][] }> {
  const list = shifts(
    schedule,
    window[0],
    window[1],
    await storedOverrides(context, schedule.name, ...window),
  );
  return { people: [...new Set(list.map((s) => s.user))], shifts: list, gaps: gapsOf(list, ...window) };
}

function describeCoverage(zone: string, list: readonly Shift[]): string {
  return list
    .map((s) => `${s.user} ${local(zone, s.start).slice(11)}-${local(zone, s.end).slice(11)}`)
    .join(', ');
}

async function scheduleCheck(params: OnCallParams, context: CheckContext): Promise<CheckResult> {
  const { schedules } = context.config.oncall;
  const schedule = schedules.find((s) => s.name === params.schedule);
  if (!schedule)
    return {
      ok: false,
      summary: `no schedule "${params.schedule}" in oncall.schedules${schedules.length > 0 ? `; the schedules are ${schedules.map((s) => `"${s.name}"`).join(', ')}` : ''}`,
    };
  const zone = params.timezone ?? schedule.timeZone;
  const window = windowOf(params, zone, context.clock.now());
  const { people, shifts: list, gaps } = await coverage(context, schedule, window);
  const data: Record<string, unknown> = {
    schedule: schedule.name,
    from: window[0],
    to: window[1],
    people,
    shifts: list.map((s) => ({
      user: s.user,
      start: s.start,
      end: s.end,
      layer: s.layer,
      override: s.override,
    })),
    gaps: gaps.map(([from, to]) => ({ from, to })),
  };
  if (gaps.length > 0)
    return {
      ok: false,
      summary: `${schedule.name} has nobody on call ${gaps.map((g) => span(schedule.timeZone, g)).join('; ')}, in the window ${span(schedule.timeZone, window)}`,
      data,
    };
  const covered = `${schedule.name} covers ${span(schedule.timeZone, window)}: ${describeCoverage(schedule.timeZone, list)}`;
  if (params.check === 'primary') return { ok: true, summary: covered, data };

  if (!context.store)
    return {
      ok: false,
      inconclusive: true,
      summary: `${covered}; no store here to write the notice to`,
      data,
    };
  const notices = people.map((user) => ({
    key: `checklist:${context.service}:${context.version}:secondary-on-call:${schedule.name}:${user}`,
    to: { user },
    notice: {
      event: 'oncall.secondary',
      title: `Secondary on-call for ${context.service} ${context.version}`,
      text: `You are secondary on-call (${schedule.name}) while ${context.service} ${context.version} is released: ${span(schedule.timeZone, window)}.`,
      severity: 'info' as const,
      service: context.service,
    },
  }));
  await context.store.notifications.enqueue(notices, context.clock.now());
  return {
    ok: true,
    summary: `${covered}; notified ${people.join(', ')}`,
    data: { ...data, notified: people },
  };
}

async function escalationCheck(params: OnCallParams, context: CheckContext): Promise<CheckResult> {
  const { schedules, escalationPolicies } = context.config.oncall;
  const policy = escalationPolicies.find((p) => p.name === params.policy);
  if (!policy)
    return {
      ok: false,
      summary: `no escalation policy "${params.policy}" in oncall.escalationPolicies${escalationPolicies.length > 0 ? `; the policies are ${escalationPolicies.map((p) => `"${p.name}"`).join(', ')}` : ''}`,
    };
  const now = context.clock.now();
  const problems: string[] = [];
  const named = new Set<string>();
  const reached = new Set<string>();
  if (policy.steps.length === 0) problems.push('it has no steps');
  for (const [index, step] of policy.steps.entries()) {
    if (step.targets.length === 0) problems.push(`step ${index + 1} has no targets`);
    for (const target of step.targets) {
      if ('user' in target) {
        named.add(target.user);
        reached.add(target.user);
      } else if ('schedule' in target) {
        const schedule = schedules.find((s) => s.name === target.schedule);
        if (!schedule) {
          problems.push(`step ${index + 1} names schedule "${target.schedule}", which does not exist`);
          continue;
        }
        const window = windowOf(params, params.timezone ?? schedule.timeZone, now);
        const { people, gaps } = await coverage(context, schedule, window);
        for (const user of people) named.add(user);
        for (const user of onCallAt(
          schedule,
          window[0],
          await storedOverrides(context, schedule.name, ...window),
        ).users)
          reached.add(user);
        for (const gap of gaps)
          problems.push(
            `step ${index + 1}: schedule "${schedule.name}" has nobody on call ${span(schedule.timeZone, gap)}`,
          );
      }
    }
  }
  if (context.store) {
    const users = new Map((await context.store.security.listUsers()).map((u) => [u.name, u]));
    for (const name of [...named].sort()) {
      const user = users.get(name);
      if (!user) problems.push(`user "${name}" is not a user of this installation`);
      else if (user.disabledAt !== null) problems.push(`user "${name}" is disabled`);
    }
  }
  const data = { policy: policy.name, steps: policy.steps.length, users: [...named].sort(), problems };
  if (problems.length > 0)
    return { ok: false, summary: `escalation policy "${policy.name}": ${problems.join('; ')}`, data };
  return {
    ok: true,
    summary: `escalation policy "${policy.name}": ${policy.steps.length} step${policy.steps.length === 1 ? '' : 's'}, every target reachable; now it reaches ${[...reached].join(', ') || 'channels only'}${context.store ? '' : ' (user names not checked: no store here)'}`,
    data,
  };
}

/** `oncall`: a schedule covers the window (primary; secondary, with a notice), or an escalation policy is sound. */
export const oncallCheck: CheckKind<OnCallParams> = {
  kind: 'oncall',
  params: oncallParams,
  async run(params, context) {
    return params.check === 'escalation' ? escalationCheck(params, context) : scheduleCheck(params, context);
  },
};
