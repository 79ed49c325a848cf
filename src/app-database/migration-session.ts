/**
 * What the folder form of the migrator needs from a database, whichever it is: a session that reads
 * the history and applies one migration file in one transaction with its history row. PostgreSQL's is
 * in postgres-session.ts, SQLite's (through the SQLite runner) in sqlite-session.ts. Also the stop
 * rule every operation follows: a stop cancels what runs and reports where it stopped.
 */
import type { AppliedMigration } from './migrator.js';

/** Longest wait for a PostgreSQL connection; the operation's own timeout may be much longer. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** After a stop, how long a cancelled statement gets to roll back before its connection is dropped. */
const CANCEL_GRACE_MS = 5_000;

/** A change to the history made in the same transaction as the migration's SQL. */
export type HistoryChange = { insert: AppliedMigration } | { remove: AppliedMigration };

/** One connection to the migrated database, for the length of one operation. */
export interface Session {
  /** Every history row; none when the history table does not exist yet. */
  history(): Promise<AppliedMigration[]>;
  /** Creates the history table if it is missing. */
  ensureHistory(): Promise<void>;
  /**
   * Runs `sql` and `change` in one transaction. False, with nothing run, when the change is already
   * made (another run got there first).
   */
  apply(sql: string, change: HistoryChange): Promise<boolean>;
  /** Ends the connection; never throws. */
  close(): Promise<void>;
}

/** Raised inside an operation when its signal fires; turned into a MigrationError that says which. */
export class Stopped extends Error {
  /** The migration file whose transaction was interrupted, when one was. */
  constructor(readonly file?: string) {
    super('stopped');
  }
}

/**
 * `work`'s result; when `signal` fires first, `onStop` runs and `work` gets CANCEL_GRACE_MS to settle
 * (a cancelled statement rolls back) before the result is a Stopped rejection.
 */
export function stoppable<T>(work: Promise<T>, signal: AbortSignal, onStop: () => void): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      onStop();
      timer = setTimeout(() => reject(new Stopped()), CANCEL_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work
      .then(resolve, (err: unknown) => reject(signal.aborted ? new Stopped() : err))
      .finally(() => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(timer);
      });
  });
}
