/**
 * On-call schedules and escalation policies of the installation. The schedules parse to the
 * resolver's words (src/comms/oncall/types.ts), the policies to `EscalationPolicy`; overlapping
 * layers, restrictions that cover nothing, unknown zones and dangling names are explained here.
 */
import { z } from 'zod';
import { firstOverlap, describeStretch, parseClock, parseWeekday } from '../comms/oncall/windows.js';
import type { Handoff, Layer, Schedule, TimeWindow, Turn } from '../comms/oncall/types.js';
import { WEEKDAYS } from '../comms/oncall/types.js';
import { isTimeZone, parseInstant, parseWall } from '../util/zoned-time.js';
import type { EscalationPolicy, EscalationTarget } from '../comms/types.js';
import { duration } from './schema-values.js';

const CLOCK_HINT = 'expected a time of day such as 09:00';
const name = z.string().min(1);

const clock = z
  .string({ error: CLOCK_HINT })
  .refine((text) => parseClock(text) !== undefined, CLOCK_HINT)
  .transform((text) => parseClock(text) ?? 0)
  .describe('A local time of day, 00:00 to 24:00.');

const weekday = z
  .string()
  .refine((text) => parseWeekday(text) !== undefined, `expected a day of the week: ${WEEKDAYS.join(', ')}`)
  .transform((text) => parseWeekday(text) ?? 0);

const window = z
  .strictObject({
    days: z
      .array(weekday)
      .min(1, 'name at least one day, or leave days out for every day')
      .optional()
      .describe('Days of the week (mon, tue, ...) the window starts on; every day when left out.'),
    from: clock.optional().describe('Start of the window, local time; 00:00 when left out.'),
    to: clock
      .optional()
      .describe(
        'End of the window, local time; earlier than `from` runs past midnight; 24:00 when left out.',
      ),
  })
  .superRefine((w, ctx) => {
    const from = w.from ?? 0;
    const to = w.to ?? 1440;
    if (from === to || (from === 1440 && to === 0))
      ctx.addIssue({
        code: 'custom',
        message:
          'from and to are the same time, so the window covers no time; leave both out for the whole day',
      });
  })
  .transform((w): TimeWindow => ({
    days: w.days ?? [0, 1, 2, 3, 4, 5, 6],
    from: w.from ?? 0,
    to: w.to ?? 1440,
  }));

const TURN_HINT = 'expected hourly, daily, weekly or a duration such as 12h, 3d or 2w';
const turn = z
  .string({ error: TURN_HINT })
  .refine((text) => parseTurn(text) !== undefined, TURN_HINT)
  .transform((text) => parseTurn(text)!)
  .describe('How long each turn is: hourly, daily, weekly, or a duration such as 12h, 3d or 2w.');

function parseTurn(text: string): Turn | undefined {
  if (text === 'hourly') return { kind: 'elapsed', ms: 3_600_000 };
  if (text === 'daily') return { kind: 'days', days: 1 };
  if (text === 'weekly') return { kind: 'days', days: 7 };
  const match = /^(\d+)(m|h|d|w)$/.exec(text);
  const amount = Number(match?.[1]);
  if (!match || amount <= 0) return undefined;
  if (match[2] === 'd') return { kind: 'days', days: amount };
  if (match[2] === 'w') return { kind: 'days', days: amount * 7 };
  const ms = amount * (match[2] === 'h' ? 3_600_000 : 60_000);
  return ms >= 60_000 * 15 ? { kind: 'elapsed', ms } : undefined;
}

const HANDOFF_HINT = 'expected a local time such as 09:00, or a weekday and a time such as mon 09:00';
const handoff = z
  .string({ error: HANDOFF_HINT })
  .refine((text) => parseHandoff(text) !== undefined, HANDOFF_HINT)
  .transform((text) => parseHandoff(text)!)
  .describe(
    "When turns change hands: 09:00, or mon 09:00 for weekly turns. The start's time of day when left out.",
  );

function parseHandoff(text: string): Handoff | undefined {
  const [first, second] = text.trim().split(/\s+/);
  const minute = parseClock(second ?? first ?? '');
  if (minute === undefined || minute >= 1440) return undefined;
  if (second === undefined) return { weekday: null, minute };
  const day = parseWeekday(first ?? '');
  return day === undefined ? undefined : { weekday: day, minute };
}

