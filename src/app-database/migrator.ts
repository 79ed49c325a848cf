/**
 * The user's database migrations: SQL folders (PostgreSQL, and SQLite through a child runner) with a
 * history table, or up/down commands; rehearsal on a copy. One file for now because both dialects
 * share the plan, history and rehearsal logic; issue 9 moves the SQLite runner to a typed child module
 * shared with backups and the SQL check, and the copy-a-database step beside the backup code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/schema.js';
import { errorMessage, InputError, ProviderError, ShipcheckError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import { forLibpq, libpqEnv, namedDatabase, withDatabase } from '../util/postgres-url.js';
import { redactUrl } from '../util/redact.js';
import { commandArgv, signalChildGroup } from '../util/process-group.js';

/** The table, in the migrated database, that records which migration each release applied. */
export const HISTORY_TABLE = 'shipcheck_migrations';
/** The release id a rehearsal applies migrations under; real releases are numbered from 1. */
export const REHEARSAL_RELEASE_ID = 0;
/** The id `pending()` reports for the command form, where shipcheck cannot see individual migrations. */
export const COMMAND_MIGRATION_ID = 'command';
/** Where the command form records which releases ran `up`, relative to the config folder. */
export const COMMAND_HISTORY_FILE = path.join('.shipcheck', 'migrations.json');

/** Valid in PostgreSQL and SQLite alike, so both drivers create the same table. */
const HISTORY_DDL = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (id text PRIMARY KEY, release_id integer NOT NULL, applied_at bigint NOT NULL)`;
const MIGRATION_FILE = /^(\d+)_([A-Za-z0-9][\w-]*)\.(up|down)\.sql$/;
const SQL_EXTENSION = '.sql';
const SQLITE_PREFIX = 'sqlite:';
/** Longest wait for a PostgreSQL connection; the operation's own timeout may be much longer. */
const CONNECT_TIMEOUT_MS = 10_000;
/** After a stop, how long a cancelled statement gets to roll back before its connection is dropped. */
const CANCEL_GRACE_MS = 5_000;
/** Dropping a rehearsal copy gets its own time: it must happen even after the rehearsal was stopped. */
const DROP_TIMEOUT_MS = 30_000;
/** setTimeout's ceiling; a longer configured timeout would otherwise fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const REHEARSAL_DATABASE_PREFIX = 'shipcheck_rehearsal_';
const REHEARSAL_NAME_BYTES = 6;
/** PostgreSQL databases to connect to for CREATE/DROP DATABASE, in order of preference. */
const MAINTENANCE_DATABASES = ['postgres', 'template1'];
/** SQLSTATE: the source database has other sessions, so it cannot be a TEMPLATE. */
const OBJECT_IN_USE = '55006';
/** SQLSTATE: the database named in the URL does not exist. */
const INVALID_CATALOG_NAME = '3D000';
/** SQLSTATE: a syntax error; DROP DATABASE ... WITH (FORCE) is PostgreSQL 13 and later. */
const SYNTAX_ERROR = '42601';
/** SQLSTATE: not allowed, e.g. copying a database one does not own. */
const INSUFFICIENT_PRIVILEGE = '42501';
/** Bytes of a command's output kept for its error message: the end, where scripts say what failed. */
const OUTPUT_TAIL_BYTES = 4096;
/** Lines of output quoted in an error message. */
const OUTPUT_TAIL_LINES = 5;
/** Time a stopped command gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** Time the SQLite runner gets to close its database before it is killed. */
const RUNNER_EXIT_GRACE_MS = 2_000;

/** One migration of the folder form: `NNN_name.up.sql` and, when it can be undone, `NNN_name.down.sql`. */
export interface MigrationFile {
  /** `001_add_users`: the file name without direction and extension. */
  id: string;
  /** Absolute path of the up file. */
  upFile: string;
  /** Absolute path of the down file, or undefined when the migration cannot be undone. */
  downFile: string | undefined;
}

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

/** The migrator the config's `migrations` block describes; undefined when there is no such block. */
export function createMigrator(config: Config, configDir: string): Migrator | undefined {
  const block = config.migrations;
  if (block === undefined) return undefined;
  const common = {
    configDir,
    timeoutMs: Math.min(block.timeout, MAX_TIMER_MS),
    keepOnRollback: config.rollback.migrations === 'keep',
  };
  if (block.up !== undefined) {
    return new CommandMigrator({
      ...common,
      up: block.up,
      down: block.down,
      database: block.database === undefined ? undefined : absoluteDatabase(block.database, configDir),
    });
  }
  // The schema already insists on both; this keeps a hand-built config from failing obscurely later.
  if (block.dir === undefined || block.database === undefined) {
    throw new MigrationError('migrations: give dir and database, or an up command');
  }
  return new SqlFolderMigrator({
    ...common,
    dir: path.resolve(configDir, block.dir),
    target: parseDatabase(block.database, configDir),
  });
}

/**
 * The migrations in `dir`, sorted by number. Files not ending in `.sql` are ignored; a `.sql` file
 * that is not `NNN_name.up.sql` or `NNN_name.down.sql`, a down file without its up file, and two
 * migrations with the same number throw MigrationError listing every problem.
 */
export async function listMigrationFiles(dir: string): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new MigrationError(`migrations.dir ${dir} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
  const found = new Map<string, { number: number; up?: string; down?: string }>();
  const problems: string[] = [];
  for (const name of names.sort()) {
    // READMEs and the like may sit next to the migrations.
    if (!name.endsWith(SQL_EXTENSION)) continue;
    const match = MIGRATION_FILE.exec(name);
    if (match === null) {
      problems.push(`${name}: expected NNN_name.up.sql or NNN_name.down.sql`);
      continue;
    }
    const [, digits = '', label = '', direction] = match;
    const id = `${digits}_${label}`;
    const entry = found.get(id) ?? { number: Number(digits) };
    entry[direction === 'up' ? 'up' : 'down'] = path.join(dir, name);
    found.set(id, entry);
  }
  const files: (MigrationFile & { number: number })[] = [];
  for (const [id, entry] of found) {
    if (entry.up === undefined) {
      problems.push(`${id}.down.sql has no ${id}.up.sql`);
      continue;
    }
    files.push({ id, number: entry.number, upFile: entry.up, downFile: entry.down });
  }
  files.sort((a, b) => a.number - b.number || a.id.localeCompare(b.id));
  for (let i = 1; i < files.length; i++) {
    const [before, after] = [files[i - 1]!, files[i]!];
    // Their order would be a guess, and a guess can differ between machines.
    if (before.number === after.number)
      problems.push(`${before.id} and ${after.id} share the number ${before.number}`);
  }
  if (problems.length > 0) {
    throw new MigrationError(`migrations.dir ${dir}: ${problems.join('; ')}`);
  }
  return files.map(({ id, upFile, downFile }) => ({ id, upFile, downFile }));
}

