/**
 * Cron schedules of scheduled checklist items (croner syntax: 5 fields, or 6 with seconds first) in
 * an IANA time zone: validation for templates and config, and the next slot after a time.
 */
import { Cron } from 'croner';

/** The zone a schedule runs in when neither the item nor `maintenance.timezone` names one. */
export const DEFAULT_TIMEZONE = 'UTC';
/** An override that turns an item's schedule off. */
export const SCHEDULE_OFF = 'off';

/** Why `zone` is not an IANA time zone this runtime knows, or undefined when it is one. */
export function timezoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return undefined;
  } catch {
    return `unknown time zone "${zone}"; expected an IANA name such as UTC or Europe/Berlin`;
  }
}

/** Why `pattern` is not a 5- or 6-field cron expression, or undefined when it is one. */
export function cronProblem(pattern: string): string | undefined {
  const fields = pattern.trim().split(/\s+/).length;
  if (!pattern.trim().startsWith('@') && (fields < 5 || fields > 6)) {
    return `"${pattern}" has ${fields} field${fields === 1 ? '' : 's'}; a schedule is a cron expression of 5 fields (minute hour day month weekday), or 6 with seconds first`;
  }
  try {
    new Cron(pattern, { paused: true });
    return undefined;
  } catch (err) {
    return `"${pattern}" is not a cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** The first slot of `pattern` in `timezone` strictly after `after` (epoch ms), or undefined when none comes. */
export function nextSlot(pattern: string, timezone: string, after: number): number | undefined {
  const next = new Cron(pattern, { paused: true, timezone }).nextRun(new Date(after));
  return next ? next.getTime() : undefined;
}
