/**
 * `shipcheck oncall ...`: who is on call (`who`), a schedule's shifts (`shifts`), and overrides
 * (`override add|list|remove`), all through the API. Times are ISO (`2026-12-24T18:00`, local to the
 * schedule's zone for shifts and overrides unless they carry an offset; UTC for `who --at`), `now`,
 * or relative to now: `+2h`, `-1d`, `+30m`.
 */
import { formatInZone } from '../../util/zoned-time.js';
import { InputError } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import {
  type OnCallShiftView,
  oncallOverrideShape,
  oncallOverridesShape,
  oncallShape,
  oncallShiftsShape,
} from '../api-shapes.js';
import { formatTable, formatTime } from '../table.js';
import { type GlobalOptions, type Io, resolveServer } from '../target.js';

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A time flag as the API takes it: `now` and `+2h` become ISO from this machine's clock; anything else goes as written. */
export function timeFlag(flag: string, raw: string, now: number = Date.now()): string {
  const text = raw.trim();
  if (text === 'now') return new Date(now).toISOString();
  const relative = /^([+-])(\d+)(m|h|d|w)$/.exec(text);
  if (relative) {
    const ms = Number(relative[2]) * UNITS[relative[3]!]!;
    return new Date(now + (relative[1] === '-' ? -ms : ms)).toISOString();
  }
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(text))
    throw new InputError(`${flag} ${raw}: give an ISO time (2026-12-24T18:00), now, or +2h / -1d`);
  return text;
}

function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
}

/** A local time in a zone, `2026-12-07 09:00`. */
function local(zone: string, ms: number | null): string {
  return ms === null ? '-' : formatInZone(zone, ms).slice(0, 16).replace('T', ' ');
}

function via(shift: OnCallShiftView): string {
  if (!shift.override) return `layer ${shift.layer ?? '-'}`;
  return shift.overrideId === null ? 'override (config)' : `override #${shift.overrideId}`;
}

/** `shipcheck oncall who [--at TIME] [--schedule S]`: who each schedule has on call, and whom each escalation step reaches. */
export async function oncallWhoCommand(
  opts: GlobalOptions & { at?: string; schedule?: string },
  io: Io,
): Promise<number> {
  const { client } = await resolveServer(opts);
  const at = opts.at === undefined ? undefined : timeFlag('--at', opts.at);
  const answer = await client.get(`/api/v1/oncall${query({ at })}`, oncallShape);
  const schedules = answer.schedules.filter((s) => opts.schedule === undefined || s.name === opts.schedule);
  if (opts.schedule !== undefined && schedules.length === 0)
    throw new InputError(
      `no schedule "${opts.schedule}"; the schedules are ${answer.schedules.map((s) => `"${s.name}"`).join(', ') || 'none'}`,
    );
  if (opts.json) {
    io.out(JSON.stringify({ ...answer, schedules, ...(opts.schedule ? { policies: [] } : {}) }, null, 2));
  } else {
    io.out(`on call at ${formatTime(answer.at)}`);
    const rows = schedules.map((s) => [
      s.name,
      s.users.length > 0 ? s.users.join(', ') : 'nobody',
      s.shifts.map(via).join(', ') || '-',
      local(s.timeZone, s.start),
      local(s.timeZone, s.end),
      s.timeZone,
    ]);
    formatTable(['SCHEDULE', 'ON CALL', 'VIA', 'SINCE', 'UNTIL', 'ZONE'], rows).forEach((l) => io.out(l));
    if (opts.schedule === undefined && answer.policies.length > 0) {
      io.out('');
      const steps = answer.policies.flatMap((p) =>
        p.steps.map((step, i) => [
          i === 0 ? p.name : '',
          String(i + 1),
          [...step.users, ...step.channels.map((c) => `#${c}`)].join(', ') || 'nobody',
          formatDuration(step.delayMs),
        ]),
      );
      formatTable(['POLICY', 'STEP', 'REACHES', 'THEN WAITS'], steps).forEach((l) => io.out(l));
    }
  }
  for (const warning of answer.warnings) io.err(`warning: ${warning}`);
  return 0;
}

