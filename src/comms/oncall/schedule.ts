/** Who a schedule has on call: its shifts over a stretch of time, and the people on call at an instant. */
import { dutyIn, dutyIntervals, turnAt } from './rotation.js';
import { fromWall } from '../../util/zoned-time.js';
import type { OnCallNow, Schedule, ScheduleOverride, Shift } from './types.js';

const DAY_MS = 86_400_000;

interface Assignment {
  user: string;
  layer: string | null;
  overrideId: number | null;
  override: boolean;
}

/** Who is on call at `at` and until when that stays the same (at most `limit`). */
function stateAt(
  schedule: Schedule,
  duty: readonly ([number, number][] | null)[],
  overrides: ScheduleOverride[],
  at: number,
  limit: number,
): { assignments: Assignment[]; until: number } {
  let until = limit;
  for (const o of overrides) if (o.from > at) until = Math.min(until, o.from);
  const active = overrides.filter((o) => o.from <= at && at < o.to);
  if (active.length > 0) {
    for (const o of active) until = Math.min(until, o.to);
    const assignments = active.map((o) => ({
      user: o.user,
      layer: null,
      overrideId: o.id ?? null,
      override: true,
    }));
    return { assignments, until };
  }
  const assignments: Assignment[] = [];
  for (const [index, layer] of schedule.layers.entries()) {
    const turn = turnAt(schedule.timeZone, layer, at);
    if (!turn) {
      // Before the layer starts (or a layer with nobody): nothing from it until it starts.
      const starts = fromWall(schedule.timeZone, layer.start);
      if (layer.users.length > 0 && starts > at) until = Math.min(until, starts);
      continue;
    }
    const onDuty = dutyIn(duty[index] ?? null, at, limit);
    until = Math.min(until, turn.end, onDuty.until);
    if (onDuty.on)
      assignments.push({ user: turn.user, layer: layer.name, overrideId: null, override: false });
  }
  return { assignments, until };
}

function key(a: Assignment): string {
  return `${a.user}\u0000${a.layer ?? ''}\u0000${a.overrideId ?? ''}\u0000${a.override}`;
}

/**
 * The shifts of a schedule between `from` and `to` (epoch ms), in order of start: each layer's
 * turns cut to its restriction windows, with overrides (the schedule's own and `overrides`) in place
 * of the layers while they last. A turn that continues with the same person is one shift. Times
 * nobody is on call are simply not covered by any shift. Shifts are cut at `from` and `to`.
 */
export function shifts(
  schedule: Schedule,
  from: number,
  to: number,
  overrides: readonly ScheduleOverride[] = [],
): Shift[] {
  const all = [...schedule.overrides, ...overrides].filter((o) => o.to > o.from);
  // Each layer's restriction windows as instants, once for the whole stretch.
  const duty = schedule.layers.map((layer) => dutyIntervals(schedule.timeZone, layer.restrict, from, to));
  const done: Shift[] = [];
  let open = new Map<string, Shift>();
  let at = from;
  while (at < to) {
    const state = stateAt(schedule, duty, all, at, to);
    const until = Math.max(state.until, at + 1);
    const next = new Map<string, Shift>();
    for (const a of state.assignments) {
      const k = key(a);
      const running = open.get(k);
      if (running) {
        running.end = until;
        next.set(k, running);
        open.delete(k);
      } else next.set(k, { ...a, start: at, end: until });
    }
    done.push(...open.values());
    open = next;
    at = until;
  }
  done.push(...open.values());
  return done.sort((a, b) => a.start - b.start || a.user.localeCompare(b.user));
}

/** How far around an instant `onCallAt` looks for the shift's start and end. */
function reach(schedule: Schedule): number {
  let longest = 7 * DAY_MS;
  for (const layer of schedule.layers) {
    const turn = layer.turn.kind === 'elapsed' ? layer.turn.ms : layer.turn.days * DAY_MS;
    longest = Math.max(longest, turn);
  }
  return longest + 2 * DAY_MS;
}

/**
 * Who `schedule` has on call at `at`, with `overrides` (stored ones) on top of the schedule's own:
 * the users (empty for a gap, which is not an error), the shifts containing `at`, and since and until
 * when the same people are on call.
 */
export function onCallAt(
  schedule: Schedule,
  at: number,
  overrides: readonly ScheduleOverride[] = [],
): OnCallNow {
  const span = reach(schedule);
  const from = at - span;
  const to = at + span;
  const list = shifts(schedule, from, to, overrides);
  const current = list.filter((s) => s.start <= at && at < s.end);
  const users = [...new Set(current.map((s) => s.user))];
  // The same people stay on call from the last change before `at` until the next one after it.
  let start = from;
  let end = to;
  for (const s of list) {
    for (const edge of [s.start, s.end]) {
      if (edge <= at) start = Math.max(start, edge);
      else end = Math.min(end, edge);
    }
  }
  return {
    schedule: schedule.name,
    at,
    users,
    shifts: current,
    start: start === from ? null : start,
    end: end === to ? null : end,
  };
}
