/**
 * The parent's side of the SQLite runner: the requests the runner (sqlite-runner.ts) answers, their
 * replies, and `SqliteRunner`, which forks it and talks to it. The migrator, the backups and the SQL
 * check all work on the user's SQLite databases through it.
 *
 * Why a child process: better-sqlite3 is synchronous, and a long migration, backup, count or query on
 * the main thread would stall the control plane and its proxy. A worker thread cannot be stopped
 * while it is inside SQLite; a process can be killed at once, and SQLite's journal then rolls back the
 * transaction it had open on the next open. Requests travel over IPC, so no SQL shows in a process
 * list.
 *
 * Which file is forked: the runner is compiled by tsc like everything else, and this module forks
 * `sqlite-runner.js` beside its own compiled file (dist/src/app-database/). The tests run this module
 * from src/ through vitest, where no .js sits beside it, and a forked child cannot borrow vitest's
 * TypeScript loader; from src/ the compiled runner in dist/ is forked instead. So build before running
 * tests (`npm test` does); a runner that was never built is reported as such.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProviderError, ShipcheckError } from '../errors.js';
import { lastLines } from '../util/process-group.js';
import type { AppliedMigration } from './migrator.js';

/** What a query returned: every row counted, the first `sampleRows` kept, each an array of column values. */
export interface QueryRows {
  columns: string[];
  rowCount: number;
  rows: unknown[][];
}

/** A table's row count, or why it could not be counted. */
export type TableCount = number | { error: string };

/** One request to the runner. `open` comes first; the others work on the database it opened. */
export type RunnerRequest =
  /** Opens an existing file (never creates one); `busyTimeoutMs` bounds the wait for another writer's lock. */
  | { op: 'open'; file: string; readonly: boolean; busyTimeoutMs: number }
  /** The migration history's rows; none when its table does not exist yet. */
  | { op: 'history' }
  /** Creates the migration history's table if it is missing. */
  | { op: 'ensureHistory' }
  /**
   * Runs a migration file's `sql` and inserts or removes its history `row`, in one immediate
   * transaction; false, with nothing run, when another run already made that change.
   */
  | { op: 'apply'; sql: string; insert: boolean; row: AppliedMigration }
  /** Copies the database to the file `to` with SQLite's online backup, which sees one consistent state. */
  | { op: 'copy'; to: string }
  /**
   * Counts every table's rows and copies the database to `to`. In WAL mode a read transaction pins one
   * snapshot for both without blocking writers; in other modes that would stall the app's writers for
   * the whole copy, so the counts are taken just before it (`sameSnapshot: false`).
   */
  | { op: 'backup'; to: string }
  /** Counts every table's rows (one snapshot in WAL mode); with `check`, also runs `PRAGMA quick_check`. */
  | { op: 'count'; check: boolean }
  /** Runs one statement; a reader's rows are all counted and the first `sampleRows` kept. */
  | { op: 'query'; sql: string; sampleRows: number };

/** What each request resolves with. */
export interface RunnerResults {
  open: undefined;
  history: AppliedMigration[];
  ensureHistory: undefined;
  apply: boolean;
  copy: undefined;
  backup: { tables: Record<string, number>; sameSnapshot: boolean };
  /** `problem`: the first line quick_check reported, when it was asked for and found one. */
  count: { tables: Record<string, TableCount>; problem?: string };
  query: QueryRows;
}

/** The name of a request. */
export type RunnerOp = RunnerRequest['op'];

/** The runner's answer to one request: its result, or the message of what it threw. */
export type RunnerReply<Op extends RunnerOp = RunnerOp> =
  { ok: true; result: RunnerResults[Op] } | { ok: false; error: string };

/** Rejects what waits on a runner once the caller's signal has stopped it. */
export class SqliteRunnerStopped extends ShipcheckError {}

/** The compiled runner's file name, beside this module's compiled file. */
const RUNNER_FILE = 'sqlite-runner.js';
/** From this module's source file in src/app-database/ to the compiled runner tsc writes. */
const COMPILED_RUNNER_FROM_SOURCE = `../../dist/src/app-database/${RUNNER_FILE}`;
/** Bytes of the runner's stderr kept to explain a crash: the end, where Node prints what failed. */
const STDERR_TAIL_BYTES = 4096;
/** Time the runner gets to close its database after a disconnect before it is killed. */
const EXIT_GRACE_MS = 2_000;

let runnerFile: string | undefined;