/** `shipcheck oncall shifts SCHEDULE [--from] [--to]`: the shifts, one line each, by local day. */
export async function oncallShiftsCommand(
  schedule: string,
  opts: GlobalOptions & { from?: string; to?: string },
  io: Io,
): Promise<number> {
  const { client } = await resolveServer(opts);
  const from = opts.from === undefined ? undefined : timeFlag('--from', opts.from);
  const to = opts.to === undefined ? undefined : timeFlag('--to', opts.to);
  const answer = await client.get(
    `/api/v1/oncall/schedules/${encodeURIComponent(schedule)}/shifts${query({ from, to })}`,
    oncallShiftsShape,
  );
  if (opts.json) {
    io.out(JSON.stringify(answer, null, 2));
    return 0;
  }
  const zone = answer.timeZone;
  io.out(`${answer.schedule} (${zone}), ${local(zone, answer.from)} to ${local(zone, answer.to)}`);
  let day = '';
  const rows: string[][] = [];
  for (const shift of answer.shifts) {
    const start = local(zone, shift.start);
    const shown = start.slice(0, 10) === day ? '' : start.slice(0, 10);
    day = start.slice(0, 10);
    const end = local(zone, shift.end);
    rows.push([
      shown,
      start.slice(11),
      end.slice(0, 10) === day ? end.slice(11) : end,
      shift.user,
      via(shift),
    ]);
  }
  if (rows.length === 0) io.out('nobody is on call in that time');
  else formatTable(['DAY', 'FROM', 'TO', 'WHO', 'VIA'], rows).forEach((l) => io.out(l));
  return 0;
}

/** `shipcheck oncall override add SCHEDULE USER --from --to [--reason]`. */
export async function oncallOverrideAddCommand(
  schedule: string,
  user: string,
  opts: GlobalOptions & { from: string; to: string; reason?: string },
  io: Io,
): Promise<number> {
  const { client } = await resolveServer(opts);
  const body = {
    user,
    from: timeFlag('--from', opts.from),
    to: timeFlag('--to', opts.to),
    ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
  };
  const answer = await client.post(
    `/api/v1/oncall/schedules/${encodeURIComponent(schedule)}/overrides`,
    body,
    oncallOverrideShape,
  );
  const o = answer.override;
  if (opts.json) io.out(JSON.stringify(answer, null, 2));
  else
    io.out(
      `override #${o.id}: ${o.user} is on call for ${o.schedule} from ${formatTime(o.startsAt)} to ${formatTime(o.endsAt)}`,
    );
  for (const warning of answer.warnings ?? []) io.err(`warning: ${warning}`);
  return 0;
}

/** `shipcheck oncall override list SCHEDULE`: overrides not yet over, stored and configured. */
export async function oncallOverrideListCommand(
  schedule: string,
  opts: GlobalOptions,
  io: Io,
): Promise<number> {
  const { client } = await resolveServer(opts);
  const answer = await client.get(
    `/api/v1/oncall/schedules/${encodeURIComponent(schedule)}/overrides`,
    oncallOverridesShape,
  );
  if (opts.json) {
    io.out(JSON.stringify(answer, null, 2));
    return 0;
  }
  const rows = [
    ...answer.overrides.map((o) => [
      String(o.id),
      o.user,
      formatTime(o.startsAt),
      formatTime(o.endsAt),
      o.createdBy,
      o.reason ?? '',
    ]),
    ...answer.configured.map((o) => [
      'config',
      o.user,
      formatTime(o.startsAt),
      formatTime(o.endsAt),
      '-',
      o.reason ?? '',
    ]),
  ];
  if (rows.length === 0) io.out(`${answer.schedule} has no override from now on`);
  else formatTable(['ID', 'USER', 'FROM', 'TO', 'BY', 'REASON'], rows).forEach((l) => io.out(l));
  return 0;
}

/** `shipcheck oncall override remove ID`. */
export async function oncallOverrideRemoveCommand(id: string, opts: GlobalOptions, io: Io): Promise<number> {
  const { client } = await resolveServer(opts);
  const answer = await client.post(
    `/api/v1/oncall/overrides/${encodeURIComponent(id)}/remove`,
    {},
    oncallOverrideShape,
  );
  const o = answer.override;
  io.out(
    opts.json ? JSON.stringify(answer, null, 2) : `removed override #${o.id} (${o.user} on ${o.schedule})`,
  );
  return 0;
}
