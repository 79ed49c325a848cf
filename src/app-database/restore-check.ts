/**
 * The restore check: restores a backup into a scratch database (PostgreSQL) or file (SQLite), or has
 * the user's restoreCommand do it, and compares per-table row counts with those recorded at backup
 * time, else with the live source. The scratch copy is always removed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.js';
import { commandArgv } from '../util/process-group.js';
import { isPostgresUrl, forLibpq, libpqEnv } from '../util/postgres-url.js';
import { plural } from '../util/words.js';
import { countSource } from './backup.js';
import {
  BackupStopped,
  exists,
  readRecordedCounts,
  requireDatabase,
  SQLITE_EXTENSION,
  type BackupConfig,
} from './backup-folder.js';
import { countPostgresUrl, withScratchDatabase } from './backup-postgres.js';
import { exitText, findPgTool, quote, runProgram } from './backup-programs.js';
import { countSqliteRestore, type RestoredCounts } from './backup-sqlite.js';
import { withinBackupTimeout } from './backup-timeout.js';
import { parseDatabase } from './database-target.js';

/** One table's row count in the source (or as recorded at backup time) and in the restored copy; null when absent. */
export interface TableComparison {
  table: string;
  source: number | null;
  restored: number | null;
  /** Why the restored table could not be counted, when it could not. */
  error?: string;
}

/** What the source counts of a comparison are: recorded with the backup, counted live, or none at all. */
export type CountBasis = 'backup' | 'live' | 'none';

/** The outcome of restoring one backup into a scratch database and comparing row counts. */
export interface RestoreComparison {
  ok: boolean;
  tables: TableComparison[];
  /** One line a person reads, naming every table that differs (up to a few). */
  summary: string;
  basis: CountBasis;
  /** The scratch database restored into (already dropped or deleted): a PostgreSQL name or a temp path. */
  scratch: string;
}

/** Differences named in a summary; the rest are counted, and all are in the evidence data. */
const DIFFERENCES_SHOWN = 3;

/**
 * Restores `file` into a fresh scratch database and compares per-table row counts with those recorded at
 * backup time (the sidecar), else with the live source. The scratch database is always removed.
 * A bad backup is `ok: false`; throws `InputError`/`ProviderError` when the check cannot be made at all
 * (no restoreCommand, a missing client program, an unreachable server), `BackupStopped` on `signal`,
 * `BackupTimedOut` after `backup.timeout`.
 */
export async function restoreAndCompare(
  config: BackupConfig,
  configDir: string,
  file: string,
  signal: AbortSignal,
): Promise<RestoreComparison> {
  const what = `the restore check of ${path.basename(file)}`;
  return withinBackupTimeout(config, what, signal, (bounded) =>
    restoreAndCompareNow(config, configDir, file, bounded),
  );
}

async function restoreAndCompareNow(
  config: BackupConfig,
  configDir: string,
  file: string,
  signal: AbortSignal,
): Promise<RestoreComparison> {
  const recorded = await readRecordedCounts(file);
  const sourceCounts = async (): Promise<Counted> => {
    if (recorded !== undefined) return { basis: 'backup', tables: recorded.tables };
    if (config.database === undefined) return { basis: 'none', tables: {} };
    return { basis: 'live', tables: await countSource(config.database, configDir, signal) };
  };
  if (config.command !== undefined) {
    return restoreWithCommand(config, configDir, file, sourceCounts, signal);
  }
  const target = parseDatabase(requireDatabase(config), configDir);
  if (target.kind === 'sqlite') return restoreSqlite(file, sourceCounts, signal);
  return restorePostgres(target.url, file, sourceCounts, signal);
}

interface Counted {
  basis: CountBasis;
  tables: Record<string, number>;
}

/** What a restore produced: the restored counts (or why none), and how the restoring program ended. */
interface Restored extends RestoredCounts {
  /** Set when the restoring program failed: `pg_restore failed (exit 1): ...`. */
  failure?: string;
}

async function restorePostgres(
  url: string,
  file: string,
  sourceCounts: () => Promise<Counted>,
  signal: AbortSignal,
): Promise<RestoreComparison> {
  const pgRestore = await findPgTool('pg_restore');
  return withScratchDatabase(url, signal, async (scratchUrl, scratchName) => {
    const { uri: bare, password } = forLibpq(scratchUrl);
    const ending = await runProgram(pgRestore, ['--no-owner', `--dbname=${bare}`, file], {
      cwd: path.dirname(file),
      env: libpqEnv(password),
      signal,
    });
    if (ending.stopped) throw new BackupStopped('restore stopped');
    const failure =
      ending.code === 0 ? undefined : `pg_restore failed (${exitText(ending)})${quote(ending.output)}`;
    // Even after a failure, what did restore is counted: the summary then names the tables that lost rows.
    const restored = await countPostgresUrl(scratchUrl, signal);
    return compare(
      file,
      await sourceCounts(),
      { tables: restored, ...(failure ? { failure } : {}) },
      scratchName,
    );
  });
}

async function restoreSqlite(
  file: string,
  sourceCounts: () => Promise<Counted>,
  signal: AbortSignal,
): Promise<RestoreComparison> {
  // A copy, not the backup itself: opening a database can change its file (journal recovery, WAL files).
  return withScratchFile(async (scratch) => {
    await fs.copyFile(file, scratch);
    const restored = await countSqliteRestore(scratch, signal);
    return compare(file, await sourceCounts(), restored, scratch);
  });
}

