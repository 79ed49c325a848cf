/**
 * Wall-clock time in an IANA time zone, with Intl only: the local date and time of an instant, and
 * the instant of a local date and time. A wall time is kept as "wall ms": the epoch milliseconds the
 * same date and time would have in UTC, so adding whole days to it is plain arithmetic.
 */

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let found = formatters.get(zone);
  if (!found) {
    found = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, found);
  }
  return found;
}

/** Whether Intl knows the zone, e.g. `Europe/Berlin` (and `UTC`). */
export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The wall ms of an instant in a zone (its local date and time, read as if it were UTC). */
export function toWall(zone: string, epochMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(epochMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const { year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  const whole = Date.UTC(year, month - 1, day, hour, minute, second);
  // Intl drops milliseconds; keep them.
  return whole + (((epochMs % 1000) + 1000) % 1000);
}

/** The zone's offset from UTC at an instant, in ms (Berlin in summer: +7,200,000). */
export function offsetAt(zone: string, epochMs: number): number {
  return toWall(zone, epochMs) - epochMs;
}

/**
 * The instant of a local date and time in a zone. A time that happens twice (the autumn hour)
 * is its first occurrence; a time that never happens (the spring gap) moves forward by the gap,
 * so 02:30 on Berlin's spring-forward night is 03:30 CEST. Both as Temporal's 'compatible'.
 */
export function fromWall(zone: string, wallMs: number): number {
  const before = offsetAt(zone, wallMs - DAY_MS);
  const after = offsetAt(zone, wallMs + DAY_MS);
  const candidates = [wallMs - before, wallMs - after].filter((t) => toWall(zone, t) === wallMs);
  if (candidates.length > 0) return Math.min(...candidates);
  return wallMs - before;
}

/** A wall time's day of the week, 0 for Monday through 6 for Sunday. */
export function weekdayOf(wallMs: number): number {
  return (new Date(wallMs).getUTCDay() + 6) % 7;
}

/** The wall ms of midnight starting the wall time's day. */
export function startOfDay(wallMs: number): number {
  return Math.floor(wallMs / DAY_MS) * DAY_MS;
}

/** Minutes since local midnight of a wall time. */
export function minuteOfDay(wallMs: number): number {
  return Math.floor((wallMs - startOfDay(wallMs)) / 60_000);
}

/** Parses a local date and time `2026-03-29T09:00` (seconds optional) to wall ms; undefined if malformed. */
export function parseWall(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text);
  if (!match) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1).map((part) => Number(part ?? 0)) as number[];
  const wall = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  const back = new Date(wall);
  if (back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d! || h! > 23 || mi! > 59 || s! > 59)
    return undefined;
  return wall;
}

/**
 * Parses an instant: ISO with an offset or Z (`2026-03-29T09:00:00+02:00`), or a local date and time
 * without one, read in `zone`. Undefined if malformed.
 */
export function parseInstant(text: string, zone: string): number | undefined {
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  if (zoned) {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? undefined : ms;
  }
  const wall = parseWall(text);
  return wall === undefined ? undefined : fromWall(zone, wall);
}

/** An instant as local ISO with its offset, e.g. `2026-03-29T03:00:00+02:00`. */
export function formatInZone(zone: string, epochMs: number): string {
  const wall = toWall(zone, epochMs);
  const offset = Math.round((wall - epochMs) / 60_000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${new Date(wall - (wall % 1000)).toISOString().slice(0, 19)}${sign}${hh}:${mm}`;
}
