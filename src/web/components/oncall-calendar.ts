/**
 * Shifts laid out as a calendar in a schedule's time zone: weeks of seven local days (Monday
 * first), each day listing the parts of the shifts that fall on it.
 */
import type { OnCallShift } from '../api/types.js';

/** A shift's part on one local day: `from` and `to` as `HH:MM` (`24:00` for a part that runs to midnight). */
export interface DayPart {
  user: string;
  from: string;
  to: string;
  override: boolean;
  layer: string | null;
}

/** One local day of the calendar. */
export interface CalendarDay {
  /** `2026-12-07`. */
  date: string;
  /** False for the days of the first and last week outside the range read. */
  inRange: boolean;
  parts: DayPart[];
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** An instant's local date (`2026-12-07`) and time (`09:00`) in `zone`. */
export function localParts(zone: string, ms: number): { date: string; time: string } {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(zone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/** The date `days` after a `YYYY-MM-DD` date. */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y!, m! - 1, d! + days)).toISOString().slice(0, 10);
}

/** 0 for Monday through 6 for Sunday. */
function weekday(date: string): number {
  const [y, m, d] = date.split('-').map(Number);
  return (new Date(Date.UTC(y!, m! - 1, d!)).getUTCDay() + 6) % 7;
}

/** Weeks (Monday first) covering `from` to `to` in `zone`, each day with the parts of the shifts on it. */
export function calendarWeeks(
  zone: string,
  from: number,
  to: number,
  shifts: readonly OnCallShift[],
): CalendarDay[][] {
  const first = localParts(zone, from).date;
  const last = localParts(zone, to - 1).date;
  const days = new Map<string, CalendarDay>();
  const weeks: CalendarDay[][] = [];
  let date = addDays(first, -weekday(first));
  while (date <= last || weeks.at(-1)?.length !== 7) {
    if (weeks.length === 0 || weeks.at(-1)!.length === 7) weeks.push([]);
    const day = { date, inRange: date >= first && date <= last, parts: [] };
    weeks.at(-1)!.push(day);
    days.set(date, day);
    date = addDays(date, 1);
  }
  for (const shift of shifts) {
    const start = localParts(zone, shift.start);
    const end = localParts(zone, shift.end);
    // A shift ending at midnight ends on the day before.
    const lastDay = end.time === '00:00' ? addDays(end.date, -1) : end.date;
    for (let d = start.date; d <= lastDay; d = addDays(d, 1)) {
      days.get(d)?.parts.push({
        user: shift.user,
        from: d === start.date ? start.time : '00:00',
        to: d === end.date ? end.time : '24:00',
        override: shift.override,
        layer: shift.layer,
      });
    }
  }
  return weeks;
}
