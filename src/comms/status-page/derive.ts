/**
 * The status page's arithmetic, as pure functions: a component's status from its units' health and
 * releases, a hand override over it, the page's overall indicator, and the 90-day uptime bar from the
 * recorded transitions. Nothing here reads a clock or a store; callers pass the time.
 */
import { COMPONENT_STATUSES } from '../../config/status-page-schema.js';
import { fromWall, offsetAt } from '../../util/zoned-time.js';

/** A component's status, in Statuspage's words. */
export type ComponentStatus = (typeof COMPONENT_STATUSES)[number];

/** An incident's impact, in Statuspage's words. */
export type Impact = 'none' | 'minor' | 'major' | 'critical';

/** The page's overall indicator (Statuspage's `status.indicator`). */
export type Indicator = 'none' | 'minor' | 'major' | 'critical';

/** What the derivation reads of one unit (a service, or a service in one environment). */
export interface UnitHealth {
  unit: string;
  /** The states of the stable version's instances (`ready`, `unhealthy`, `exited`, `starting`, `stopping`); empty when unknown. */
  stable: readonly string[];
  /** The states of the canary's instances while a release runs. */
  canary: readonly string[];
  /** The active release's phase and state; null when none is in flight. */
  release: { phase: string; state: string } | null;
  /** A rollback rule of the active release is failing (or its canary is unhealthy). */
  failingTrigger?: boolean;
  /**
   * false on a replica that does not drive the unit: it sees none of its instances, so their absence
   * says nothing. Known when omitted.
   */
  known?: boolean;
}

/** Instance states that count as down. */
const DOWN = new Set(['unhealthy', 'exited']);

/** How bad a status is: the higher, the worse. Maintenance is planned, so it ranks just above operational. */
export function statusRank(status: ComponentStatus): number {
  return COMPONENT_STATUSES.indexOf(status);
}

/** The worse of the statuses; operational for none. */
export function worstStatus(statuses: Iterable<ComponentStatus>): ComponentStatus {
  let worst: ComponentStatus = 'operational';
  for (const status of statuses) if (statusRank(status) > statusRank(worst)) worst = status;
  return worst;
}

/**
 * One unit's status: every stable instance down (none ready) is a major outage; some down is a
 * partial outage; a release rolling back, or a failing trigger, is degraded performance; otherwise
 * operational. Instances starting or stopping count neither way; no instances known says nothing.
 */
export function unitStatus(unit: UnitHealth): ComponentStatus {
  const down = unit.stable.filter((state) => DOWN.has(state)).length;
  const ready = unit.stable.filter((state) => state === 'ready').length;
  if (down > 0 && ready === 0) return 'major_outage';
  if (down > 0) return 'partial_outage';
  if (unit.release) {
    if (unit.release.phase === 'rolling-back') return 'degraded_performance';
    if (unit.failingTrigger === true || unit.canary.some((state) => DOWN.has(state)))
      return 'degraded_performance';
  }
  return 'operational';
}

/**
 * A component's derived status: under maintenance while a maintenance covers it, else the worst of
 * the units this replica knows. When it knows none of them (another replica drives them all), the
 * status last recorded (by the replica that does) stands, a recorded maintenance aside.
 */
export function derivedStatus(
  units: readonly UnitHealth[],
  inMaintenance: boolean,
  lastRecorded?: ComponentStatus,
): ComponentStatus {
  if (inMaintenance) return 'under_maintenance';
  const known = units.filter((u) => u.known !== false);
  if (units.length > 0 && known.length === 0)
    return lastRecorded === undefined || lastRecorded === 'under_maintenance' ? 'operational' : lastRecorded;
  return worstStatus(known.map(unitStatus));
}

/** Whether this replica knows any of a component's units (and so may record its status). */
export function knowsAny(units: readonly UnitHealth[]): boolean {
  return units.length === 0 || units.some((u) => u.known !== false);
}

/** A status set by hand; it holds until `until` (epoch ms), or until cleared when null. */
export interface Override {
  status: ComponentStatus;
  until: number | null;
}

/** Whether `override` holds at `now`. */
export function overrideHolds(override: Override | undefined, now: number): override is Override {
  return override !== undefined && (override.until === null || override.until > now);
}

/** The status shown: the override while it holds, else the derived status. */
export function effectiveStatus(
  derived: ComponentStatus,
  override: Override | undefined,
  now: number,
): ComponentStatus {
  return overrideHolds(override, now) ? override.status : derived;
}

/** Whether `unitName` (`web` or `web@production`) is one the reference (`web` or `web@production`) names. */
export function unitMatches(reference: string, unitName: string): boolean {
  return reference === unitName || (!reference.includes('@') && unitName.startsWith(`${reference}@`));
}

const IMPACT_RANK: Record<Impact, number> = { none: 0, minor: 1, major: 2, critical: 3 };
const INDICATOR_OF_STATUS: Record<ComponentStatus, Indicator> = {
  operational: 'none',
  under_maintenance: 'none',
  degraded_performance: 'minor',
  partial_outage: 'major',
  major_outage: 'critical',
};

