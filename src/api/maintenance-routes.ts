/**
 * Scheduled checks over the API: the scheduled items of every unit with their last result and next
 * run, an item's run history, and a run now. Reading needs a viewer; running needs a deployer where
 * the unit is, and is audit-logged (`maintenance.run`). `:service` is the unit (`web`, `web@production`);
 * `:item` an item id, URL-encoded, or the end of one (`backup-verification`).
 */
import type { FastifyInstance } from 'fastify';
import { ANONYMOUS } from '../security/auth.js';
import { InputError, NotFoundError } from '../errors.js';
import type { MaintenanceEntry, Scheduler } from '../maintenance/scheduler.js';
import { withAccess } from './access.js';
import { canView } from './guard.js';

/** Runs one history answer returns when the request names no limit, and at most. */
const DEFAULT_RUNS = 50;
const MAX_RUNS = 200;

export interface MaintenanceRoutesOptions {
  /** The scheduler of each unit, by unit name, as they are now (a reload changes them). */
  schedulers: () => ReadonlyMap<string, Scheduler>;
}

function parseRunsLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_RUNS;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit <= 0 || limit > MAX_RUNS)
    throw new InputError(`limit "${raw}" is not a whole number from 1 to ${MAX_RUNS}`);
  return limit;
}

/** Registers the maintenance routes on `app`. */
export function registerMaintenanceRoutes(app: FastifyInstance, options: MaintenanceRoutesOptions): void {
  const schedulerOf = (unit: string): Scheduler => {
    const schedulers = options.schedulers();
    const scheduler = schedulers.get(unit);
    if (scheduler) return scheduler;
    const names = [...schedulers.keys()];
    const envs = names.filter((n) => n.startsWith(`${unit}@`));
    const hint = envs.length > 0 ? `; "${unit}" has environments, pass --env (${envs.join(', ')})` : '';
    throw new NotFoundError(
      `unknown service "${unit}"; this server runs ${names.map((n) => `"${n}"`).join(', ')}${hint}`,
    );
  };

  app.get<{ Querystring: { service?: string } }>(
    '/api/v1/maintenance',
    withAccess('viewer'),
    async (request) => {
      const wanted = request.query.service;
      const all = [...options.schedulers()];
      const units = all.filter(
        ([name]) => wanted === undefined || name === wanted || name.startsWith(`${wanted}@`),
      );
      if (wanted !== undefined && units.length === 0) schedulerOf(wanted);
      const items: MaintenanceEntry[] = [];
      for (const [name, scheduler] of units) {
        if (!canView(request.principal, name)) continue;
        items.push(...(await scheduler.list()));
      }
      return { items };
    },
  );

  app.get<{ Params: { service: string; item: string }; Querystring: { limit?: string } }>(
    '/api/v1/services/:service/maintenance/:item/runs',
    withAccess('viewer'),
    async (request) => {
      const scheduler = schedulerOf(request.params.service);
      const limit = parseRunsLimit(request.query.limit);
      const item = scheduler.find(request.params.item);
      return { unit: scheduler.unit, item: item.id, runs: await scheduler.runs(item.id, limit) };
    },
  );

  app.post<{ Params: { service: string; item: string } }>(
    '/api/v1/services/:service/maintenance/:item/run',
    withAccess('deployer', { action: 'maintenance.run' }),
    async (request) => {
      const scheduler = schedulerOf(request.params.service);
      const by = (request.principal ?? ANONYMOUS).name;
      return { unit: scheduler.unit, run: await scheduler.runNow(request.params.item, by) };
    },
  );
}