type DatabaseTarget = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

/** A change to the history made in the same transaction as the migration's SQL. */
type HistoryChange = { insert: AppliedMigration } | { remove: AppliedMigration };

/** One connection to the migrated database, for the length of one operation. */
interface Session {
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
class Stopped extends Error {
  /** The migration file whose transaction was interrupted, when one was. */
  constructor(readonly file?: string) {
    super('stopped');
  }
}

/** The folder form: `.sql` files applied by shipcheck to PostgreSQL or SQLite. */
class SqlFolderMigrator implements Migrator {
  constructor(
    private readonly options: {
      dir: string;
      target: DatabaseTarget;
      configDir: string;
      timeoutMs: number;
      keepOnRollback: boolean;
    },
  ) {}

  async pending(options: PendingOptions = {}): Promise<{ id: string; reversible: boolean }[]> {
    const files = await listMigrationFiles(this.options.dir);
    return this.operation('pending', options.signal, (signal) =>
      this.inSession(signal, { write: false }, async (session) => {
        const applied = new Set((await session.history()).map((row) => row.id));
        return files
          .filter((file) => !applied.has(file.id))
          .map((file) => ({ id: file.id, reversible: file.downFile !== undefined }));
      }),
    );
  }

  /** Runs `work` on a session of the target database, closed however `work` ends. */
  private async inSession<T>(
    signal: AbortSignal,
    options: { write: boolean },
    work: (session: Session) => Promise<T>,
  ): Promise<T> {
    const session = await openSession(this.options.target, signal, {
      write: options.write,
      timeoutMs: this.options.timeoutMs,
    });
    try {
      return await work(session);
    } finally {
      await session.close();
    }
  }

  async up(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]> {
    checkReleaseId(releaseId);
    return this.upAs(releaseId, signal);
  }

  async down(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]> {
    checkReleaseId(releaseId);
    return this.downAs(releaseId, signal);
  }

  /** `up` without the check on the id, so a rehearsal can use its own. */
  private async upAs(releaseId: number, signal: AbortSignal | undefined): Promise<AppliedMigration[]> {
    const files = await listMigrationFiles(this.options.dir);
    const done: AppliedMigration[] = [];
    return this.operation(
      'up',
      signal,
      (stop) =>
        this.inSession(stop, { write: true }, async (session) => {
          await session.ensureHistory();
          const applied = new Set((await session.history()).map((row) => row.id));
          const due = files.filter((file) => !applied.has(file.id));
          // Every file is read before the first one runs: an unreadable file stops nothing half-way.
          const texts = await Promise.all(due.map((file) => this.read(file.upFile)));
          for (const [i, file] of due.entries()) {
            if (stop.aborted) throw new Stopped();
            const row = { id: file.id, releaseId, appliedAt: Date.now() };
            await this.step(file.upFile, done, () => session.apply(texts[i]!, { insert: row }), row);
          }
          return done;
        }),
      done,
    );
  }

  /** `down` without the check on the id, so a rehearsal can use its own. */
  private async downAs(releaseId: number, signal: AbortSignal | undefined): Promise<AppliedMigration[]> {
    const files = await listMigrationFiles(this.options.dir);
    const order = new Map(files.map((file, index) => [file.id, { file, index }]));
    const done: AppliedMigration[] = [];
    return this.operation(
      'down',
      signal,
      (stop) =>
        this.inSession(stop, { write: true }, async (session) => {
          const rows = (await session.history()).filter((row) => row.releaseId === releaseId);
          const missing = rows.filter((row) => !order.has(row.id)).map((row) => row.id);
          if (missing.length > 0) {
            const one = missing.length === 1;
            throw new MigrationError(
              `release ${releaseId} applied ${missing.join(', ')}, which ${one ? 'is' : 'are'} no longer in ${this.show(this.options.dir)}: a rollback cannot undo ${one ? 'it' : 'them'}`,
            );
          }
          rows.sort((a, b) => order.get(b.id)!.index - order.get(a.id)!.index);
          const irreversible = rows.filter((row) => order.get(row.id)!.file.downFile === undefined);
          if (irreversible.length > 0) {
            throw new MigrationError(describeIrreversible(irreversible.map((row) => row.id)));
          }
          const downFiles = rows.map((row) => order.get(row.id)!.file.downFile!);
          const texts = await Promise.all(downFiles.map((file) => this.read(file)));
          for (const [i, row] of rows.entries()) {
            if (stop.aborted) throw new Stopped();
            await this.step(downFiles[i]!, done, () => session.apply(texts[i]!, { remove: row }), row);
          }
          return done;
        }),
      done,
    );
  }

