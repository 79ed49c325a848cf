import { z } from 'zod';
import { duration } from '../../config/schema.js';
import type { WindowStats } from '../../providers/metrics/types.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind } from '../types.js';
import { versionFor } from './metrics.js';

/** Weekdays as a person lists them; each is Intl's short English weekday name in lower case. */
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
type Weekday = (typeof WEEKDAYS)[number];
const DAYS_PER_WEEK = WEEKDAYS.length;
const MINUTES_PER_HOUR = 60;
const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const RPS_DECIMALS = 2;
/** Intl's hour formatting with h23 runs 00-23 instead of 24 at midnight. */
const HOUR_CYCLE = 'h23';

const clockTime = z.string().regex(HH_MM, 'expected a time of day as HH:MM, e.g. 22:00');

const timezone = z
  .string()
  .min(1)
  .refine((name) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: name });
      return true;
    } catch {
      return false;
    }
  }, 'expected an IANA time zone such as UTC or Europe/Berlin');

const deployWindowParams = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1, 'list at least one day, or omit days for every day')
      .optional()
      .describe(
        'Days a deployment may start (mon..sun); a window past midnight belongs to the day it opens.',
      ),
    from: clockTime.optional().describe('Start of the daily window, HH:MM in `timezone` (inclusive).'),
    to: clockTime
      .optional()
      .describe(
        'End of the daily window, HH:MM in `timezone` (exclusive); earlier than `from` wraps midnight.',
      ),
    timezone: timezone.prefault('UTC').describe('IANA time zone the days and times are in.'),
    maxRps: z
      .number()
      .positive('maxRps must be above 0')
      .optional()
      .describe("The stable version's current requests per second must be below this."),
    rpsWindow: duration.prefault('1m').describe('Lookback over which the stable rps is measured.'),
  })
  .refine((p) => (p.from === undefined) === (p.to === undefined), {
    message: 'from and to go together',
    path: ['to'],
  })
  .refine((p) => p.from === undefined || p.from !== p.to, {
    message: 'from and to must differ; omit both to allow the whole day',
    path: ['to'],
  })
  .refine((p) => p.days !== undefined || p.from !== undefined || p.maxRps !== undefined, {
    message: 'give a clock window (days, from/to) or maxRps',
  })
  .describe('Start deployment during a low-traffic period: inside a clock window and/or below an rps.');

/** Params of a `deploy-window` item after validation: rpsWindow in ms. */
export type DeployWindowParams = z.output<typeof deployWindowParams>;

function minutesOf(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return (hours ?? 0) * MINUTES_PER_HOUR + (minutes ?? 0);
}

/** The weekday and minute of the day at `epochMs` in `timeZone`. */
function localTime(epochMs: number, timeZone: string): { day: Weekday; minute: number; text: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: HOUR_CYCLE,
  }).formatToParts(new Date(epochMs));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = WEEKDAYS.find((d) => d === part('weekday').toLowerCase());
  // en-US always names the weekday Mon..Sun; anything else is a broken Intl build, i.e. a bug.
  if (day === undefined) throw new Error(`unexpected weekday ${JSON.stringify(part('weekday'))} from Intl`);
  const hhmm = `${part('hour')}:${part('minute')}`;
  return { day, minute: minutesOf(hhmm), text: `${part('weekday')} ${hhmm}` };
}

/** Whether a local weekday and minute fall inside the configured window. */
function insideWindow(params: DeployWindowParams, day: Weekday, minute: number): boolean {
  let openedOn = day;
  if (params.from !== undefined && params.to !== undefined) {
    const from = minutesOf(params.from);
    const to = minutesOf(params.to);
    if (from < to) {
      if (minute < from || minute >= to) return false;
    } else if (minute < to) {
      // The early-morning part of a window that wraps midnight was opened the evening before.
      openedOn = WEEKDAYS[(WEEKDAYS.indexOf(day) + DAYS_PER_WEEK - 1) % DAYS_PER_WEEK] ?? day;
    } else if (minute < from) {
      return false;
    }
  }
  return params.days === undefined || params.days.includes(openedOn);
}

function describeWindow(params: DeployWindowParams): string {
  const days =
    params.days === undefined ? 'every day' : WEEKDAYS.filter((d) => params.days?.includes(d)).join(',');
  const hours = params.from === undefined ? '' : ` ${params.from}-${params.to}`;
  return `${days}${hours} ${params.timezone}`;
}

/** `deploy-window`: passes when now is inside the clock window and the stable version is below maxRps. */
export const deployWindowCheck: CheckKind<DeployWindowParams> = {
  kind: 'deploy-window',
  params: deployWindowParams,
  async run(params, context) {
    const parts: string[] = [];
    const data: Record<string, unknown> = {};
    let ok = true;
    let value: number | undefined;

    if (params.days !== undefined || params.from !== undefined) {
      const now = localTime(context.clock.now(), params.timezone);
      const inside = insideWindow(params, now.day, now.minute);
      ok &&= inside;
      Object.assign(data, { localTime: now.text, timezone: params.timezone, inWindow: inside });
      parts.push(
        `${now.text} ${params.timezone} is ${inside ? 'inside' : 'outside'} the window ${describeWindow(params)}`,
      );
    }

    if (params.maxRps !== undefined) {
      const version = versionFor('stable', context);
      const over = `over ${formatDuration(params.rpsWindow)}`;
      let stats: WindowStats | undefined;
      try {
        stats = await context.metrics.window(version, params.rpsWindow);
      } catch (err) {
        ok = false;
        parts.push(`${context.metrics.type} metrics unavailable for ${version}: ${(err as Error).message}`);
      }
      if (stats !== undefined) {
        const below = stats.rps < params.maxRps;
        ok &&= below;
        value = stats.rps;
        Object.assign(data, { version, rps: stats.rps, requests: stats.requests, maxRps: params.maxRps });
        const rps = Number(stats.rps.toFixed(RPS_DECIMALS));
        parts.push(`stable ${version} at ${rps} rps ${below ? '<' : '>='} max ${params.maxRps} rps ${over}`);
      }
    }

    const summary = parts.join('; ');
    return value === undefined ? { ok, summary, data } : { ok, summary, value, data };
  },
};
