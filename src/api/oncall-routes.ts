/**
 * On-call: who each schedule has on call and whom each escalation step reaches, a schedule's shifts
 * for a calendar, and the overrides made through the API. Schedules and policies come from the
 * installation's `oncall:` config, read afresh on each request so a reload applies at once.
 */
import type { FastifyInstance } from 'fastify';
import { resolveTargets } from '../comms/oncall/escalation.js';
import { onCallAt, shifts } from '../comms/oncall/schedule.js';
import type { Schedule, ScheduleOverride, Shift } from '../comms/oncall/types.js';
import { parseInstant } from '../util/zoned-time.js';
import type { OnCallConfig } from '../config/oncall-schema.js';
import { InputError, NotFoundError } from '../errors.js';
import type { OnCallOverrideRow } from '../store/oncall-store.js';
import type { Store } from '../store/types.js';
import { withAccess } from './access.js';
import { Bodies, parseBody } from './bodies.js';

const DAY_MS = 86_400_000;
/** The longest stretch one shifts request may cover. */
export const MAX_SHIFT_DAYS = 90;
/** The stretch a shifts request covers when it names no end. */
export const DEFAULT_SHIFT_DAYS = 14;

/** What the on-call routes read. */
export interface OnCallRoutesOptions {
  store: Store;
  /** The installation's on-call config as it is now (it changes on reload). */
  config: () => OnCallConfig;
  now: () => number;
}

/** An instant from a query parameter: ISO with an offset or Z, or epoch milliseconds; InputError otherwise. */
function parseTime(name: string, raw: string | undefined, fallback: number, zone = 'UTC'): number {
  if (raw === undefined || raw === '') return fallback;
  if (/^\d+$/.test(raw)) return Number(raw);
  const at = parseInstant(raw, zone);
  if (at === undefined)
    throw new InputError(
      `${name} "${raw.slice(0, 40)}" is not a time; send ISO such as 2026-03-29T09:00:00Z`,
    );
  return at;
}

/** Stored overrides in the resolver's words. */
function asOverrides(rows: readonly OnCallOverrideRow[]): ScheduleOverride[] {
  return rows.map((row) => ({
    user: row.user,
    from: row.startsAt,
    to: row.endsAt,
    id: row.id,
    reason: row.reason,
  }));
}

/** A shift as the API answers it: epoch ms and ISO. */
function shiftView(shift: Shift): Record<string, unknown> {
  return {
    user: shift.user,
    start: shift.start,
    end: shift.end,
    startIso: new Date(shift.start).toISOString(),
    endIso: new Date(shift.end).toISOString(),
    layer: shift.layer,
    override: shift.override,
    overrideId: shift.overrideId,
  };
}

function overrideView(row: OnCallOverrideRow): Record<string, unknown> {
  return {
    ...row,
    startsAtIso: new Date(row.startsAt).toISOString(),
    endsAtIso: new Date(row.endsAt).toISOString(),
  };
}

