/**
 * The migrator's session on SQLite: the database opened in a SQLite runner (sqlite-client.ts), which
 * applies each migration file in one immediate transaction with its history row.
 */
import fs from 'node:fs/promises';
import { InputError } from '../errors.js';
import { Stopped, type HistoryChange, type Session } from './migration-session.js';
import type { AppliedMigration } from './migrator.js';
import { SqliteRunner, type RunnerRequest, type RunnerResults } from './sqlite-client.js';

/** A SQLite database opened by a runner process; one request at a time. */
export class SqliteSession implements Session {
  private constructor(
    private readonly runner: SqliteRunner,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Opens `file`, which must exist, read-only unless `write`. Waiting for the app's write lock is
   * bounded by the operation's timeout, not SQLite's own; `signal` kills the runner at once.
   */
  static async open(
    file: string,
    signal: AbortSignal,
    options: { write: boolean; timeoutMs: number },
  ): Promise<SqliteSession> {
    try {
      await fs.access(file);
    } catch {
      // A typo in the path must not quietly create, and migrate, a new empty database.
      throw new InputError(`database file ${file} does not exist`);
    }
    const runner = await stoppedOnAbort(
      SqliteRunner.open(file, { readonly: !options.write, busyTimeoutMs: options.timeoutMs, signal }),
      signal,
    );
    return new SqliteSession(runner, signal);
  }

  async history(): Promise<AppliedMigration[]> {
    return this.request({ op: 'history' });
  }

  async ensureHistory(): Promise<void> {
    await this.request({ op: 'ensureHistory' });
  }

  async apply(sql: string, change: HistoryChange): Promise<boolean> {
    const insert = 'insert' in change;
    return this.request({ op: 'apply', sql, insert, row: insert ? change.insert : change.remove });
  }

  /** Copies the open database to `to` with SQLite's online backup, which sees one consistent state. */
  async backup(to: string): Promise<void> {
    await this.request({ op: 'copy', to });
  }

  close(): Promise<void> {
    return this.runner.close();
  }

  // Killing the runner mid-transaction is safe: SQLite rolls the transaction back on the next open.
  private request<R extends RunnerRequest>(request: R): Promise<RunnerResults[R['op']]> {
    return stoppedOnAbort(this.runner.request(request), this.signal);
  }
}

/** `work`, whose failure after `signal` fired is the Stopped an operation reports as a stop. */
async function stoppedOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw signal.aborted ? new Stopped() : err;
  }
}
