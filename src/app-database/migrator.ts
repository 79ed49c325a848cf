/**
 * The contract of the user's database migrations: what a `Migrator` does as release steps, the
 * history it keeps, and the error it throws. The implementations sit beside it: `SqlFolderMigrator`
 * (sql-folder-migrator.ts: `.sql` files shipcheck applies itself, on PostgreSQL or on SQLite through
 * the SQLite runner) and `CommandMigrator` (command-migrator.ts: the user's up and down commands);
 * `createMigrator` (create-migrator.ts) picks one from the config.
 */
import path from 'node:path';
import { ShipcheckError } from '../errors.js';
import { lastLines } from '../util/process-group.js';

/** The table, in the migrated database, that records which migration each release applied. */
export const HISTORY_TABLE = 'shipcheck_migrations';
/** Valid in PostgreSQL and SQLite alike, so both drivers create the same table. */
export const HISTORY_DDL = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (id text PRIMARY KEY, release_id integer NOT NULL, applied_at bigint NOT NULL)`;
/** The release id a rehearsal applies migrations under; real releases are numbered from 1. */
export const REHEARSAL_RELEASE_ID = 0;
/** The id `pending()` reports for the command form, where shipcheck cannot see individual migrations. */
export const COMMAND_MIGRATION_ID = 'command';
/** Where the command form records which releases ran `up`, relative to the config folder. */
export const COMMAND_HISTORY_FILE = path.join('.shipcheck', 'migrations.json');
/** Lines of a tool's output quoted in a MigrationError. */
const OUTPUT_TAIL_LINES = 5;

/** One row of the history: a migration and the release that applied it. */
export interface AppliedMigration {
  id: string;
  releaseId: number;
  /** Epoch ms. */
  appliedAt: number;
}

/** Options of `Migrator.pending`. */
export interface PendingOptions {
  /** Command form only: with a release id, nothing is pending once that release has run up. */
  releaseId?: number;
  signal?: AbortSignal;
}

/** Result of `Migrator.rehearse`. */
export interface Rehearsal {
  ok: boolean;
  /** One line a person reads; on failure it names the step and the file. */
  summary: string;
  /** One line per step: copy, up, down, up again, drop. */
  steps: string[];
}

/** Applies and undoes a service's database migrations as release steps. */
export interface Migrator {
  /** Migrations not yet applied, in order, and whether each can be undone (has a down step). Read-only. */
  pending(options?: PendingOptions): Promise<{ id: string; reversible: boolean }[]>;
  /**
   * Applies pending migrations in order, each in its own transaction with its history row, recorded
   * under `releaseId`. Idempotent: applied ones are skipped; returns what this call applied. A failure
   * throws MigrationError naming the file and the database's error; that migration leaves nothing.
   */
  up(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]>;
  /**
   * Undoes, newest first, the migrations `releaseId` applied, each in a transaction that also removes
   * its history row. Idempotent; returns what this call undid. Throws MigrationError, before undoing
   * anything, when one of them has no down step.
   */
  down(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]>;
  /** Runs up, down, up of the pending migrations on a copy of the database; the real one is untouched. */
  rehearse(signal?: AbortSignal): Promise<Rehearsal>;
}

/** A migration could not be listed, applied or undone; `file` names the migration file when one is at fault. */
export class MigrationError extends ShipcheckError {
  /** The file at fault, relative to the config folder when it is inside it. */
  readonly file: string | undefined;
  /** What the failing call had already applied (up) or undone (down) before it failed; those stay done. */
  readonly done: AppliedMigration[];

  constructor(message: string, options: { cause?: unknown; file?: string; done?: AppliedMigration[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = options.file;
    this.done = options.done ?? [];
  }
}

/** Says that the migrations `ids` cannot be undone: `001_drop_column has no down step: a rollback cannot undo it`. */
export function describeIrreversible(ids: string[]): string {
  if (ids.length === 1 && ids[0] === COMMAND_MIGRATION_ID) {
    return 'migrations.up has no migrations.down command: a rollback cannot undo it';
  }
  return ids.length === 1
    ? `${ids[0]} has no down step: a rollback cannot undo it`
    : `${ids.join(', ')} have no down step: a rollback cannot undo them`;
}

/** Throws MigrationError unless `releaseId` is one a real release can have. */
export function checkReleaseId(releaseId: number): void {
  // The history column is an integer, and the rehearsal owns release 0.
  if (!Number.isSafeInteger(releaseId) || releaseId <= REHEARSAL_RELEASE_ID) {
    throw new MigrationError(
      `a release id is a whole number above ${REHEARSAL_RELEASE_ID}, got ${releaseId}`,
    );
  }
}

/** The end of a command's or tool's output as part of a one-line message: its last lines, joined by ` | `. */
export function outputTail(output: string): string {
  return lastLines(output, OUTPUT_TAIL_LINES).split('\n').join(' | ');
}
