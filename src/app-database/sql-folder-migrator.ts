/**
 * The folder form of the migrator: `.sql` files that shipcheck applies itself, each in one transaction
 * with its history row, on PostgreSQL (postgres-session.ts) or SQLite (sqlite-session.ts); and its
 * rehearsal, which runs up, down and up again on a copy (database-copy.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import { copyDatabase, type DatabaseCopy } from './database-copy.js';
import { listMigrationFiles } from './migration-files.js';
import type { DatabaseTarget } from './database-target.js';
import { Stopped, type Session } from './migration-session.js';
import {
  checkReleaseId,
  describeIrreversible,
  MigrationError,
  REHEARSAL_RELEASE_ID,
  type AppliedMigration,
  type Migrator,
  type PendingOptions,
  type Rehearsal,
} from './migrator.js';
import { PostgresSession } from './postgres-session.js';
import { SqliteSession } from './sqlite-session.js';

/** The folder form: `.sql` files applied by shipcheck to PostgreSQL or SQLite. */
export class SqlFolderMigrator implements Migrator {
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

async function openSession(
  target: DatabaseTarget,
  signal: AbortSignal,
  options: { write: boolean; timeoutMs: number },
): Promise<Session> {
  return target.kind === 'postgres'
    ? PostgresSession.open(target.url, signal, options)
    : SqliteSession.open(target.file, signal, options);
}

/** `text` without a leading `name: `, which the step line already says. */
function withoutPrefix(text: string, name: string): string {
  return text.startsWith(`${name}: `) ? text.slice(name.length + 2) : text;
}