const START_HINT = 'expected a local date and time such as 2026-01-05T09:00';
const layer = z
  .strictObject({
    name: name.describe('Names the layer in shifts and messages.'),
    users: z.array(name).min(1, 'a layer needs at least one user').describe('User names, in turn order.'),
    start: z
      .string({ error: `${START_HINT}; write it in quotes` })
      .refine((text) => parseWall(text) !== undefined, START_HINT)
      .describe("When the first user's turn starts, local time in the schedule's zone."),
    turn,
    handoff: handoff.optional(),
    restrict: z
      .union([window, z.array(window).min(1, 'list at least one window, or leave restrict out')])
      .optional()
      .describe(
        "The parts of the week this layer is on duty, in the schedule's zone; all of it when left out.",
      ),
  })
  .superRefine((l, ctx) => {
    if (!l.handoff) return;
    if (l.turn.kind === 'elapsed')
      ctx.addIssue({
        code: 'custom',
        path: ['handoff'],
        message:
          'a hand-off time is for daily, weekly and whole-day turns; an hourly turn hands over every turn from its start',
      });
    else if (l.handoff.weekday !== null && l.turn.days % 7 !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['handoff'],
        message: 'a hand-off weekday needs a turn of whole weeks; give a time of day only',
      });
  })
  .transform((l): Layer => ({
    name: l.name,
    users: l.users,
    start: parseWall(l.start) ?? 0,
    turn: l.turn,
    handoff: l.handoff ?? null,
    restrict: l.restrict === undefined ? null : Array.isArray(l.restrict) ? l.restrict : [l.restrict],
  }));

const INSTANT_HINT = "expected a time such as 2026-12-24T18:00 (the schedule's zone) or 2026-12-24T18:00:00Z";
const override = z.strictObject({
  user: name.describe('Who is on call instead of the layers.'),
  from: z
    .string({ error: INSTANT_HINT })
    .describe("Start: ISO time, local to the schedule's zone unless it has an offset."),
  to: z.string({ error: INSTANT_HINT }).describe('End, likewise.'),
  reason: z.string().optional(),
});

const schedule = z
  .strictObject({
    name: name.describe('Names the schedule in escalation steps, the API and the CLI.'),
    timeZone: z
      .string()
      .refine(isTimeZone, 'unknown time zone; use an IANA name such as Europe/Berlin or America/New_York')
      .describe('IANA time zone of the starts, hand-offs and restrictions, e.g. Europe/Berlin.'),
    layers: z
      .array(layer)
      .min(1, 'a schedule needs at least one layer')
      .describe('Rotations; layers must not overlap.'),
    overrides: z
      .array(override)
      .prefault([])
      .describe('Someone on call instead of the layers for a while; overrides always win.'),
  })
  .superRefine((s, ctx) => {
    const zoneOk = isTimeZone(s.timeZone);
    // A layer with problems of its own reaches here untransformed; its overlaps wait until it is right.
    const parsed = s.layers.every(
      (l) => typeof l.start === 'number' && (l.restrict === null || Array.isArray(l.restrict)),
    );
    const seen = new Map<string, number>();
    s.layers.forEach((l, j) => {
      const first = seen.get(l.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['layers', j],
          message: `layer "${l.name}" is also layers[${first}]; give each layer its own name`,
        });
      else seen.set(l.name, j);
      for (let i = 0; parsed && i < j; i++) {
        const other = s.layers[i]!;
        const overlap = firstOverlap(other.restrict, l.restrict);
        if (overlap)
          ctx.addIssue({
            code: 'custom',
            path: ['layers', j],
            message: `layers "${other.name}" and "${l.name}" are both on call on ${describeStretch(overlap)} (${s.timeZone}); give them restrictions that do not overlap, or use an override`,
          });
      }
    });
    s.overrides.forEach((o, k) => {
      const zone = zoneOk ? s.timeZone : 'UTC';
      const from = parseInstant(o.from, zone);
      const to = parseInstant(o.to, zone);
      if (from === undefined)
        ctx.addIssue({ code: 'custom', path: ['overrides', k, 'from'], message: INSTANT_HINT });
      if (to === undefined)
        ctx.addIssue({ code: 'custom', path: ['overrides', k, 'to'], message: INSTANT_HINT });
      if (from !== undefined && to !== undefined && to <= from)
        ctx.addIssue({
          code: 'custom',
          path: ['overrides', k, 'to'],
          message: 'the override ends before it starts',
        });
    });
  })
  .transform((s): Schedule => ({
    name: s.name,
    timeZone: s.timeZone,
    layers: s.layers,
    overrides: s.overrides.map((o) => ({
      user: o.user,
      from: parseInstant(o.from, s.timeZone) ?? 0,
      to: parseInstant(o.to, s.timeZone) ?? 0,
      reason: o.reason ?? null,
    })),
  }));