  async rehearse(signal?: AbortSignal): Promise<Rehearsal> {
    const steps: string[] = [];
    let pending: { id: string; reversible: boolean }[];
    try {
      pending = await this.pending(signal === undefined ? {} : { signal });
    } catch (err) {
      return { ok: false, summary: errorMessage(err), steps };
    }
    if (pending.length === 0) return { ok: true, summary: 'no pending migrations to rehearse', steps };
    const names = pending.map((m) => m.id).join(', ');
    const count = `${pending.length} pending migration${pending.length === 1 ? '' : 's'} (${names})`;

    let copy: DatabaseCopy;
    try {
      copy = await this.operation('copy', signal, (stop) =>
        copyDatabase(this.options.target, stop, this.options.timeoutMs, this.show),
      );
      steps.push(`copy: ${copy.description}`);
    } catch (err) {
      const why = withoutPrefix(errorMessage(err), 'copy');
      steps.push(`copy: FAILED: ${why}`);
      return { ok: false, summary: `rehearsal failed at copy: ${why}`, steps };
    }

    let result: { ok: boolean; summary: string };
    try {
      result = await this.rehearseOn(copy.target, pending, steps, count, signal);
    } finally {
      try {
        await copy.drop();
        steps.push(`drop: removed ${copy.name}`);
      } catch (err) {
        steps.push(`drop: FAILED to remove ${copy.name}: ${errorMessage(err)}`);
      }
    }
    const dropFailed = steps.at(-1)?.startsWith('drop: FAILED') === true;
    // The migrations' verdict stands; a copy left behind is worth saying, not worth failing the release.
    const leftover = dropFailed ? `; the copy ${copy.name} could not be removed` : '';
    return { ok: result.ok, summary: `${result.summary}${leftover}`, steps };
  }

  /** Up, down and up again on `target` (a copy), adding one line per step to `steps`. */
  private async rehearseOn(
    target: DatabaseTarget,
    pending: { id: string; reversible: boolean }[],
    steps: string[],
    count: string,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: boolean; summary: string }> {
    const copy = new SqlFolderMigrator({ ...this.options, target });
    const attempt = async (step: string, work: () => Promise<AppliedMigration[]>, verb: string) => {
      try {
        const rows = await work();
        steps.push(`${step}: ${verb} ${rows.map((row) => row.id).join(', ') || 'nothing'}`);
        return undefined;
      } catch (err) {
        const why = withoutPrefix(withoutPrefix(errorMessage(err), 'up'), 'down');
        steps.push(`${step}: FAILED: ${why}`);
        return { ok: false, summary: `rehearsal failed at ${step}: ${why}` };
      }
    };
    const up = await attempt('up', () => copy.upAs(REHEARSAL_RELEASE_ID, signal), 'applied');
    if (up) return up;
    const irreversible = pending.filter((m) => !m.reversible).map((m) => m.id);
    if (irreversible.length > 0) {
      const why = describeIrreversible(irreversible);
      if (this.options.keepOnRollback) {
        // With `keep` a rollback never runs down steps, so a missing one is a choice, not a gap.
        steps.push(`down: skipped: ${why} (rollback.migrations: keep)`);
        return { ok: true, summary: `up rehearsed on a copy for ${count}; down skipped: ${why}` };
      }
      steps.push(`down: FAILED: ${why}`);
      return { ok: false, summary: `rehearsal failed at down: ${why}` };
    }
    const down = await attempt('down', () => copy.downAs(REHEARSAL_RELEASE_ID, signal), 'undid');
    if (down) return down;
    const again = await attempt('up again', () => copy.upAs(REHEARSAL_RELEASE_ID, signal), 'applied');
    if (again) return again;
    return { ok: true, summary: `up, down and up again rehearsed on a copy for ${count}` };
  }

  /** Runs one migration file's transaction, turning its failure into a MigrationError naming the file. */
  private async step(
    file: string,
    done: AppliedMigration[],
    apply: () => Promise<boolean>,
    row: AppliedMigration,
  ): Promise<void> {
    try {
      if (await apply()) done.push(row);
    } catch (err) {
      if (err instanceof Stopped) throw new Stopped(this.show(file));
      throw new MigrationError(`${this.show(file)}: ${errorMessage(err)}`, {
        cause: err,
        file: this.show(file),
        done,
      });
    }
  }

  /** Runs `work` under the configured timeout and the caller's signal; every failure leaves as a MigrationError. */
  private async operation<T>(
    name: 'pending' | 'up' | 'down' | 'copy',
    signal: AbortSignal | undefined,
    work: (signal: AbortSignal) => Promise<T>,
    done: AppliedMigration[] = [],
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const stop = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      if (stop.aborted) throw new Stopped();
      return await work(stop);
    } catch (err) {
      if (err instanceof MigrationError) throw err;
      const listing = name === 'pending';
      if (err instanceof Stopped || stop.aborted) {
        const what = listing ? 'listing pending migrations' : name;
        const why = signal?.aborted
          ? `${what} was aborted`
          : `${what} timed out after ${formatDuration(this.options.timeoutMs)} (migrations.timeout)`;
        const file = err instanceof Stopped ? err.file : undefined;
        const where = file === undefined ? '' : ` while running ${file}, whose transaction was not committed`;
        throw new MigrationError(`${why}${where}`, { cause: err, done, ...(file ? { file } : {}) });
      }
      const prefix = listing ? 'cannot list pending migrations' : name;
      throw new MigrationError(`${prefix}: ${errorMessage(err)}`, { cause: err, done });
    }
  }

