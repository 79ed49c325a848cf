/** Restriction windows over one week: what they cover, and where two layers' windows overlap. */
import { WEEKDAYS, type TimeWindow } from './types.js';

const WEEK_MINUTES = 7 * 1440;
const DAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Minutes of the week (Monday 00:00 is 0) a set of windows covers, merged and sorted; null windows cover the whole week. */
export function weekIntervals(windows: TimeWindow[] | null): [number, number][] {
  if (windows === null) return [[0, WEEK_MINUTES]];
  const raw: [number, number][] = [];
  for (const w of windows) {
    const length = w.to > w.from ? w.to - w.from : 1440 - w.from + w.to;
    for (const day of w.days) {
      const start = day * 1440 + w.from;
      const end = start + length;
      if (end <= WEEK_MINUTES) raw.push([start, end]);
      else raw.push([start, WEEK_MINUTES], [0, end - WEEK_MINUTES]);
    }
  }
  raw.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const interval of raw) {
    const last = merged.at(-1);
    if (last && interval[0] <= last[1]) last[1] = Math.max(last[1], interval[1]);
    else if (interval[1] > interval[0]) merged.push([...interval]);
  }
  return merged;
}

/** The first stretch of the week both sets of windows cover, or null when they never overlap. */
export function firstOverlap(a: TimeWindow[] | null, b: TimeWindow[] | null): [number, number] | null {
  const left = weekIntervals(a);
  const right = weekIntervals(b);
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const [aFrom, aTo] = left[i]!;
    const [bFrom, bTo] = right[j]!;
    const from = Math.max(aFrom, bFrom);
    const to = Math.min(aTo, bTo);
    if (from < to) return [from, to];
    if (aTo < bTo) i++;
    else j++;
  }
  return null;
}

function clock(minuteOfWeek: number): string {
  const m = minuteOfWeek % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** A stretch of the week in words: `Monday 09:00-17:00`, or `Friday 22:00 to Saturday 06:00`. */
export function describeStretch([from, to]: [number, number]): string {
  const fromDay = Math.floor(from / 1440);
  const toDay = Math.floor((to - 1) / 1440);
  if (to - from === 1440 && from % 1440 === 0) return `all of ${DAY_NAMES[fromDay]}`;
  if (fromDay === toDay)
    return `${DAY_NAMES[fromDay]} ${clock(from)}-${to % 1440 === 0 ? '24:00' : clock(to)}`;
  return `${DAY_NAMES[fromDay]} ${clock(from)} to ${DAY_NAMES[Math.floor(to / 1440) % 7]} ${clock(to)}`;
}

/** `09:00` (or `24:00`) as minutes since midnight; undefined when malformed. */
export function parseClock(text: string): number | undefined {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!match) return undefined;
  const minutes = Number(match[1]) * 60 + Number(match[2]);
  if (Number(match[2]) > 59 || minutes > 1440) return undefined;
  return minutes;
}

/** A weekday name (`mon`, `monday`) as 0 (Monday) to 6; undefined when unknown. */
export function parseWeekday(text: string): number | undefined {
  const index = WEEKDAYS.indexOf(text.toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]);
  return index < 0 || !DAY_NAMES[index]!.toLowerCase().startsWith(text.toLowerCase()) ? undefined : index;
}
