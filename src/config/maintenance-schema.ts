/** A service's maintenance settings: what the scheduled checks between releases hold it to. */
import { z } from 'zod';
import { SCHEDULE_OFF, cronProblem, timezoneProblem } from '../maintenance/cron.js';

const timezone = z
  .string()
  .superRefine((zone, ctx) => {
    const problem = timezoneProblem(zone);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('An IANA time zone, e.g. UTC or Europe/Berlin.');

const schedule = z
  .string()
  .superRefine((pattern, ctx) => {
    if (pattern === SCHEDULE_OFF) return;
    const problem = cronProblem(pattern);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('A cron expression (5 fields, or 6 with seconds first), or "off" to stop running the item.');

const name = z.string().min(1);

/** Who hears of a failing scheduled item: the destination shape escalation steps use. */
const notifyTarget = z
  .union([
    z.strictObject({ user: name.describe('A user, reached by their contact methods.') }),
    z.strictObject({ schedule: name.describe('Whoever this on-call schedule has on call.') }),
    z.strictObject({ channel: name.describe('A channel of `channels:`.') }),
  ])
  .describe('Who hears of a failing scheduled item: {user: NAME}, {schedule: NAME} or {channel: NAME}.');

/** The `maintenance` block of a service (or environment). */
export const maintenanceSchema = z
  .strictObject({
    certMinDays: z
      .number()
      .int()
      .min(0)
      .prefault(21)
      .describe(
        'Certificate renewal fails once an HTTPS endpoint’s certificate expires in fewer days than this.',
      ),
    timezone: timezone
      .prefault('UTC')
      .describe(
        'The time zone of the scheduled items’ cron schedules, unless an item names its own; UTC by default.',
      ),
    schedules: z
      .record(z.string(), schedule)
      .prefault({})
      .describe(
        'Schedules by checklist item id, replacing the template’s: a cron expression, or "off" to stop running the item.',
      ),
    notify: z
      .array(notifyTarget)
      .prefault([])
      .describe(
        'Who hears when a scheduled item turns failed, and when it recovers; empty: the catalog’s owner and contacts.',
      ),
  })
  .prefault({})
  .describe('Settings of the scheduled checks that run between releases.');

export type MaintenanceConfig = z.output<typeof maintenanceSchema>;
export type MaintenanceNotifyTarget = z.output<typeof notifyTarget>;