  private async read(file: string): Promise<string> {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new MigrationError(`${this.show(file)} cannot be read: ${errorMessage(err)}`, {
        cause: err,
        file: this.show(file),
      });
    }
  }

  /** A path as a person finds it: relative to the config folder when it is inside it. */
  private show = (file: string): string => {
    const relative = path.relative(this.options.configDir, file);
    return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
  };
}

/** The command form: `migrations.up` and `migrations.down` do the work; shipcheck keeps which release ran up. */
class CommandMigrator implements Migrator {
  constructor(
    private readonly options: {
      up: string | string[];
      down: string | string[] | undefined;
      database: string | undefined;
      configDir: string;
      timeoutMs: number;
      keepOnRollback: boolean;
    },
  ) {}

  async pending(options: PendingOptions = {}): Promise<{ id: string; reversible: boolean }[]> {
    if (options.releaseId !== undefined && (await this.history())[String(options.releaseId)] !== undefined) {
      return [];
    }
    // What the command would apply is its own business; shipcheck only knows whether it has run.
    return [{ id: COMMAND_MIGRATION_ID, reversible: this.options.down !== undefined }];
  }

  async up(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]> {
    checkReleaseId(releaseId);
    if ((await this.history())[String(releaseId)] !== undefined) return [];
    await this.run('up', this.options.up, { SHIPCHECK_RELEASE: String(releaseId) }, signal);
    const appliedAt = Date.now();
    await this.saveHistory({ ...(await this.history()), [String(releaseId)]: appliedAt });
    return [{ id: COMMAND_MIGRATION_ID, releaseId, appliedAt }];
  }

  async down(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]> {
    checkReleaseId(releaseId);
    const appliedAt = (await this.history())[String(releaseId)];
    if (appliedAt === undefined) return [];
    if (this.options.down === undefined) {
      throw new MigrationError(describeIrreversible([COMMAND_MIGRATION_ID]));
    }
    await this.run('down', this.options.down, { SHIPCHECK_RELEASE: String(releaseId) }, signal);
    const history = await this.history();
    delete history[String(releaseId)];
    await this.saveHistory(history);
    return [{ id: COMMAND_MIGRATION_ID, releaseId, appliedAt }];
  }

  async rehearse(signal?: AbortSignal): Promise<Rehearsal> {
    const steps: string[] = [];
    // The command is trusted to point at a staging copy when it sees SHIPCHECK_REHEARSAL=1.
    const env = { SHIPCHECK_RELEASE: String(REHEARSAL_RELEASE_ID), SHIPCHECK_REHEARSAL: '1' };
    const attempt = async (step: string, command: string | string[], direction: 'up' | 'down') => {
      try {
        const took = await this.run(direction, command, env, signal);
        steps.push(`${step}: migrations.${direction} exited 0 in ${formatDuration(took)}`);
        return undefined;
      } catch (err) {
        steps.push(`${step}: FAILED: ${errorMessage(err)}`);
        return { ok: false, summary: `rehearsal failed at ${step}: ${errorMessage(err)}`, steps };
      }
    };
    const up = await attempt('up', this.options.up, 'up');
    if (up) return up;
    if (this.options.down === undefined) {
      const why = describeIrreversible([COMMAND_MIGRATION_ID]);
      if (this.options.keepOnRollback) {
        steps.push(`down: skipped: ${why} (rollback.migrations: keep)`);
        return {
          ok: true,
          summary: `migrations.up rehearsed with SHIPCHECK_REHEARSAL=1; down skipped`,
          steps,
        };
      }
      steps.push(`down: FAILED: ${why}`);
      return { ok: false, summary: `rehearsal failed at down: ${why}`, steps };
    }
    const down = await attempt('down', this.options.down, 'down');
    if (down) return down;
    const again = await attempt('up again', this.options.up, 'up');
    if (again) return again;
    return {
      ok: true,
      summary: 'migrations.up, down and up again rehearsed with SHIPCHECK_REHEARSAL=1',
      steps,
    };
  }

  /** Runs one of the commands; resolves with its run time in ms, or throws MigrationError with its output. */
  private async run(
    direction: 'up' | 'down',
    command: string | string[],
    extraEnv: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const env: Record<string, string | undefined> = { ...process.env, ...extraEnv };
    // A variable inherited by the control plane must not make a real run look like a rehearsal.
    if (extraEnv.SHIPCHECK_REHEARSAL === undefined) delete env.SHIPCHECK_REHEARSAL;
    if (this.options.database !== undefined) env.SHIPCHECK_MIGRATIONS_DATABASE = this.options.database;
    const outcome = await runProcess(command, {
      cwd: this.options.configDir,
      env,
      timeoutMs: this.options.timeoutMs,
      ...(signal === undefined ? {} : { signal }),
    });
    const name = `migrations.${direction}`;
    const tail = lastLines(outcome.output);
    const output = tail === '' ? '' : `: ${tail}`;
    if (outcome.kind === 'not-started') throw new MigrationError(`${name} cannot start: ${outcome.error}`);
    if (outcome.kind === 'timeout') {
      throw new MigrationError(
        `${name} timed out after ${formatDuration(this.options.timeoutMs)} (migrations.timeout)${output}`,
      );
    }
    if (outcome.kind === 'aborted') throw new MigrationError(`${name} was aborted${output}`);
    if (outcome.code !== 0) {
      throw new MigrationError(`${name} exited ${outcome.code ?? outcome.signal ?? 'abnormally'}${output}`);
    }
    return outcome.durationMs;
  }

