/**
 * A release's database migrations as a step of its life: `up` after the pre-deploy gate, `down` on
 * rollback with `rollback.migrations: down`. A run goes on in the background, off the reconcile loop;
 * each pass reads how it is doing. The engine decides what the release does about it.
 */
import type { Logger } from 'pino';
import type { Migrator } from '../app-database/migrator.js';
import type { ReleaseRow } from '../store/types.js';
import { LeaseLostError } from './lease.js';
import { type Effects, type MigrationDirection, migrationKey } from './effects.js';

/** While a run goes on, whether this replica still holds the lease is asked this often. */
const LEASE_WATCH_MS = 100;

/** A migration run in the background, read by later reconcile passes. */
export interface MigrationRun {
  state: 'running' | 'done' | 'failed';
  /** Ids of the migrations applied (`up`) or undone (`down`), once done. */
  applied: string[];
  /** Why the run failed, once failed. */
  error: string;
  /** The run's outcome has been recorded as an event of the release. */
  reported?: boolean;
  /** Stops the run (the lease was lost): its migrator's signal fires. */
  controller: AbortController;
}

/** What the migration step needs. */
export interface MigrationStepOptions {
  /** None when the unit has no migrations: every run is done at once, with nothing applied. */
  migrator: Migrator | undefined;
  effects: Effects;
  /** The unit the releases belong to: `web` or `web@production`. */
  unit: string;
  logger: Logger;
  /** Throws (LeaseLostError) when this replica may no longer act on the unit; asked before the migrator starts. */
  acting: () => void;
  /**
   * Whether this replica still holds the lease now; asked every LEASE_WATCH_MS while a run goes on,
   * which is stopped through its signal once it does not. Runs go on beside the reconcile passes, so
   * they are watched on their own, not only when a pass steps down.
   */
  holds: () => Promise<boolean>;
}

/** The migration runs of one unit's releases. */
export class MigrationStep {
  /** Runs in progress or finished, by release and direction. */
  private readonly runs = new Map<string, MigrationRun>();

  constructor(private readonly options: MigrationStepOptions) {}

  /** Whether the unit has migrations, so that a release passes through `migrating`. */
  get configured(): boolean {
    return this.options.migrator !== undefined;
  }

  /**
   * Starts (once) or reads a migration run for a release. The run is recorded under an idempotency
   * key: a replica that takes over reuses a finished run, and runs again one that never finished (SQL
   * migrations skip what the history table shows applied; migration commands must be idempotent).
   */
  run(release: ReleaseRow, direction: MigrationDirection): MigrationRun {
    const k = runKey(release, direction);
    const existing = this.runs.get(k);
    if (existing) return existing;
    const controller = new AbortController();
    const run: MigrationRun = { state: 'running', applied: [], error: '', controller };
    this.runs.set(k, run);
    const migrator = this.options.migrator;
    if (!migrator) {
      run.state = 'done';
      return run;
    }
    const { signal } = controller;
    const key = migrationKey(this.options.unit, release, direction);
    const work = async (): Promise<string[]> => {
      const done = await this.options.effects.once(key, release, 'migration', { direction }, async () => {
        // After the run's `started` record, before the database is touched.
        this.options.acting();
        const applied =
          direction === 'up'
            ? await migrator.up(release.id, signal)
            : await migrator.down(release.id, signal);
        return { applied: applied.map((m) => m.id) };
      });
      return (done.applied as string[] | undefined) ?? [];
    };
    let watching = false;
    const watch = setInterval(() => {
      if (watching) return;
      watching = true;
      void this.options
        .holds()
        .then((holds) => {
          if (!holds && run.state === 'running') this.stop(run, 'the lease was lost');
        })
        .finally(() => (watching = false));
    }, LEASE_WATCH_MS);
    work()
      .then(
        (applied) => {
          if (signal.aborted) return;
          run.state = 'done';
          run.applied = applied;
        },
        (err: unknown) => {
          const { logger } = this.options;
          if (signal.aborted || err instanceof LeaseLostError) {
            // Stopped because this replica no longer holds the lease: not a failure of the release.
            // The run is forgotten; the holder runs it again (up and down are idempotent).
            this.stop(run, (err as Error).message);
            logger.warn({ release: release.id, direction }, `migrations stopped: ${String(signal.reason)}`);
            return;
          }
          run.state = 'failed';
          run.error = (err as Error).message;
          logger.error({ err, release: release.id, direction }, 'migrations failed');
        },
      )
      .finally(() => clearInterval(watch));
    return run;
  }

  /** Aborts a run through its migrator's signal and forgets it. */
  private stop(run: MigrationRun, why: string): void {
    if (!run.controller.signal.aborted) run.controller.abort(why);
    for (const [k, r] of this.runs) if (r === run) this.runs.delete(k);
  }

  /** Forgets a release's run, so that the next `run()` starts it afresh. */
  forget(release: ReleaseRow, direction: MigrationDirection): void {
    this.runs.delete(runKey(release, direction));
  }

  /** Stops and forgets every run: a replica that lost the lease neither follows them nor lets them go on. */
  clear(): void {
    for (const run of this.runs.values()) run.controller.abort('the lease was lost');
    this.runs.clear();
  }
}

/** What a finished `up` run did, as the release's event says it. */
export function describeUp(applied: readonly string[]): string {
  return applied.length > 0
    ? `applied ${applied.length} migration(s): ${applied.join(', ')}`
    : 'no pending migrations';
}

/** What a finished `down` run did, or why it failed, as the release's event says it. */
export function describeDown(run: MigrationRun): string {
  if (run.state === 'failed') return `down migrations failed: ${run.error}`;
  return run.applied.length > 0
    ? `undid ${run.applied.length} migration(s): ${run.applied.join(', ')}`
    : 'no migrations to undo';
}

function runKey(release: ReleaseRow, direction: MigrationDirection): string {
  return `${release.id}:${direction}`;
}