async function restoreWithCommand(
  config: BackupConfig,
  configDir: string,
  file: string,
  sourceCounts: () => Promise<Counted>,
  signal: AbortSignal,
): Promise<RestoreComparison> {
  const restoreCommand = config.restoreCommand;
  if (restoreCommand === undefined) {
    throw new InputError(
      'backup.restoreCommand is not set: with backup.command, shipcheck needs a restoreCommand that ' +
        'restores $SHIPCHECK_BACKUP_FILE into $SHIPCHECK_SCRATCH_DATABASE',
    );
  }
  const restoreInto = async (scratch: string): Promise<string | undefined> => {
    const [program, args] = commandArgv(restoreCommand);
    const ending = await runProgram(program, args, {
      cwd: configDir,
      env: { ...process.env, SHIPCHECK_BACKUP_FILE: file, SHIPCHECK_SCRATCH_DATABASE: scratch },
      signal,
    });
    if (ending.stopped) throw new BackupStopped('restore stopped');
    return ending.code === 0
      ? undefined
      : `restoreCommand failed (${exitText(ending)})${quote(ending.output)}`;
  };

  const source = config.database;
  if (source !== undefined && isPostgresUrl(source)) {
    return withScratchDatabase(source, signal, async (scratchUrl, scratchName) => {
      const failure = await restoreInto(scratchUrl);
      const restored = await countPostgresUrl(scratchUrl, signal);
      return compare(
        file,
        await sourceCounts(),
        { tables: restored, ...(failure ? { failure } : {}) },
        scratchName,
      );
    });
  }
  return withScratchFile(async (scratch) => {
    const failure = await restoreInto(scratch);
    const restored: Restored = (await exists(scratch))
      ? await countSqliteRestore(scratch, signal)
      : { tables: {}, unreadable: 'the restoreCommand wrote nothing to $SHIPCHECK_SCRATCH_DATABASE' };
    return compare(file, await sourceCounts(), { ...restored, ...(failure ? { failure } : {}) }, scratch);
  });
}

async function withScratchFile<T>(work: (scratch: string) => Promise<T>): Promise<T> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'shipcheck-restore-'));
  try {
    return await work(path.join(folder, `restored${SQLITE_EXTENSION}`));
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

/** Lines up source and restored counts table by table and words the verdict. */
function compare(file: string, counted: Counted, restored: Restored, scratch: string): RestoreComparison {
  const names = [...new Set([...Object.keys(counted.tables), ...Object.keys(restored.tables)])].sort();
  const tables: TableComparison[] = names.map((table) => {
    const source = counted.tables[table] ?? null;
    const got = restored.tables[table];
    if (got === undefined) return { table, source, restored: null };
    if (typeof got === 'number') return { table, source, restored: got };
    return { table, source, restored: null, error: got.error };
  });
  const name = path.basename(file);
  const rows = tables.reduce((sum, t) => sum + (t.restored ?? 0), 0);
  const size = `${plural(tables.length, 'table')}, ${plural(rows, 'row')}`;
  const prefix = `restored ${name} into a scratch database`;
  const failed = `restoring ${name} into a scratch database failed`;
  // A failed restore program explains an unreadable result; saying both would repeat the cause.
  const problem =
    restored.failure ??
    (restored.unreadable === undefined
      ? undefined
      : `the restored copy cannot be read: ${restored.unreadable}`);
  const problems = problem === undefined ? [] : [problem];

  if (counted.basis === 'none') {
    // Nothing to compare with: the restore must at least work and bring back some tables.
    const empty = tables.length === 0 ? ['the scratch database has no tables after the restore'] : [];
    const all = [...problems, ...empty];
    const summary =
      all.length > 0
        ? `${failed}: ${all.join('; ')}`
        : `${prefix}: ${size}; no backup.database to compare counts with`;
    return { ok: all.length === 0, tables, summary, basis: counted.basis, scratch };
  }

  const differing = tables.filter((t) => t.source !== t.restored);
  const when = counted.basis === 'backup' ? 'at backup time' : 'in the live source';
  const shown = differing.slice(0, DIFFERENCES_SHOWN).map((t) => describeDifference(t, when));
  if (differing.length > DIFFERENCES_SHOWN) shown.push(`and ${differing.length - DIFFERENCES_SHOWN} more`);
  const verdict =
    differing.length === 0
      ? `${size}, all counts match`
      : `${differing.length} of ${plural(tables.length, 'table')} ${differing.length === 1 ? 'differs' : 'differ'}: ${shown.join('; ')}`;
  const live =
    counted.basis === 'live'
      ? ' (no counts were recorded with this backup, so rows written since it show as differences)'
      : '';
  const ok = problems.length === 0 && differing.length === 0;
  const summary =
    problems.length === 0
      ? `${prefix}: ${verdict}${live}`
      : `${failed}: ${problems.join('; ')}; ${verdict}${live}`;
  return { ok, tables, summary, basis: counted.basis, scratch };
}

function describeDifference(t: TableComparison, when: string): string {
  const source = t.source === null ? `not there ${when}` : `${formatCount(t.source)} ${when}`;
  const restored =
    t.error !== undefined
      ? `unreadable in the restore (${t.error})`
      : t.restored === null
        ? 'missing from the restore'
        : `${formatCount(t.restored)} restored`;
  return `${t.table}: ${source}, ${restored}`;
}

/** `1,234` */
export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}
