/**
 * Which items of a unit's resolved checklist run on a schedule: the template's `schedule:` lines with
 * the service's `maintenance.schedules` overrides applied, and the config problems of those overrides.
 */
import type { ResolvedItem } from '../checklist/template-types.js';
import { closest } from '../config/yaml-positions.js';
import type { MaintenanceConfig } from '../config/maintenance-schema.js';
import { SCHEDULE_OFF } from './cron.js';

/** A scheduled item of one unit: what runs it, and when. */
export interface ScheduledItem {
  id: string;
  section: string;
  title: string;
  kind: string;
  params: Record<string, unknown>;
  /** False for a sign-off: a manual item, or one whose inputs are not configured; it never runs by itself. */
  automated: boolean;
  hint: string | undefined;
  /** The cron expression it runs on; undefined when an override turned it off. */
  schedule: string | undefined;
  timezone: string;
  /** Where the schedule comes from. */
  source: 'template' | 'override';
}

/**
 * The unit's scheduled items, in checklist order: every item with a `schedule:` in the template or
 * in `maintenance.schedules` (an override of "off" keeps the item listed, with no schedule).
 */
export function scheduledItems(
  items: readonly ResolvedItem[],
  maintenance: MaintenanceConfig,
): ScheduledItem[] {
  const scheduled: ScheduledItem[] = [];
  for (const item of items) {
    const override = maintenance.schedules[item.id];
    if (override === undefined && item.schedule === undefined) continue;
    scheduled.push({
      id: item.id,
      section: item.section,
      title: item.title,
      kind: item.kind,
      params: item.params,
      automated: item.automated,
      hint: item.hint,
      schedule: override === SCHEDULE_OFF ? undefined : (override ?? item.schedule),
      // An override's zone is the service's; the template's own zone goes with the template's schedule.
      timezone: (override === undefined ? item.timezone : undefined) ?? maintenance.timezone,
      source: override === undefined ? 'template' : 'override',
    });
  }
  return scheduled;
}

/** A `maintenance.schedules` key that names no item of the checklist, as `file:line:col: message`. */
export function scheduleOverrideProblems(
  maintenance: MaintenanceConfig,
  items: readonly { id: string }[],
  locate: (key: string) => string,
): string[] {
  const ids = items.map((item) => item.id);
  return Object.keys(maintenance.schedules)
    .filter((key) => !ids.includes(key))
    .map((key) => {
      const suggestion = closest(key, ids);
      const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
      return `${locate(key)}: maintenance.schedules: no checklist item "${key}"${hint}`;
    });
}
