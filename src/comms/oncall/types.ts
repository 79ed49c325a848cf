/**
 * The words of on-call: schedules made of layers (rotations, optionally restricted to times of the
 * week), overrides, and the shifts they produce. Times of day and starts are wall times in the
 * schedule's zone; instants are epoch milliseconds.
 */

/** Days of the week as config writes them, Monday first (index 0). */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** A day of the week as written in config. */
export type WeekdayName = (typeof WEEKDAYS)[number];

/** Part of the week a layer is on duty: on each of `days`, from `from` to `to` (minutes since local midnight); `to <= from` runs past midnight into the next day. */
export interface TimeWindow {
  /** 0 (Monday) to 6 (Sunday). */
  days: number[];
  from: number;
  /** Up to 1440 (24:00). */
  to: number;
}

/** How long each person's turn is: fixed elapsed time (hourly, `12h`), or whole local days (daily, weekly, `3d`). */
export type Turn = { kind: 'elapsed'; ms: number } | { kind: 'days'; days: number };

/** When turns change hands, for day-long turns: a local time of day, and for weekly turns optionally a weekday. */
export interface Handoff {
  /** 0 (Monday) to 6 (Sunday), or null for every day. */
  weekday: number | null;
  /** Minutes since local midnight. */
  minute: number;
}

/** One rotation of a schedule. */
export interface Layer {
  name: string;
  /** In turn order. */
  users: string[];
  /** Wall ms (local date and time in the schedule's zone) when the first user's turn starts; nobody from this layer is on call before. */
  start: number;
  turn: Turn;
  handoff: Handoff | null;
  /** The parts of the week this layer is on duty; null for all of it. */
  restrict: TimeWindow[] | null;
}

/** Someone on call instead of the layers, from `from` until `to`. */
export interface ScheduleOverride {
  user: string;
  from: number;
  to: number;
  /** The stored override's id; absent for an override written in config. */
  id?: number;
  reason?: string | null;
}

/** An on-call schedule: ordered layers in one time zone, plus overrides, which always win. */
export interface Schedule {
  name: string;
  /** IANA zone, e.g. `Europe/Berlin`. */
  timeZone: string;
  layers: Layer[];
  overrides: ScheduleOverride[];
}

/** One person on call from `start` until `end`, by a layer's rotation or by an override. */
export interface Shift {
  user: string;
  start: number;
  end: number;
  /** The layer's name, or null for an override. */
  layer: string | null;
  /** The stored override's id for a stored override, null otherwise. */
  overrideId: number | null;
  /** True when an override (from config or stored) put this user on call. */
  override: boolean;
}

/** Who a schedule has on call at an instant. */
export interface OnCallNow {
  schedule: string;
  at: number;
  /** The users on call, empty for a gap (which is not an error). */
  users: string[];
  /** The shifts that contain `at`. */
  shifts: Shift[];
  /** Since when and until when the same people are on call (for a gap: since and until when nobody is); null when beyond the computed range. */
  start: number | null;
  end: number | null;
}
