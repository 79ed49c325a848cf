/**
 * Builds a unit's Scheduler from what createUnit has (unit.ts): its resolved checklist, its
 * `maintenance` block, its lease, and the context its release checks run in; and the notices that
 * tell an item's owners it failed or recovered.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { ChecklistRunner } from '../checklist/checklist-runner.js';
import type { ResolvedItem } from '../checklist/template-types.js';
import type { CheckKind } from '../checklist/types.js';
import type { ResolveTargets } from '../comms/incidents/types.js';
import type { Destination, EscalationPolicy, EscalationTarget } from '../comms/types.js';
import type { Config } from '../config/schema.js';
import type { ReleaseRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import type { LoadedConfig } from '../config/loader.js';
import { ConfigError } from '../errors.js';
import { scheduleOverrideProblems, scheduledItems } from './scheduled-items.js';
import { type MaintenanceNotice, Scheduler, type SchedulerLease } from './scheduler.js';

/** What `createUnitScheduler` needs. */
export interface UnitSchedulerOptions {
  unit: string;
  config: Config;
  items: readonly ResolvedItem[];
  store: Store;
  kinds: ReadonlyMap<string, CheckKind<unknown>>;
  clock: Clock;
  logger: Logger;
  /** This replica's name; `local` with SQLite. */
  holder: string;
  lease: SchedulerLease | undefined;
  runner: ChecklistRunner;
  /** Resolves the item's owners (users, on-call schedules, channels) to destinations; absent, nobody is told. */
  resolveTargets: ResolveTargets | undefined;
  /** The dashboard's maintenance page, for notices. */
  pageUrl?: () => string | undefined;
}

/** The scheduler of one unit (not started). */
export function createUnitScheduler(options: UnitSchedulerOptions): Scheduler {
  const { unit, config, runner, resolveTargets, store, clock } = options;
  const items = scheduledItems(options.items, config.maintenance);
  const targets = maintenanceTargets(config);
  const notify =
    resolveTargets && targets.length > 0
      ? async (notice: MaintenanceNotice): Promise<void> => {
          const policy: EscalationPolicy = {
            name: `maintenance of ${unit}`,
            steps: [{ delayMs: 0, targets }],
            repeat: 0,
            ackTimeoutMs: 0,
          };
          const destinations = await resolveTargets(policy, 0, clock.now());
          await store.notifications.enqueue(
            noticesFor(notice, destinations, options.pageUrl?.()),
            clock.now(),
          );
        }
      : undefined;
  return new Scheduler({
    unit,
    items,
    store,
    kinds: options.kinds,
    clock,
    logger: options.logger,
    // One name per scheduler: a reload's new scheduler does not take the old one's run for its own.
    holder: `${options.holder}/${crypto.randomBytes(3).toString('hex')}`,
    ...(options.lease ? { lease: options.lease } : {}),
    context: (version) => runner.contextOf(stableRelease(unit, version, clock.now())),
    ...(notify ? { notify } : {}),
  });
}

/**
 * Who hears of a failing scheduled item: `maintenance.notify` when it names anyone, else the owners
 * the service's catalog names (its owner, then its contacts), each once. Empty: nobody.
 */
export function maintenanceTargets(config: Pick<Config, 'maintenance' | 'catalog'>): EscalationTarget[] {
  if (config.maintenance.notify.length > 0) return config.maintenance.notify;
  const { owner, contacts = [] } = config.catalog ?? {};
  const owners: EscalationTarget[] = [...(owner === undefined ? [] : [{ user: owner }]), ...contacts];
  const seen = new Set<string>();
  return owners.filter((target) => {
    const key = JSON.stringify(target);
    return !seen.has(key) && Boolean(seen.add(key));
  });
}

/** One notification per destination; the key makes a repeated notice of the same run harmless. */
export function noticesFor(
  notice: MaintenanceNotice,
  destinations: readonly Destination[],
  url: string | undefined,
) {
  const { unit, item, run, state, summary } = notice;
  const failed = state === 'failed';
  return destinations.map((to) => ({
    key: `maintenance:${unit}:${item.id}:${run.id}:${state}:${JSON.stringify(to)}`,
    to,
    notice: {
      event: failed ? 'maintenance.failed' : 'maintenance.recovered',
      title: failed ? `${unit}: ${item.title} failed` : `${unit}: ${item.title} recovered`,
      text: `${item.id} (${run.trigger === 'manual' ? `run by ${run.by ?? 'someone'}` : 'scheduled run'}): ${summary}`,
      severity: failed ? ('error' as const) : ('info' as const),
      service: unit,
      ...(url ? { url } : {}),
      data: { item: item.id, run: run.id, state: run.state },
    },
  }));
}

/**
 * The release-shaped input the checklist's context takes, for a run between releases: the stable
 * version, no release (id 0), nothing it replaces.
 */
function stableRelease(unit: string, version: string, now: number): ReleaseRow {
  return {
    id: 0,
    service: unit,
    version,
    fromVersion: null,
    kind: 'deploy',
    state: 'succeeded',
    phase: 'completed',
    step: 0,
    weight: 100,
    reason: null,
    outcome: null,
    stepStartedAt: now,
    phaseStartedAt: now,
    createdAt: now,
    updatedAt: now,
    endedAt: now,
  };
}

/**
 * Throws ConfigError when the `maintenance.schedules` of a unit names an item its checklist does not
 * have, at the key's `file:line:col` (under the environment when it writes the block).
 */
export function checkScheduleOverrides(
  loaded: Pick<LoadedConfig, 'locate' | 'written'>,
  environment: string | undefined,
  config: Config,
  items: readonly { id: string }[],
): void {
  const problems = scheduleOverrideFindings(loaded, environment, config, items);
  if (problems.length > 0) throw new ConfigError(problems);
}

/** The problems `checkScheduleOverrides` throws, as `file:line:col: message` lines (`shipcheck validate`). */
export function scheduleOverrideFindings(
  loaded: Pick<LoadedConfig, 'locate' | 'written'>,
  environment: string | undefined,
  config: Config,
  items: readonly { id: string }[],
): string[] {
  return scheduleOverrideProblems(config.maintenance, items, (key) => {
    const own = environment === undefined ? [] : ['environments', environment];
    const at = [...own, 'maintenance', 'schedules', key];
    return loaded.locate(loaded.written(at) ? at : ['maintenance', 'schedules', key]);
  });
}