  private get historyFile(): string {
    return path.join(this.options.configDir, COMMAND_HISTORY_FILE);
  }

  /** `{releaseId: appliedAt}` for every release whose up command ran and was not undone. */
  private async history(): Promise<Record<string, number>> {
    let text: string;
    try {
      text = await fs.readFile(this.historyFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new MigrationError(`${this.historyFile} cannot be read: ${errorMessage(err)}`, { cause: err });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (
        typeof parsed !== 'object' ||
        parsed === null ||
        Array.isArray(parsed) ||
        !Object.values(parsed).every((value) => typeof value === 'number')
      ) {
        throw new ProviderError('expected {"releaseId": appliedAt, ...}');
      }
      return parsed as Record<string, number>;
    } catch (err) {
      throw new MigrationError(`${this.historyFile} is not a migration history: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  private async saveHistory(history: Record<string, number>): Promise<void> {
    await fs.mkdir(path.dirname(this.historyFile), { recursive: true });
    // Written aside and renamed, so a crash leaves the old history or the new one, never half of one.
    const temporary = `${this.historyFile}.${process.pid}.tmp`;
    await fs.writeFile(temporary, `${JSON.stringify(history, null, 2)}\n`);
    await fs.rename(temporary, this.historyFile);
  }
}

/** A database copied for a rehearsal, and how to get rid of it. */
interface DatabaseCopy {
  target: DatabaseTarget;
  /** The copy as a person finds it: a database name or a file path. */
  name: string;
  description: string;
  /** Removes the copy; runs on its own timeout, not the rehearsal's signal. */
  drop(): Promise<void>;
}

async function copyDatabase(
  source: DatabaseTarget,
  signal: AbortSignal,
  timeoutMs: number,
  show: (file: string) => string,
): Promise<DatabaseCopy> {
  if (source.kind === 'sqlite') {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipcheck-rehearsal-'));
    const file = path.join(dir, path.basename(source.file));
    const drop = () => fs.rm(dir, { recursive: true, force: true });
    try {
      const session = await SqliteSession.open(source.file, signal, { write: false, timeoutMs });
      try {
        await session.backup(file);
      } finally {
        await session.close();
      }
    } catch (err) {
      await drop();
      throw err;
    }
    return {
      target: { kind: 'sqlite', file },
      name: file,
      description: `${show(source.file)} backed up to ${file}`,
      drop,
    };
  }
  return copyPostgres(source.url, signal);
}

/** Copies a PostgreSQL database with CREATE DATABASE ... TEMPLATE, or pg_dump | psql when it is in use. */
async function copyPostgres(url: string, signal: AbortSignal): Promise<DatabaseCopy> {
  const source = databaseName(url);
  const name = `${REHEARSAL_DATABASE_PREFIX}${crypto.randomBytes(REHEARSAL_NAME_BYTES).toString('hex')}`;
  const target: DatabaseTarget = { kind: 'postgres', url: withDatabase(url, name) };
  const drop = () => dropDatabase(url, name);
  try {
    const description = await fillCopy(url, source, name, target.url, signal);
    return { target, name, description, drop };
  } catch (err) {
    // A stop can land just after the server created the copy; dropping what may not exist is harmless.
    await drop().catch(() => undefined);
    throw err;
  }
}

/** Creates database `name` as a copy of `source`; resolves with how it was made. */
async function fillCopy(
  url: string,
  source: string,
  name: string,
  targetUrl: string,
  signal: AbortSignal,
): Promise<string> {
  try {
    await withMaintenanceClient(url, signal, (client) =>
      client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(source)}`),
    );
    return `created ${name} from ${source} with CREATE DATABASE ... TEMPLATE`;
  } catch (err) {
    const code = errorCode(err);
    const inUse = code === OBJECT_IN_USE;
    // Only the owner or a superuser may copy a database that is not marked as a template.
    const notOwner = code === INSUFFICIENT_PRIVILEGE && /copy database/i.test(errorMessage(err));
    if (!inUse && !notOwner)
      throw new ProviderError(`cannot create ${name}: ${errorMessage(err)}`, { cause: err });
    const why = inUse ? `${source} has other connections, which TEMPLATE does not allow` : errorMessage(err);
    try {
      await withMaintenanceClient(url, signal, async (client) => {
        const settings = await client.query<{ encoding: string; datcollate: string; datctype: string }>(
          'SELECT pg_encoding_to_char(encoding) AS encoding, datcollate, datctype FROM pg_database WHERE datname = $1',
          [source],
        );
        const row = settings.rows[0];
        // template0 holds nothing a dump could clash with; the source's encoding and locale keep sorting the same.
        const like =
          row === undefined
            ? ''
            : ` ENCODING ${pg.escapeLiteral(row.encoding)} LC_COLLATE ${pg.escapeLiteral(row.datcollate)} LC_CTYPE ${pg.escapeLiteral(row.datctype)}`;
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE template0${like}`);
      });
    } catch (createErr) {
      throw new ProviderError(`cannot create ${name} (${why}): ${errorMessage(createErr)}`, {
        cause: createErr,
      });
    }
    try {
      await dumpAndRestore(url, targetUrl, signal);
    } catch (copyErr) {
      throw new ProviderError(
        `cannot copy ${source} into ${name}: ${why}, and pg_dump | psql failed: ${errorMessage(copyErr)}`,
        {
          cause: copyErr,
        },
      );
    }
    return `created ${name} and copied ${source} into it with pg_dump | psql (${why})`;
  }
}

/** Drops a rehearsal database, closing whatever connections are left on it. */
async function dropDatabase(url: string, name: string): Promise<void> {
  const signal = AbortSignal.timeout(DROP_TIMEOUT_MS);
  await withMaintenanceClient(url, signal, async (client) => {
    try {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    } catch (err) {
      if (errorCode(err) !== SYNTAX_ERROR) throw err;
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
    }
  });
}

/** Runs `work` on a connection to the server's maintenance database: CREATE and DROP DATABASE cannot run on their target. */
async function withMaintenanceClient<T>(
  url: string,
  signal: AbortSignal,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  let lastError: unknown;
  for (const database of MAINTENANCE_DATABASES) {
    const client = new pg.Client({
      connectionString: withDatabase(url, database),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    client.on('error', () => {});
    let pid: number | undefined;
    try {
      await stoppable(client.connect(), signal, () => void client.end().catch(() => undefined));
      pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    } catch (err) {
      await client.end().catch(() => undefined);
      lastError = err;
      if (errorCode(err) === INVALID_CATALOG_NAME) continue;
      throw err;
    }
    try {
      return await stoppable(work(client), signal, () => cancelBackend(withDatabase(url, database), pid));
    } finally {
      const ending = client.end().catch(() => undefined);
      if (!signal.aborted) await ending;
    }
  }
  throw lastError;
}

/** Pipes pg_dump of `sourceUrl` into psql on `targetUrl`; passwords travel in PGPASSWORD, not in argv. */
async function dumpAndRestore(sourceUrl: string, targetUrl: string, signal: AbortSignal): Promise<void> {
  const source = forLibpq(sourceUrl);
  const target = forLibpq(targetUrl);
  const dump = spawn('pg_dump', ['--dbname', source.uri], {
    env: libpqEnv(source.password),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const restore = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--dbname', target.uri], {
    env: libpqEnv(target.password),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  // psql exiting early breaks the pipe; its exit status says why.
  restore.stdin?.on('error', () => {});
  dump.stdout?.pipe(restore.stdin!);
  const kill = () => {
    dump.kill('SIGKILL');
    restore.kill('SIGKILL');
  };
  signal.addEventListener('abort', kill, { once: true });
  try {
    const [dumped, restored] = await Promise.all([finished(dump), finished(restore)]);
    if (signal.aborted) throw new Stopped();
    if (dumped !== undefined) throw new ProviderError(`pg_dump ${dumped}`);
    if (restored !== undefined) throw new ProviderError(`psql ${restored}`);
  } finally {
    signal.removeEventListener('abort', kill);
  }
}

/** Resolves with undefined when the process exits 0, else with why it did not (never rejects). */
function finished(child: ChildProcess): Promise<string | undefined> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
  });
  return new Promise((resolve) => {
    child.once('error', (err) => {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      resolve(missing ? 'is not installed (not found on PATH)' : `cannot start: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const tail = lastLines(stderr);
      resolve(`exited ${code ?? signal}${tail === '' ? '' : `: ${tail}`}`);
    });
  });
}

async function openSession(
  target: DatabaseTarget,
  signal: AbortSignal,
  options: { write: boolean; timeoutMs: number },
): Promise<Session> {
  return target.kind === 'postgres'
    ? PostgresSession.open(target.url, signal, options)
    : SqliteSession.open(target.file, signal, options);
}

/** A PostgreSQL connection; a write session holds an advisory lock so two migrators never interleave. */
class PostgresSession implements Session {
  private constructor(
    private readonly client: pg.Client,
    private readonly url: string,
    private readonly pid: number | undefined,
    private readonly signal: AbortSignal,
  ) {}