const target = z
  .union([
    z.strictObject({ user: name.describe('A user, reached by their contact methods.') }),
    z.strictObject({ schedule: name.describe('Whoever this schedule has on call.') }),
    z.strictObject({ channel: name.describe('A channel of `channels:`.') }),
  ])
  .describe('Who a step reaches: {user: NAME}, {schedule: NAME} or {channel: NAME}.');

const policy = z
  .strictObject({
    name: name.describe('Names the policy for incidents and the checklist.'),
    steps: z
      .array(
        z.strictObject({
          delay: duration
            .prefault('5m')
            .describe('How long to wait for an acknowledgement before the next step; 5m by default.'),
          targets: z
            .array(target)
            .min(1, 'a step needs at least one target: {user: ...}, {schedule: ...} or {channel: ...}'),
        }),
      )
      .min(1, 'a policy needs at least one step'),
    repeat: z
      .number()
      .int()
      .min(0)
      .prefault(0)
      .describe('How many times the policy runs again after its last step.'),
    ackTimeout: duration
      .prefault('30m')
      .describe('An acknowledged incident not resolved within this long escalates again; 30m by default.'),
  })
  .transform((p): EscalationPolicy => ({
    name: p.name,
    steps: p.steps.map((step) => ({ delayMs: step.delay, targets: step.targets as EscalationTarget[] })),
    repeat: p.repeat,
    ackTimeoutMs: p.ackTimeout,
  }));

/** Schedules (layers, rotations, overrides) and escalation policies. */
export const oncallSchema = z
  .strictObject({
    schedules: z
      .array(schedule)
      .prefault([])
      .describe('On-call schedules, each with layers in one time zone.'),
    escalationPolicies: z
      .array(policy)
      .prefault([])
      .describe('Escalation policies: ordered steps, each reaching users, schedules and channels.'),
  })
  .superRefine((o, ctx) => {
    duplicates(o.schedules, 'schedules', 'schedule', ctx);
    duplicates(o.escalationPolicies, 'escalationPolicies', 'policy', ctx);
    const names = new Set(o.schedules.map((s) => s.name));
    o.escalationPolicies.forEach((p, i) =>
      p.steps.forEach((step, j) =>
        step.targets.forEach((t, k) => {
          if ('schedule' in t && !names.has(t.schedule))
            ctx.addIssue({
              code: 'custom',
              path: ['escalationPolicies', i, 'steps', j, 'targets', k],
              message: `no schedule is named "${t.schedule}"; ${names.size > 0 ? `the schedules are ${[...names].map((n) => `"${n}"`).join(', ')}` : 'define it under oncall.schedules'}`,
            });
        }),
      ),
    );
  })
  .prefault({})
  .describe('On-call schedules and escalation policies of the whole installation.');

function duplicates(
  list: readonly { name: string }[],
  key: string,
  what: string,
  ctx: z.core.$RefinementCtx<unknown>,
): void {
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    const first = seen.get(item.name);
    if (first === undefined) seen.set(item.name, i);
    else
      ctx.addIssue({
        code: 'custom',
        path: [key, i],
        message: `${what} "${item.name}" is also ${key}[${first}]; give each ${what} its own name`,
      });
  });
}

export type OnCallConfig = z.output<typeof oncallSchema>;

/** A place in the config and what is wrong there, for checks that need more than the oncall key. */
export interface OnCallFinding {
  path: (string | number)[];
  message: string;
}

/** Escalation steps naming a channel that `channels:` does not define (path relative to the file's root). */
export function oncallChannelProblems(
  oncall: OnCallConfig,
  channels: readonly { name: string }[],
): OnCallFinding[] {
  const known = new Set(channels.map((c) => c.name));
  const findings: OnCallFinding[] = [];
  oncall.escalationPolicies.forEach((p, i) =>
    p.steps.forEach((step, j) =>
      step.targets.forEach((t, k) => {
        if ('channel' in t && !known.has(t.channel))
          findings.push({
            path: ['oncall', 'escalationPolicies', i, 'steps', j, 'targets', k, 'channel'],
            message: `oncall.escalationPolicies[${i}].steps[${j}].targets[${k}].channel: no channel is named "${t.channel}"; ${known.size > 0 ? `the channels are ${[...known].map((n) => `"${n}"`).join(', ')}` : 'define it under channels:'}`,
          });
      }),
    ),
  );
  return findings;
}
