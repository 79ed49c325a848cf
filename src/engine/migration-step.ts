/**
 * A release's database migrations as a step of its life: `up` after the pre-deploy gate, `down` on
 * rollback with `rollback.migrations: down`. A run goes on in the background, off the reconcile loop;
 * each pass reads how it is doing. The engine decides what the release does about it.
 */
import type { Logger } from 'pino';
import type { Migrator } from '../app-database/migrator.js';
import type { ReleaseRow } from '../store/types.js';
import { type Effects, type MigrationDirection, migrationKey } from './effects.js';

/** A migration run in the background, read by later reconcile passes. */
export interface MigrationRun {
  state: 'running' | 'done' | 'failed';
  /** Ids of the migrations applied (`up`) or undone (`down`), once done. */
  applied: string[];
  /** Why the run failed, once failed. */
  error: string;
  /** The run's outcome has been recorded as an event of the release. */
  reported?: boolean;
}

/** What the migration step needs. */
export interface MigrationStepOptions {
  /** None when the unit has no migrations: every run is done at once, with nothing applied. */
  migrator: Migrator | undefined;
  effects: Effects;
  /** The unit the releases belong to: `web` or `web@production`. */
  unit: string;
  logger: Logger;
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
    const run: MigrationRun = { state: 'running', applied: [], error: '' };
    this.runs.set(k, run);
    const migrator = this.options.migrator;
    if (!migrator) {
      run.state = 'done';
      return run;
    }
    const key = migrationKey(this.options.unit, release, direction);
    const work = async (): Promise<string[]> => {
      const done = await this.options.effects.once(key, release, 'migration', { direction }, async () => ({
        applied: (direction === 'up' ? await migrator.up(release.id) : await migrator.down(release.id)).map(
          (m) => m.id,
        ),
      }));
      return (done.applied as string[] | undefined) ?? [];
    };
    work().then(
      (applied) => {
        run.state = 'done';
        run.applied = applied;
      },
      (err: unknown) => {
        run.state = 'failed';
        run.error = (err as Error).message;
        this.options.logger.error({ err, release: release.id, direction }, 'migrations failed');
      },
    );
    return run;
  }

  /** Forgets a release's run, so that the next `run()` starts it afresh. */
  forget(release: ReleaseRow, direction: MigrationDirection): void {
    this.runs.delete(runKey(release, direction));
  }

  /** Forgets every run: a replica that lost the lease no longer follows them. */
  clear(): void {
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