  static async open(url: string, signal: AbortSignal, options: { write: boolean }): Promise<PostgresSession> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // A connection lost mid-query fails that query; that is where it is reported.
    client.on('error', () => {});
    try {
      await stoppable(client.connect(), signal, () => void client.end().catch(() => undefined));
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const session = new PostgresSession(client, url, pid, signal);
      if (options.write) {
        await session.run(client.query('SELECT pg_advisory_lock(hashtext($1))', [HISTORY_TABLE]));
      }
      return session;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (err instanceof Stopped) throw err;
      throw new ProviderError(`cannot connect to ${redactUrl(url)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async history(): Promise<AppliedMigration[]> {
    const present = await this.run(
      this.client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
        HISTORY_TABLE,
      ]),
    );
    if (present.rows[0]?.present !== true) return [];
    const rows = await this.run(
      this.client.query<{ id: string; release_id: number; applied_at: string }>(
        `SELECT id, release_id, applied_at FROM ${HISTORY_TABLE}`,
      ),
    );
    return rows.rows.map((row) => ({
      id: row.id,
      releaseId: row.release_id,
      appliedAt: Number(row.applied_at),
    }));
  }

  async ensureHistory(): Promise<void> {
    await this.run(this.client.query(HISTORY_DDL));
  }

  async apply(sql: string, change: HistoryChange): Promise<boolean> {
    return this.run(this.transaction(sql, change));
  }

  async close(): Promise<void> {
    const ending = this.client.end().catch(() => undefined);
    // After a stop the socket may not answer; end() closes it in the background.
    if (!this.signal.aborted) await ending;
  }

  private async transaction(sql: string, change: HistoryChange): Promise<boolean> {
    const client = this.client;
    const row = 'insert' in change ? change.insert : change.remove;
    await client.query('BEGIN');
    try {
      const found = await client.query<{ release_id: number }>(
        `SELECT release_id FROM ${HISTORY_TABLE} WHERE id = $1`,
        [row.id],
      );
      const existing = found.rows[0];
      const due = 'insert' in change ? existing === undefined : existing?.release_id === row.releaseId;
      if (!due) {
        await client.query('ROLLBACK');
        return false;
      }
      try {
        await client.query(sql);
      } catch (err) {
        throw new InputError(describePostgresError(err, sql), { cause: err });
      }
      if (client.getTransactionStatus() === 'I') {
        throw new InputError(
          'the file ended the transaction itself (COMMIT or ROLLBACK in it); remove those statements',
        );
      }
      if ('insert' in change) {
        await client.query(`INSERT INTO ${HISTORY_TABLE} (id, release_id, applied_at) VALUES ($1, $2, $3)`, [
          row.id,
          row.releaseId,
          row.appliedAt,
        ]);
      } else {
        await client.query(`DELETE FROM ${HISTORY_TABLE} WHERE id = $1`, [row.id]);
      }
      if (this.signal.aborted) throw new Stopped();
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private run<T>(work: Promise<T>): Promise<T> {
    return stoppable(work, this.signal, () => cancelBackend(this.url, this.pid));
  }
}

/** Asks the server to cancel the statement `pid` is running; best effort, never throws. */
function cancelBackend(url: string, pid: number | undefined): void {
  if (pid === undefined) return;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => {});
  void client
    .connect()
    .then(() => client.query('SELECT pg_cancel_backend($1)', [pid]))
    .catch(() => undefined)
    .finally(() => client.end().catch(() => undefined));
}

/** The database's error, with the line of the file it points at when PostgreSQL gives a position. */
function describePostgresError(err: unknown, sql: string): string {
  const position = Number((err as { position?: unknown }).position);
  const text = errorMessage(err);
  if (!Number.isInteger(position) || position < 1) return text;
  const line = sql.slice(0, position - 1).split('\n').length;
  return `line ${line}: ${text}`;
}

/**
 * Runs SQLite work in a child process: better-sqlite3 is synchronous, and a long migration on the
 * main thread would stall the control plane and its proxy. A process, unlike a worker thread, can
 * be killed mid-statement; SQLite's journal then rolls the open transaction back. CommonJS because
 * `node -e` runs a script; jobs arrive over IPC so no SQL appears in a process list.
 */
const SQLITE_RUNNER = `
const TABLE = ${JSON.stringify(HISTORY_TABLE)};
const DDL = ${JSON.stringify(HISTORY_DDL)};
let db;
const ops = {
  open(job) {
    const Database = require(job.driver);
    db = new Database(job.file, { readonly: job.readonly, fileMustExist: true, timeout: job.busyTimeoutMs });
  },
  history() {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(TABLE);
    if (table === undefined) return [];
    return db.prepare('SELECT id, release_id AS releaseId, applied_at AS appliedAt FROM ' + TABLE).all();
  },
  ensureHistory() {
    db.exec(DDL);
  },
  apply(job) {
    const run = db.transaction(() => {
      const row = db.prepare('SELECT release_id AS releaseId FROM ' + TABLE + ' WHERE id = ?').get(job.id);
      const due = job.insert ? row === undefined : row !== undefined && row.releaseId === job.releaseId;
      if (!due) return false;
      db.exec(job.sql);
      if (!db.inTransaction) {
        throw new Error('the file ended the transaction itself (COMMIT or ROLLBACK in it); remove those statements');
      }
      if (job.insert) {
        db.prepare('INSERT INTO ' + TABLE + ' (id, release_id, applied_at) VALUES (?, ?, ?)').run(job.id, job.releaseId, job.appliedAt);
      } else {
        db.prepare('DELETE FROM ' + TABLE + ' WHERE id = ?').run(job.id);
      }
      return true;
    });
    return run.immediate();
  },
  backup(job) {
    return db.backup(job.to).then(() => undefined);
  },
};
process.on('message', async (job) => {
  let reply;
  try {
    reply = { ok: true, result: await ops[job.op](job) };
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  process.send(reply);
});
process.on('disconnect', () => {
  if (db !== undefined) db.close();
  process.exit(0);
});
`;

type RunnerReply = { ok: true; result: unknown } | { ok: false; error: string };

/** A SQLite database opened by a runner process; one request at a time. */
class SqliteSession implements Session {
  private waiting: { resolve: (value: unknown) => void; reject: (err: Error) => void } | undefined;
  private exited: Error | undefined;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly signal: AbortSignal,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
    });
    child.on('message', (reply: RunnerReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (reply.ok) waiting?.resolve(reply.result);
      else waiting?.reject(new ProviderError(reply.error));
    });
    const fail = (err: Error) => {
      this.exited ??= err;
      this.waiting?.reject(this.exited);
      this.waiting = undefined;
    };
    // `on`, not `once`: a failed send after a failed start is a second error, and it must not crash the control plane.
    child.on('error', fail);
    // 'close', not 'exit': a reply sent just before exiting may still be queued on the IPC channel when
    // 'exit' fires; 'close' comes after every message has been delivered.
    child.once('close', (code, signal) => {
      const last = this.stderr.trim().split('\n').at(-1);
      fail(new ProviderError(`the SQLite runner exited (${signal ?? code})${last ? `: ${last}` : ''}`));
    });
  }

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
    const child = spawn(process.execPath, ['-e', SQLITE_RUNNER], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const session = new SqliteSession(child, signal);
    try {
      await session.request({
        op: 'open',
        // Resolved here: `node -e` would resolve from the process's cwd, not from shipcheck.
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        file,
        readonly: !options.write,
        // Waiting for the app's write lock is bounded by the operation's timeout, not SQLite's own.
        busyTimeoutMs: options.timeoutMs,
      });
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  async history(): Promise<AppliedMigration[]> {
    return (await this.request({ op: 'history' })) as AppliedMigration[];
  }

  async ensureHistory(): Promise<void> {
    await this.request({ op: 'ensureHistory' });
  }

  async apply(sql: string, change: HistoryChange): Promise<boolean> {
    const row = 'insert' in change ? change.insert : change.remove;
    return (await this.request({ op: 'apply', sql, insert: 'insert' in change, ...row })) as boolean;
  }

  /** Copies the open database to `to` with SQLite's online backup, which sees one consistent state. */
  async backup(to: string): Promise<void> {
    await this.request({ op: 'backup', to });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (this.signal.aborted || !child.connected) {
      child.kill('SIGKILL');
    } else {
      // Disconnecting lets the runner close the database cleanly before it exits.
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), RUNNER_EXIT_GRACE_MS);
      void exited.finally(() => clearTimeout(timer));
    }
    await exited;
  }

  private request(job: Record<string, unknown>): Promise<unknown> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const reply = new Promise<unknown>((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
    this.child.send(job);
    // Killing the runner mid-transaction is safe: SQLite rolls the transaction back on the next open.
    return stoppable(reply, this.signal, () => this.child.kill('SIGKILL'));
  }
}

/** Options of `runProcess`. */
interface ProcessOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  timeoutMs: number;
  signal?: AbortSignal;
}

type ProcessOutcome =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; output: string; durationMs: number }
  | { kind: 'timeout'; output: string }
  | { kind: 'aborted'; output: string }
  | { kind: 'not-started'; error: string; output: string };

/** Runs a shell line (/bin/sh -c) or an argv array in its own process group, stopped on timeout or abort. */
async function runProcess(command: string | string[], options: ProcessOptions): Promise<ProcessOutcome> {
  const [file, args] = commandArgv(command);
  if (options.signal?.aborted) return { kind: 'aborted', output: '' };
  const startedAt = Date.now();
  let output = '';
  let stoppedBy: 'timeout' | 'aborted' | undefined;
  // Detached: the command leads its own process group, so stopping it reaches everything it started.
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'aborted') => {
    if (stoppedBy !== undefined) return;
    stoppedBy = why;
    signalChildGroup(child, 'SIGTERM');
    killTimer = setTimeout(() => signalChildGroup(child, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
  const onAbort = () => stop('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const ending = await new Promise<
    { code: number | null; signal: NodeJS.Signals | null } | { error: string }
  >((resolve) => {
    child.once('error', (err) => {
      if (child.pid === undefined) resolve({ error: err.message });
    });
    // 'exit', not 'close': a background process holding the pipes must not keep the release waiting.
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  clearTimeout(killTimer);
  options.signal?.removeEventListener('abort', onAbort);
  // Whatever the command left running in its group belongs to the step, not to the control plane.
  signalChildGroup(child, 'SIGKILL');
  child.stdout?.destroy();
  child.stderr?.destroy();
  if ('error' in ending) return { kind: 'not-started', error: ending.error, output };
  if (stoppedBy === 'timeout') return { kind: 'timeout', output };
  if (stoppedBy === 'aborted') return { kind: 'aborted', output };
  return { kind: 'exited', ...ending, output, durationMs: Date.now() - startedAt };
}

/**
 * `work`'s result; when `signal` fires first, `onStop` runs and `work` gets CANCEL_GRACE_MS to settle
 * (a cancelled statement rolls back) before the result is a Stopped rejection.
 */
function stoppable<T>(work: Promise<T>, signal: AbortSignal, onStop: () => void): Promise<T> {
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

function parseDatabase(database: string, configDir: string): DatabaseTarget {
  if (database.startsWith(SQLITE_PREFIX)) {
    return { kind: 'sqlite', file: path.resolve(configDir, database.slice(SQLITE_PREFIX.length)) };
  }
  return { kind: 'postgres', url: database };
}

/** The database as the command form passes it on: a SQLite path made absolute, a URL unchanged. */
/** The database `url` names, which a copy needs: libpq's default (the user's name) is not assumed. */
function databaseName(url: string): string {
  const name = namedDatabase(url);
  if (name === undefined) throw new InputError(`${redactUrl(url)} names no database to copy`);
  return name;
}

function absoluteDatabase(database: string, configDir: string): string {
  const target = parseDatabase(database, configDir);
  return target.kind === 'sqlite' ? `${SQLITE_PREFIX}${target.file}` : target.url;
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

function checkReleaseId(releaseId: number): void {
  // The history column is an integer, and the rehearsal owns release 0.
  if (!Number.isSafeInteger(releaseId) || releaseId <= REHEARSAL_RELEASE_ID) {
    throw new MigrationError(
      `a release id is a whole number above ${REHEARSAL_RELEASE_ID}, got ${releaseId}`,
    );
  }
}

/** `text` without a leading `name: `, which the step line already says. */
function withoutPrefix(text: string, name: string): string {
  return text.startsWith(`${name}: `) ? text.slice(name.length + 2) : text;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-OUTPUT_TAIL_LINES).join(' | ');
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