/** Registers the on-call routes on `app`. Reading needs viewer; changing overrides needs deployer in every environment. */
export function registerOnCallRoutes(app: FastifyInstance, options: OnCallRoutesOptions): void {
  const { store, config, now } = options;

  const scheduleNamed = (name: string): Schedule => {
    const { schedules } = config();
    const found = schedules.find((s) => s.name === name);
    if (found) return found;
    const names = schedules.map((s) => `"${s.name}"`).join(', ');
    throw new NotFoundError(
      `no schedule "${name}"; ${names ? `the schedules are ${names}` : 'oncall.schedules defines none'}`,
    );
  };

  /** Names the config uses that no user of the store has, to warn about. */
  const unknownUsers = async (names: Iterable<string>): Promise<string[]> => {
    const users = await store.security.listUsers();
    // An installation without users (an open API) has no names to check against.
    if (users.length === 0) return [];
    const known = new Set(users.filter((u) => u.disabledAt === null).map((u) => u.name));
    return [...new Set(names)].filter((n) => !known.has(n)).sort();
  };

  app.get<{ Querystring: { at?: string } }>('/api/v1/oncall', withAccess('viewer'), async (request) => {
    const at = parseTime('at', request.query.at, now());
    const { schedules, escalationPolicies } = config();
    const stored = await store.oncall.overrides(undefined, at - 45 * DAY_MS, at + 45 * DAY_MS);
    const overrides: Record<string, ScheduleOverride[]> = {};
    for (const row of stored) (overrides[row.schedule] ??= []).push(...asOverrides([row]));
    const named = new Set<string>();
    const scheduleViews = schedules.map((schedule) => {
      for (const layer of schedule.layers) for (const user of layer.users) named.add(user);
      for (const o of schedule.overrides) named.add(o.user);
      const now = onCallAt(schedule, at, overrides[schedule.name] ?? []);
      return {
        name: schedule.name,
        timeZone: schedule.timeZone,
        users: now.users,
        shifts: now.shifts.map(shiftView),
        start: now.start,
        end: now.end,
      };
    });
    const policyViews = escalationPolicies.map((policy) => ({
      name: policy.name,
      repeat: policy.repeat,
      ackTimeoutMs: policy.ackTimeoutMs,
      steps: policy.steps.map((_, index) => {
        const step = resolveTargets(policy, index, at, { schedules, overrides });
        for (const target of step.targets) if ('user' in target) named.add(target.user);
        return { delayMs: step.delayMs, users: step.users, channels: step.channels, targets: step.targets };
      }),
    }));
    const unknown = await unknownUsers(named);
    return {
      at,
      schedules: scheduleViews,
      policies: policyViews,
      warnings: unknown.map(
        (n) => `user "${n}" is named in oncall: but is not a user of this installation (or is disabled)`,
      ),
    };
  });

  app.get<{ Params: { name: string }; Querystring: { from?: string; to?: string } }>(
    '/api/v1/oncall/schedules/:name/shifts',
    withAccess('viewer'),
    async (request) => {
      const schedule = scheduleNamed(request.params.name);
      const from = parseTime('from', request.query.from, now(), schedule.timeZone);
      const to = parseTime('to', request.query.to, from + DEFAULT_SHIFT_DAYS * DAY_MS, schedule.timeZone);
      if (to <= from) throw new InputError('to must be later than from');
      if (to - from > MAX_SHIFT_DAYS * DAY_MS)
        throw new InputError(`from and to may be at most ${MAX_SHIFT_DAYS} days apart`);
      const stored = asOverrides(await store.oncall.overrides(schedule.name, from, to));
      return {
        schedule: schedule.name,
        timeZone: schedule.timeZone,
        from,
        to,
        shifts: shifts(schedule, from, to, stored).map(shiftView),
      };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { from?: string; to?: string } }>(
    '/api/v1/oncall/schedules/:name/overrides',
    withAccess('viewer'),
    async (request) => {
      const schedule = scheduleNamed(request.params.name);
      const from = parseTime('from', request.query.from, now(), schedule.timeZone);
      const to = parseTime('to', request.query.to, Number.MAX_SAFE_INTEGER, schedule.timeZone);
      const rows = await store.oncall.overrides(schedule.name, from, to);
      return {
        schedule: schedule.name,
        overrides: rows.map(overrideView),
        // The config's own overrides, which only a config change removes.
        configured: schedule.overrides
          .filter((o) => o.to > from && o.from < to)
          .map((o) => ({ user: o.user, startsAt: o.from, endsAt: o.to, reason: o.reason ?? null })),
      };
    },
  );

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/oncall/schedules/:name/overrides',
    withAccess('deployer', { action: 'oncall.override.add', everywhere: true }),
    async (request, reply) => {
      const schedule = scheduleNamed(request.params.name);
      const body = parseBody(Bodies.oncallOverride, request.body);
      const startsAt = parseInstant(body.from, schedule.timeZone);
      const endsAt = parseInstant(body.to, schedule.timeZone);
      if (startsAt === undefined)
        throw new InputError(`from "${body.from}" is not a time; send ISO such as 2026-12-24T18:00`);
      if (endsAt === undefined)
        throw new InputError(`to "${body.to}" is not a time; send ISO such as 2026-12-26T09:00`);
      if (endsAt <= startsAt) throw new InputError('to must be later than from');
      if (endsAt <= now()) throw new InputError('the override would end in the past');
      const row = await store.oncall.addOverride(
        {
          schedule: schedule.name,
          user: body.user,
          startsAt,
          endsAt,
          reason: body.reason ?? null,
          createdBy: request.principal?.name ?? 'api',
        },
        now(),
      );
      const unknown = await unknownUsers([body.user]);
      const warnings = unknown.map(
        (n) => `user "${n}" is not a user of this installation (or is disabled); nobody may be reached`,
      );
      return reply.status(201).send({ override: overrideView(row), warnings });
    },
  );

  // The id is `:override`, not `:id`: the guard reads an `:id` as a release and judges the role in its environment.
  app.post<{ Params: { override: string }; Body: unknown }>(
    '/api/v1/oncall/overrides/:override/remove',
    withAccess('deployer', { action: 'oncall.override.remove', everywhere: true }),
    async (request) => {
      parseBody(Bodies.none, request.body);
      const id = Number(request.params.override);
      if (!Number.isInteger(id) || id <= 0)
        throw new InputError(`override id "${request.params.override}" is not a positive integer`);
      const found = await store.oncall.getOverride(id);
      if (!found) throw new NotFoundError(`no on-call override ${id}`);
      // Removing twice is harmless: the answer is the override as it was removed.
      await store.oncall.removeOverride(id, request.principal?.name ?? 'api', now());
      return { override: overrideView((await store.oncall.getOverride(id)) ?? found) };
    },
  );
}
