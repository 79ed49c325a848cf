/** A layer's rotation and restriction windows, in instants: whose turn it is, and when the layer is on duty. */
import type { Handoff, Layer, TimeWindow } from './types.js';
import { fromWall, minuteOfDay, startOfDay, toWall, weekdayOf } from '../../util/zoned-time.js';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** One turn of a rotation (before restrictions): whose turn, from when until when. */
export interface Turnover {
  user: string;
  index: number;
  start: number;
  end: number;
}

/** Whether a wall time is one of the hand-off moments. */
function isHandoffMoment(wall: number, handoff: Handoff): boolean {
  return (
    minuteOfDay(wall) * MINUTE_MS === wall - startOfDay(wall) &&
    minuteOfDay(wall) === handoff.minute &&
    (handoff.weekday === null || weekdayOf(wall) === handoff.weekday)
  );
}

/** The first hand-off moment strictly after a wall time. */
function nextHandoff(wall: number, handoff: Handoff): number {
  let candidate = startOfDay(wall) + handoff.minute * MINUTE_MS;
  while (candidate <= wall || (handoff.weekday !== null && weekdayOf(candidate) !== handoff.weekday))
    candidate += DAY_MS;
  return candidate;
}

/**
 * Whose turn it is at `at` in a layer, and that turn's start and end; null before the layer starts.
 * Day-long turns count local days, so a daily turn across the spring-forward night is 23 hours long
 * and a 09:00 hand-off stays 09:00 local. When the hand-off time differs from the layer's start, the
 * first user's turn runs from the start to the first hand-off.
 */
export function turnAt(zone: string, layer: Layer, at: number): Turnover | null {
  const n = layer.users.length;
  if (n === 0) return null;
  const startAt = fromWall(zone, layer.start);
  if (at < startAt) return null;
  const turn = layer.turn;
  if (turn.kind === 'elapsed') {
    const k = Math.floor((at - startAt) / turn.ms);
    return {
      user: layer.users[k % n]!,
      index: k,
      start: startAt + k * turn.ms,
      end: startAt + (k + 1) * turn.ms,
    };
  }
  const period = turn.days * DAY_MS;
  let base = layer.start;
  let first = 0;
  if (layer.handoff && !isHandoffMoment(layer.start, layer.handoff)) {
    base = nextHandoff(layer.start, layer.handoff);
    first = 1;
  }
  const boundary = (k: number): number => fromWall(zone, base + k * period);
  if (first === 1 && at < fromWall(zone, base))
    return { user: layer.users[0]!, index: 0, start: startAt, end: fromWall(zone, base) };
  let k = Math.floor((toWall(zone, at) - base) / period);
  while (boundary(k + 1) <= at) k++;
  while (k > 0 && boundary(k) > at) k--;
  const index = k + first;
  return { user: layer.users[index % n]!, index, start: boundary(k), end: boundary(k + 1) };
}

/** A window's on-duty intervals as wall ms, for the days from `firstDay` (wall midnight) on, `count` days. */
function windowIntervals(windows: TimeWindow[], firstDay: number, count: number): [number, number][] {
  const intervals: [number, number][] = [];
  for (let d = 0; d < count; d++) {
    const day = firstDay + d * DAY_MS;
    const weekday = weekdayOf(day);
    for (const w of windows) {
      if (!w.days.includes(weekday)) continue;
      const end = w.to > w.from ? day + w.to * MINUTE_MS : day + DAY_MS + w.to * MINUTE_MS;
      intervals.push([day + w.from * MINUTE_MS, end]);
    }
  }
  intervals.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const interval of intervals) {
    const last = merged.at(-1);
    if (last && interval[0] <= last[1]) last[1] = Math.max(last[1], interval[1]);
    else merged.push([...interval]);
  }
  return merged;
}

/**
 * The instants a layer's restriction windows have it on duty between `from` and `to` (and a little
 * around them), merged and in order; null windows mean always. Windows are local wall times, so they
 * follow daylight-saving changes.
 */
export function dutyIntervals(
  zone: string,
  windows: TimeWindow[] | null,
  from: number,
  to: number,
): [number, number][] | null {
  if (windows === null) return null;
  const first = startOfDay(toWall(zone, from)) - DAY_MS;
  const days = Math.ceil((toWall(zone, to) - first) / DAY_MS) + 2;
  return windowIntervals(windows, first, days).map(([a, b]) => [fromWall(zone, a), fromWall(zone, b)]);
}

/**
 * Whether a layer with these duty intervals (from `dutyIntervals`, null for always) is on duty at
 * `at`, and until when that stays so; `limit` when it stays so past every interval.
 */
export function dutyIn(
  intervals: readonly [number, number][] | null,
  at: number,
  limit: number,
): { on: boolean; until: number } {
  if (intervals === null) return { on: true, until: limit };
  // Binary search for the first interval ending after `at`.
  let lo = 0;
  let hi = intervals.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (intervals[mid]![1] <= at) lo = mid + 1;
    else hi = mid;
  }
  const next = intervals[lo];
  if (!next) return { on: false, until: limit };
  if (next[0] <= at) return { on: true, until: Math.min(next[1], limit) };
  return { on: false, until: Math.min(next[0], limit) };
}