/** The compiled runner to fork; see the opening comment for why it differs under the tests. */
function compiledRunner(): string {
  if (runnerFile !== undefined) return runnerFile;
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(
    new URL(fromSource ? COMPILED_RUNNER_FROM_SOURCE : `./${RUNNER_FILE}`, import.meta.url),
  );
  if (!existsSync(file)) {
    throw new ProviderError(`the SQLite runner ${file} is missing; build shipcheck first (npm run build)`);
  }
  runnerFile = file;
  return file;
}

/**
 * One SQLite database opened in its own runner process; one request at a time. The caller's signal
 * kills the runner at once and rejects whatever waits on it with SqliteRunnerStopped. A runner that
 * dies or cannot start rejects with a ProviderError saying how it ended.
 */
export class SqliteRunner {
  private waiting: { resolve: (value: unknown) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  private stderr = '';
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;

  /** Kills the runner at once on the caller's stop; SQLite rolls back what it had open on the next open. */
  private readonly onAbort = (): void => {
    this.child.kill('SIGKILL');
    this.fail(new SqliteRunnerStopped('the SQLite runner was stopped'));
  };

  private constructor(
    private readonly child: ChildProcess,
    private readonly signal: AbortSignal,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (reply: RunnerReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (reply.ok) waiting?.resolve(reply.result);
      else waiting?.reject(new ProviderError(reply.error));
    });
    this.exited = new Promise((resolve) => {
      // `on`, not `once`: a failed send after a failed start is a second error, and it must not crash the control plane.
      child.on('error', (err) => {
        this.fail(err);
        // Without a pid nothing runs, and no exit follows.
        if (child.pid === undefined) resolve();
      });
      child.once('exit', () => resolve());
    });
    // A request fails on 'close', not 'exit': a reply sent just before exiting may still be queued on the
    // IPC channel when 'exit' fires; 'close' comes after every message has been delivered.
    child.once('close', (code, exitSignal) => {
      const last = lastLines(this.stderr, 1);
      this.fail(
        new ProviderError(`the SQLite runner exited (${exitSignal ?? code})${last ? `: ${last}` : ''}`),
      );
    });
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Forks a runner and opens the existing `file` in it, read-only unless `readonly` is false; closes
   * the runner again when that fails. `busyTimeoutMs` bounds each wait for another connection's lock.
   */
  static async open(
    file: string,
    options: { readonly: boolean; busyTimeoutMs: number; signal: AbortSignal },
  ): Promise<SqliteRunner> {
    if (options.signal.aborted) throw new SqliteRunnerStopped('stopped before the SQLite runner started');
    const child = fork(compiledRunner(), [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Keeps bigints and byte arrays intact on their way back.
      serialization: 'advanced',
      // Not the parent's flags: an --inspect port, say, cannot be opened twice.
      execArgv: [],
    });
    const runner = new SqliteRunner(child, options.signal);
    try {
      await runner.request({
        op: 'open',
        file,
        readonly: options.readonly,
        busyTimeoutMs: options.busyTimeoutMs,
      });
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  /** Sends `request` and resolves with its result; rejects with ProviderError carrying the runner's error. */
  request<R extends RunnerRequest>(request: R): Promise<RunnerResults[R['op']]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.waiting !== undefined) {
      return Promise.reject(new Error(`the SQLite runner is still busy; ${request.op} must wait its turn`));
    }
    const reply = new Promise<RunnerResults[R['op']]>((resolve, reject) => {
      this.waiting = { resolve: resolve as (value: unknown) => void, reject };
    });
    this.child.send(request);
    return reply;
  }

  /**
   * Ends the runner and resolves once it has exited; never throws. Disconnecting lets it close the
   * database cleanly; it is killed when it takes longer than a grace period, and at once after a stop
   * (SQLite rolls back what it had open on the next open).
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const child = this.child;
    if (this.signal.aborted || !child.connected) {
      child.kill('SIGKILL');
    } else {
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS);
      void this.exited.finally(() => clearTimeout(timer));
    }
    // 'exit', not 'close': once this side has disconnected no reply can arrive, and 'close' never fires.
    await this.exited;
    this.signal.removeEventListener('abort', this.onAbort);
  }

  /** Rejects the request waiting, and every later one, with the first thing that went wrong. */
  private fail(err: Error): void {
    this.failure ??= err;
    this.waiting?.reject(this.failure);
    this.waiting = undefined;
  }
}