/**
 * The page's rollup, in Statuspage's words: the worst of the components' statuses and of the
 * unresolved incidents' impacts.
 */
export function pageStatus(
  statuses: readonly ComponentStatus[],
  unresolvedImpacts: readonly Impact[],
): { indicator: Indicator; description: string } {
  let indicator: Indicator = 'none';
  for (const status of statuses) {
    const candidate = INDICATOR_OF_STATUS[status];
    if (IMPACT_RANK[candidate] > IMPACT_RANK[indicator]) indicator = candidate;
  }
  for (const impact of unresolvedImpacts)
    if (IMPACT_RANK[impact] > IMPACT_RANK[indicator]) indicator = impact;
  const worst = worstStatus(statuses);
  switch (indicator) {
    case 'none':
      return {
        indicator,
        description: worst === 'under_maintenance' ? 'Service Under Maintenance' : 'All Systems Operational',
      };
    case 'minor':
      return {
        indicator,
        description: worst === 'degraded_performance' ? 'Partially Degraded Service' : 'Minor Service Outage',
      };
    case 'major':
      return { indicator, description: 'Partial System Outage' };
    case 'critical':
      return { indicator, description: 'Major Service Outage' };
  }
}

/** One recorded status of a component, from `from` until the next one's `from`. */
export interface Transition {
  status: ComponentStatus;
  from: number;
}

/** One day of the uptime bar. */
export interface UptimeDay {
  /** The day in the page's time zone, YYYY-MM-DD. */
  date: string;
  /** Its first instant (epoch ms). */
  start: number;
  /** The worst status of the day; null when the component did not exist yet ("no data"). */
  worst: ComponentStatus | null;
  /**
   * The share (0 to 1) of the day's known time the component was up: operational or under
   * maintenance (planned work is not downtime); null with no data. Today counts up to now.
   */
  uptime: number | null;
}

const DAY_MS = 86_400_000;

/** The offset of `timeZone` from UTC at `at`, in ms (positive east of Greenwich). */
export function zoneOffset(at: number, timeZone: string): number {
  return offsetAt(timeZone, at);
}

/** The YYYY-MM-DD of `at` in `timeZone`. */
export function dayOf(at: number, timeZone: string): string {
  return new Date(at + zoneOffset(at, timeZone)).toISOString().slice(0, 10);
}

/** The first instant of the day `date` (YYYY-MM-DD) in `timeZone` (later than midnight when a DST gap skips it). */
export function startOfDay(date: string, timeZone: string): number {
  return fromWall(timeZone, Date.parse(`${date}T00:00:00Z`));
}

/** The date (YYYY-MM-DD) `days` after `date` (negative: before). */
function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The uptime bar: `days` days ending today (in `timeZone`), oldest first. `transitions` are one
 * component's, in any order; the first is when the component began to exist.
 */
export function uptimeBar(
  transitions: readonly Transition[],
  now: number,
  timeZone: string,
  days = 90,
): UptimeDay[] {
  const sorted = [...transitions].sort((a, b) => a.from - b.from);
  const today = dayOf(now, timeZone);
  const bar: UptimeDay[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const date = addDays(today, -i);
    const start = startOfDay(date, timeZone);
    const end = Math.min(startOfDay(addDays(date, 1), timeZone), now);
    bar.push({ date, start, ...dayFigures(sorted, start, end) });
  }
  return bar;
}

/** The worst status and uptime share over [start, end) of sorted transitions. */
function dayFigures(
  sorted: readonly Transition[],
  start: number,
  end: number,
): { worst: ComponentStatus | null; uptime: number | null } {
  const first = sorted[0];
  if (!first || first.from >= end) return { worst: null, uptime: null };
  let worst: ComponentStatus | null = null;
  let known = 0;
  let up = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i] as Transition;
    const next = sorted[i + 1];
    const from = Math.max(t.from, start);
    const until = Math.min(next ? next.from : end, end);
    if (until <= from) continue;
    known += until - from;
    if (t.status === 'operational' || t.status === 'under_maintenance') up += until - from;
    if (worst === null || statusRank(t.status) > statusRank(worst)) worst = t.status;
  }
  if (known === 0 || worst === null) return { worst: null, uptime: null };
  return { worst, uptime: up / known };
}

/** `at` as ISO 8601 with the offset of `timeZone`, e.g. 2026-05-14T14:22:39.441-06:00. */
export function isoWithOffset(at: number, timeZone: string): string {
  const offset = zoneOffset(at, timeZone);
  const local = new Date(at + offset).toISOString().slice(0, 23);
  const sign = offset < 0 ? '-' : '+';
  const minutes = Math.abs(offset) / 60_000;
  const hh = String(Math.floor(minutes / 60)).padStart(2, '0');
  const mm = String(minutes % 60).padStart(2, '0');
  return `${local}${sign}${hh}:${mm}`;
}

/** A status as a person reads it: `in_progress` -> `In progress`. */
export function statusWords(status: string): string {
  const words = status.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
