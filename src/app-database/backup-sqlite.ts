/**
 * Backups on SQLite, through the SQLite runner (sqlite-client.ts): the online backup with its row
 * counts, safe while the app is writing, and counting the rows of a source or of a restored copy.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, InputError, ProviderError } from '../errors.js';
import {
  BackupStopped,
  exists,
  freeName,
  partialPath,
  publish,
  safeName,
  SQLITE_EXTENSION,
  timestamp,
  type Backup,
} from './backup-folder.js';
import { SqliteRunner, type TableCount } from './sqlite-client.js';

/** How long a SQLite read waits for a writer's lock before giving up. */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** The row counts of a restored copy, per table, or why it cannot be read. */
export interface RestoredCounts {
  tables: Record<string, TableCount>;
  /** Set when the restored database could not be read at all. */
  unreadable?: string;
}

/** Backs up the SQLite file `source` into `dir`, with counts from the same snapshot where WAL allows. */
export async function sqliteBackup(
  source: string,
  dir: string,
  at: number,
  signal: AbortSignal,
): Promise<Backup> {
  await requireFile(source);
  const name = path.basename(source, path.extname(source));
  const target = await freeName(dir, `${safeName(name)}-${timestamp(at)}`, SQLITE_EXTENSION);
  const partial = partialPath(target);
  try {
    const reply = await inRunner(source, { readonly: true }, signal, (runner) =>
      runner.request({ op: 'backup', to: partial }),
    );
    return await publish(partial, target, { at, sameSnapshot: reply.sameSnapshot, tables: reply.tables });
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  }
}

/** Exact per-table row counts of the SQLite file `file`, opened read-only. */
export async function countSqliteSource(file: string, signal: AbortSignal): Promise<Record<string, number>> {
  await requireFile(file);
  const reply = await inRunner(file, { readonly: true }, signal, (runner) =>
    runner.request({ op: 'count', check: false }),
  );
  const counts: Record<string, number> = {};
  for (const [table, count] of Object.entries(reply.tables)) {
    if (typeof count !== 'number')
      throw new ProviderError(`cannot count rows of ${table} in ${file}: ${count.error}`);
    counts[table] = count;
  }
  return counts;
}

/**
 * Counts the rows of a restored copy and checks it with `PRAGMA quick_check`; a copy that cannot be
 * read is `unreadable`, not an error. Opened read-write, as a restored database would be.
 */
export async function countSqliteRestore(file: string, signal: AbortSignal): Promise<RestoredCounts> {
  try {
    const reply = await inRunner(file, { readonly: false }, signal, (runner) =>
      runner.request({ op: 'count', check: true }),
    );
    return { tables: reply.tables, ...(reply.problem ? { unreadable: reply.problem } : {}) };
  } catch (err) {
    if (err instanceof BackupStopped) throw err;
    return { tables: {}, unreadable: errorMessage(err) };
  }
}

/** Runs `work` on `file` opened in a SQLite runner, closed however `work` ends; `signal` stops both. */
async function inRunner<T>(
  file: string,
  options: { readonly: boolean },
  signal: AbortSignal,
  work: (runner: SqliteRunner) => Promise<T>,
): Promise<T> {
  let runner: SqliteRunner | undefined;
  try {
    runner = await SqliteRunner.open(file, {
      readonly: options.readonly,
      busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS,
      signal,
    });
    return await work(runner);
  } catch (err) {
    if (signal.aborted) throw new BackupStopped('stopped');
    throw err;
  } finally {
    await runner?.close();
  }
}

async function requireFile(file: string): Promise<void> {
  if (!(await exists(file))) throw new InputError(`backup.database: SQLite file ${file} does not exist`);
}
