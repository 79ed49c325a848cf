/**
 * Backups of the user's database (pg_dump, SQLite's online backup, or a command) and the
 * restore-and-compare check. One file for now because the three sources share one flow: make, count,
 * restore into scratch, compare. It is due to be split (issue 9): the SQLite runner program kept in a
 * template string becomes a typed child module shared with the migrator and the SQL check, and
 * PostgreSQL and SQLite each get their own file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { constants as fsConstants, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { errorMessage, InputError, ProviderError, ShipcheckError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { plural } from '../util/words.js';
import { databaseOf, forLibpq, isPostgresUrl, libpqEnv, withDatabase } from '../util/postgres-url.js';
import { redactUrl } from '../util/redact.js';
import { commandArgv, signalChildGroup } from '../util/process-group.js';

/** The validated `backup` block of a config. */
export type BackupConfig = NonNullable<Config['backup']>;

/** One backup file: its absolute path, size, and when it was taken (epoch ms; the file's mtime). */
export interface Backup {
  file: string;
  bytes: number;
  at: number;
}

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

/** Per-table row counts written beside a backup as `<file>.counts.json`. */
export interface RecordedCounts {
  /** Epoch ms when the counts were taken. */
  at: number;
  /** True when the counts come from the very snapshot the backup was made from; false when taken just before. */
  sameSnapshot: boolean;
  tables: Record<string, number>;
}

/** Thrown when the caller's signal stops a backup or a restore; anything started is cleaned up first. */
export class BackupStopped extends ShipcheckError {}

const SQLITE_PREFIX = 'sqlite:';
/** Suffix of the sidecar holding the counts taken at backup time. */
export const COUNTS_SUFFIX = '.counts.json';
const PG_DUMP_EXTENSION = '.dump';
const SQLITE_EXTENSION = '.sqlite';
/**
 * A backup is written under a hidden name and renamed when complete: a half-written file must never be
 * taken for the newest backup. Hidden files are also where shipcheck keeps its own bookkeeping.
 */
const HIDDEN_PREFIX = '.';
const PARTIAL_SUFFIX = '.partial';
/** Name prefix of the databases restore checks create; each is dropped when its check ends. */
export const SCRATCH_DATABASE_PREFIX = 'shipcheck_restore_';
const RANDOM_BYTES = 6;
/** Where Debian and Ubuntu install the versioned PostgreSQL client programs. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
const PG_CLIENT_HINT = 'apt-get install postgresql-client';
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a SQLite read waits for a writer's lock before giving up. */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;
/** Time a stopped program gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;
/** After a program exits, how long a background child holding its output pipes may keep them open. */
const OUTPUT_GRACE_MS = 1000;
/** Characters of a program's output kept to explain its failure. */
const OUTPUT_TAIL_CHARS = 4096;
/** Longest line of a program's output quoted in a summary. */
const QUOTED_LINE_CHARS = 200;
/** Differences named in a summary; the rest are counted, and all are in the evidence data. */
const DIFFERENCES_SHOWN = 3;
/** PostgreSQL's SQLSTATE for a syntax error: servers before 13 do not know DROP DATABASE ... WITH (FORCE). */
const SQLSTATE_SYNTAX_ERROR = '42601';

const recordedCountsSchema = z.object({
  at: z.number(),
  sameSnapshot: z.boolean(),
  tables: z.record(z.string(), z.number().int().min(0)),
});

/** The absolute folder backups of `config` are written to and found in. */
export function backupDir(config: BackupConfig, configDir: string): string {
  return path.resolve(configDir, config.dir);
}

/**
 * Makes a backup now into the backup folder and returns it, with a `<file>.counts.json` sidecar of per-table
 * row counts when the source database is known. The file's mtime is set to when the backup began, since
 * that is the moment its data is from. Throws `InputError` for config problems, `ProviderError` when a
 * tool or database fails, `BackupStopped` when `signal` fires.
 */
export async function makeBackup(
  config: BackupConfig,
  configDir: string,
  clock: Clock,
  signal: AbortSignal = new AbortController().signal,
): Promise<Backup> {
  const dir = backupDir(config, configDir);
  await fs.mkdir(dir, { recursive: true });
  const at = clock.now();
  if (config.command !== undefined) return commandBackup(config, configDir, dir, at, signal);
  const database = requireDatabase(config);
  if (database.startsWith(SQLITE_PREFIX)) {
    return sqliteBackup(sqlitePath(database, configDir), dir, at, signal);
  }
  return postgresBackup(database, dir, at, signal);
}

/** The newest backup in the backup folder (by mtime), or undefined when there is none or no folder. */
export async function newestBackup(config: BackupConfig, configDir: string): Promise<Backup | undefined> {
  const dir = backupDir(config, configDir);
  const files = await listBackups(dir);
  return files[0];
}

/**
 * Restores `file` into a fresh scratch database and compares per-table row counts with those recorded at
 * backup time (the sidecar), else with the live source. The scratch database is always removed.
 * A bad backup is `ok: false`; throws `InputError`/`ProviderError` when the check cannot be made at all
 * (no restoreCommand, a missing client program, an unreachable server), `BackupStopped` on `signal`.
 */
export async function restoreAndCompare(
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
  const database = requireDatabase(config);
  if (database.startsWith(SQLITE_PREFIX)) return restoreSqlite(file, sourceCounts, signal);
  return restorePostgres(database, file, sourceCounts, signal);
}

/** The counts recorded beside `file` at backup time, or undefined when there are none (or they are unreadable). */
export async function readRecordedCounts(file: string): Promise<RecordedCounts | undefined> {
  let text: string;
  try {
    text = await fs.readFile(`${file}${COUNTS_SUFFIX}`, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = recordedCountsSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    // Unparseable counts compare as no counts: the summary then says the live source was used.
    return undefined;
  }
}

/**
 * The path of a PostgreSQL client program (`pg_dump`, `pg_restore`): on `searchPath`, else the newest
 * version under `debianRoot`. Throws `ProviderError` naming the package to install.
 */
export async function findPgTool(
  name: string,
  searchPath: string = process.env.PATH ?? '',
  debianRoot: string = DEBIAN_PG_ROOT,
): Promise<string> {
  for (const folder of searchPath.split(path.delimiter)) {
    if (folder !== '' && (await isExecutableFile(path.join(folder, name)))) return path.join(folder, name);
  }
  const versions = await fs.readdir(debianRoot).catch(() => [] as string[]);
  // Newest first: pg_dump refuses servers newer than itself, so the newest client is the safest pick.
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a) || b.localeCompare(a));
  for (const version of versions) {
    const candidate = path.join(debianRoot, version, 'bin', name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new ProviderError(`${name} not found; ${PG_CLIENT_HINT}`);
}

// ---- making backups ----

async function postgresBackup(url: string, dir: string, at: number, signal: AbortSignal): Promise<Backup> {
  const pgDump = await findPgTool('pg_dump');
  const target = await freeName(dir, `${safeName(databaseOf(url))}-${timestamp(at)}`, PG_DUMP_EXTENSION);
  const partial = partialPath(target);
  const client = await connect(url, signal);
  try {
    // One read-only snapshot for the counts, handed to pg_dump, so counts and dump show the same data.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let snapshot: string | undefined;
    try {
      const result = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      snapshot = result.rows[0]?.id;
    } catch {
      // Some servers and poolers cannot export snapshots; then the counts are taken just before the dump.
      await client.query('ROLLBACK');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    }
    const tables = await abortable(countPostgresTables(client), signal);
    const { uri: bare, password } = forLibpq(url);
    const args = ['--format=custom', `--file=${partial}`, ...(snapshot ? [`--snapshot=${snapshot}`] : [])];
    // The URL goes in argv without its password, which travels in the environment instead.
    const ending = await runProgram(pgDump, [...args, `--dbname=${bare}`], {
      cwd: dir,
      env: libpqEnv(password),
      signal,
    });
    if (ending.stopped) throw new BackupStopped('backup stopped');
    if (ending.code !== 0)
      throw new ProviderError(`pg_dump failed (${exitText(ending)})${quote(ending.output)}`);
    await client.query('COMMIT');
    return await publish(partial, target, { at, sameSnapshot: snapshot !== undefined, tables });
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  } finally {
    await endClient(client, signal);
  }
}

async function sqliteBackup(source: string, dir: string, at: number, signal: AbortSignal): Promise<Backup> {
  await requireFile(source);
  const name = path.basename(source, path.extname(source));
  const target = await freeName(dir, `${safeName(name)}-${timestamp(at)}`, SQLITE_EXTENSION);
  const partial = partialPath(target);
  try {
    const reply = await runSqliteJob<{ tables: Record<string, number>; sameSnapshot: boolean }>(
      { op: 'backup', source, target: partial },
      signal,
    );
    return await publish(partial, target, { at, sameSnapshot: reply.sameSnapshot, tables: reply.tables });
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  }
}

async function commandBackup(
  config: BackupConfig,
  configDir: string,
  dir: string,
  at: number,
  signal: AbortSignal,
): Promise<Backup> {
  const command = config.command ?? [];
  const before = new Map((await listBackups(dir)).map((b) => [b.file, b]));
  // The command cannot share a snapshot with shipcheck, so the counts are taken just before it runs.
  const tables =
    config.database === undefined ? undefined : await countSource(config.database, configDir, signal);
  const [file, args] = commandArgv(command);
  const ending = await runProgram(file, args, {
    cwd: configDir,
    env: { ...process.env, SHIPCHECK_BACKUP_DIR: dir },
    signal,
  });
  if (ending.stopped) throw new BackupStopped('backup stopped');
  if (ending.code !== 0) {
    throw new ProviderError(`backup command failed (${exitText(ending)})${quote(ending.output)}`);
  }
  const written = (await listBackups(dir)).find((b) => {
    const old = before.get(b.file);
    return old === undefined || old.at !== b.at || old.bytes !== b.bytes;
  });
  if (written === undefined) {
    throw new ProviderError(
      `backup command exited 0 but wrote no new file into ${dir} ($SHIPCHECK_BACKUP_DIR)`,
    );
  }
  if (tables !== undefined) await writeCounts(written.file, { at, sameSnapshot: false, tables });
  await stampTime(written.file, at);
  return { file: written.file, bytes: written.bytes, at };
}

/** Writes the counts sidecar, then gives the finished backup its name and time, in that order. */
async function publish(partial: string, target: string, counts: RecordedCounts): Promise<Backup> {
  // The sidecar first: once the backup is visible under its name, its counts are there too.
  await writeCounts(target, counts);
  await stampTime(partial, counts.at);
  await fs.rename(partial, target);
  const { size } = await fs.stat(target);
  return { file: target, bytes: size, at: counts.at };
}

async function writeCounts(file: string, counts: RecordedCounts): Promise<void> {
  await writeAtomically(`${file}${COUNTS_SUFFIX}`, `${JSON.stringify(counts, null, 2)}\n`);
}

/** Writes `text` to `file` through a temporary file and a rename, so readers see all of it or none. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = path.join(
    path.dirname(file),
    `${HIDDEN_PREFIX}${path.basename(file)}.${crypto.randomBytes(RANDOM_BYTES).toString('hex')}.tmp`,
  );
  try {
    await fs.writeFile(temporary, text);
    await fs.rename(temporary, file);
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
}

async function stampTime(file: string, at: number): Promise<void> {
  const seconds = at / 1000;
  await fs.utimes(file, seconds, seconds);
}

/** `<base><extension>`, or `<base>-2<extension>` and so on when a backup of that second already exists. */
async function freeName(dir: string, base: string, extension: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = path.join(dir, `${base}${n === 1 ? '' : `-${n}`}${extension}`);
    if (!(await exists(candidate)) && !(await exists(partialPath(candidate)))) return candidate;
  }
}

function partialPath(target: string): string {
  return path.join(path.dirname(target), `${HIDDEN_PREFIX}${path.basename(target)}${PARTIAL_SUFFIX}`);
}

/** UTC `YYYYMMDDTHHMMSSZ`: sorts by time and is safe in any file system. */
function timestamp(at: number): string {
  return new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_') || 'backup';
}

/** Every backup file in `dir`, newest first; shipcheck's hidden files and counts sidecars are not backups. */
async function listBackups(dir: string): Promise<Backup[]> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const backups: Backup[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || entry.name.startsWith(HIDDEN_PREFIX) || entry.name.endsWith(COUNTS_SUFFIX))
      continue;
    const file = path.join(dir, entry.name);
    try {
      const stat = await fs.stat(file);
      backups.push({ file, bytes: stat.size, at: Math.round(stat.mtimeMs) });
    } catch {
      // Removed while listing (a rotation job): it is not a backup any more.
    }
  }
  return backups.sort((a, b) => b.at - a.at || b.file.localeCompare(a.file));
}

// ---- restoring and comparing ----

interface Counted {
  basis: CountBasis;
  tables: Record<string, number>;
}

/** What a restore produced: the restored counts (or why none), and how the restoring program ended. */
interface Restored {
  tables: Record<string, number | { error: string }>;
  /** Set when the restored database could not be read at all. */
  unreadable?: string;
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

/** Runs `work` with a fresh, empty database on the server of `url`, and drops it afterwards whatever happens. */
async function withScratchDatabase<T>(
  url: string,
  signal: AbortSignal,
  work: (scratchUrl: string, scratchName: string) => Promise<T>,
): Promise<T> {
  const name = `${SCRATCH_DATABASE_PREFIX}${crypto.randomBytes(RANDOM_BYTES).toString('hex')}`;
  const admin = await connect(url, signal);
  try {
    // The source's encoding and locale, so text restores exactly as it was; template0 so nothing else is in it.
    const { rows } = await admin.query<{ encoding: string; collate: string; ctype: string }>(
      `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
         FROM pg_database WHERE datname = current_database()`,
    );
    const source = rows[0];
    const options = source
      ? ` ENCODING ${literal(source.encoding)} LC_COLLATE ${literal(source.collate)} LC_CTYPE ${literal(source.ctype)}`
      : '';
    await admin.query(`CREATE DATABASE ${identifier(name)} TEMPLATE template0${options}`);
  } catch (err) {
    throw new ProviderError(`cannot create a scratch database on ${redactUrl(url)}: ${errorMessage(err)}`, {
      cause: err,
    });
  } finally {
    await admin.end().catch(() => undefined);
  }
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await work(withDatabase(url, name), name) };
  } catch (err) {
    outcome = { error: err };
  }
  await dropDatabase(url, name);
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/** Drops a scratch database; FORCE ends sessions a killed pg_restore may have left behind. */
async function dropDatabase(url: string, name: string): Promise<void> {
  // Not tied to the caller's signal: the drop must happen precisely when the check was stopped.
  const client = await connect(url, new AbortController().signal).catch((err: unknown) => {
    throw new ProviderError(`cannot drop scratch database ${name}: ${errorMessage(err)}; drop it by hand`);
  });
  try {
    try {
      await client.query(`DROP DATABASE IF EXISTS ${identifier(name)} WITH (FORCE)`);
    } catch (err) {
      if ((err as { code?: string }).code !== SQLSTATE_SYNTAX_ERROR) throw err;
      await client.query(`DROP DATABASE IF EXISTS ${identifier(name)}`);
    }
  } catch (err) {
    throw new ProviderError(`cannot drop scratch database ${name}: ${errorMessage(err)}; drop it by hand`, {
      cause: err,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
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

// ---- counting rows ----

/** Exact per-table row counts of the database at `database` (postgres URL or sqlite:PATH). */
async function countSource(
  database: string,
  configDir: string,
  signal: AbortSignal,
): Promise<Record<string, number>> {
  if (database.startsWith(SQLITE_PREFIX)) {
    const file = sqlitePath(database, configDir);
    await requireFile(file);
    const reply = await runSqliteJob<{ tables: Record<string, number | { error: string }> }>(
      { op: 'count', file, readonly: true, check: false },
      signal,
    );
    const counts: Record<string, number> = {};
    for (const [table, count] of Object.entries(reply.tables)) {
      if (typeof count !== 'number')
        throw new ProviderError(`cannot count rows of ${table} in ${file}: ${count.error}`);
      counts[table] = count;
    }
    return counts;
  }
  return countPostgresUrl(database, signal);
}

async function countPostgresUrl(url: string, signal: AbortSignal): Promise<Record<string, number>> {
  const client = await connect(url, signal);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const counts = await abortable(countPostgresTables(client), signal);
    await client.query('COMMIT');
    return counts;
  } finally {
    await endClient(client, signal);
  }
}

/** count(*) of every ordinary table of every non-system schema, as `schema.table`; exact, so a full scan each. */
async function countPostgresTables(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const { schema, name } of rows) {
    const result = await client.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${identifier(schema)}.${identifier(name)}`,
    );
    counts[`${schema}.${name}`] = Number(result.rows[0]?.count ?? 0);
  }
  return counts;
}

async function countSqliteRestore(file: string, signal: AbortSignal): Promise<Restored> {
  try {
    const reply = await runSqliteJob<{ tables: Restored['tables']; problem?: string }>(
      { op: 'count', file, readonly: false, check: true },
      signal,
    );
    return { tables: reply.tables, ...(reply.problem ? { unreadable: reply.problem } : {}) };
  } catch (err) {
    if (err instanceof BackupStopped) throw err;
    return { tables: {}, unreadable: errorMessage(err) };
  }
}

// ---- SQLite, in a child process ----

/**
 * Backs up or counts a SQLite database in a child process: better-sqlite3 is synchronous, and a large
 * copy or count on the main thread would stall the control plane and its proxy; a process can also be
 * killed at once on abort. CommonJS because `node -e` runs a script.
 *
 * Backup: in WAL mode a read transaction pins one snapshot, and the online backup reads through the same
 * connection, so counts and copy show the same data without blocking writers. In other journal modes a
 * transaction held for the whole copy would stall the app's writers, so the counts are taken just before.
 */
const SQLITE_RUNNER = `
const tableNames = (db) => db
  .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\\\_%' ESCAPE '\\\\' ORDER BY name")
  .pluck().all();
const countOf = (db, name) =>
  db.prepare('SELECT count(*) FROM "' + name.replace(/"/g, '""') + '"').pluck().get();
process.once('message', async (job) => {
  let db;
  let reply;
  try {
    const Database = require(job.driver);
    if (job.op === 'backup') {
      db = new Database(job.source, { readonly: true, fileMustExist: true, timeout: job.busyTimeoutMs });
      const sameSnapshot = db.pragma('journal_mode', { simple: true }) === 'wal';
      if (sameSnapshot) db.exec('BEGIN');
      const tables = {};
      for (const name of tableNames(db)) tables[name] = countOf(db, name);
      await db.backup(job.target);
      if (sameSnapshot) db.exec('COMMIT');
      reply = { ok: true, tables, sameSnapshot };
    } else {
      db = new Database(job.file, { readonly: job.readonly, fileMustExist: true, timeout: job.busyTimeoutMs });
      // One snapshot for every count, where that blocks no writer.
      const pinned = db.pragma('journal_mode', { simple: true }) === 'wal';
      if (pinned) db.exec('BEGIN');
      const tables = {};
      for (const name of tableNames(db)) {
        try {
          tables[name] = countOf(db, name);
        } catch (err) {
          tables[name] = { error: err.message };
        }
      }
      let problem;
      if (job.check) {
        const first = db.prepare('PRAGMA quick_check(1)').pluck().get();
        if (first !== 'ok') problem = String(first);
      }
      if (pinned) db.exec('COMMIT');
      reply = { ok: true, tables, problem };
    }
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (db !== undefined && db.open) db.close();
  }
  process.send(reply, () => process.disconnect());
});
`;

/** Bytes of the SQLite runner's stderr kept to explain a crash. */
const STDERR_BYTES = 4096;

/** `count` opens the source read-only; a scratch copy is opened read-write, as a restored database would be. */
type SqliteJob =
  | { op: 'backup'; source: string; target: string }
  | { op: 'count'; file: string; readonly: boolean; check: boolean };

async function runSqliteJob<T>(job: SqliteJob, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw new BackupStopped('stopped');
  const child = spawn(process.execPath, ['-e', SQLITE_RUNNER], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_BYTES) stderr += chunk.toString();
  });
  const answer = new Promise<T>((resolve, reject) => {
    child.once('message', (reply: ({ ok: true } & T) | { ok: false; error: string }) => {
      if (reply.ok) resolve(reply);
      else reject(new ProviderError(reply.error));
    });
    child.once('error', reject);
    // 'close', not 'exit': a reply sent just before exiting may still be queued on the IPC channel when
    // 'exit' fires; 'close' comes after every message has been delivered.
    child.once('close', (code, exitSignal) => {
      const last = stderr.trim().split('\n').at(-1);
      reject(new ProviderError(`the SQLite runner exited (${exitSignal ?? code})${last ? `: ${last}` : ''}`));
    });
  });
  child.send({
    ...job,
    // Resolved here: `node -e` would resolve from the process's cwd, not from shipcheck.
    driver: createRequire(import.meta.url).resolve('better-sqlite3'),
    busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS,
  });
  try {
    return await abortable(answer, signal);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

// ---- PostgreSQL connections ----

async function connect(url: string, signal: AbortSignal): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A lost connection also fails the pending query; that is where it is reported.
  client.on('error', () => {});
  try {
    await abortable(client.connect(), signal);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof BackupStopped) throw err;
    throw new ProviderError(`cannot connect to ${redactUrl(url)}: ${errorMessage(err)}`, { cause: err });
  }
}

async function endClient(client: pg.Client, signal: AbortSignal): Promise<void> {
  const ending = client.end().catch(() => undefined);
  // After a stop, a query may still be running; the socket closes in the background rather than wait for it.
  if (!signal.aborted) await ending;
}

function identifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

// ---- running programs ----

/** How a program ended, with the end of its combined output. */
interface ProgramEnding {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** True when the caller's signal stopped it. */
  stopped: boolean;
}

/**
 * Runs a program in its own process group and waits for it; `signal` stops the whole group (SIGTERM,
 * then SIGKILL). Throws `ProviderError` when it cannot start.
 */
async function runProgram(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; signal: AbortSignal },
): Promise<ProgramEnding> {
  if (options.signal.aborted) throw new BackupStopped('stopped before it started');
  let output = '';
  let stopped = false;
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new ProviderError(`cannot start ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const timers: NodeJS.Timeout[] = [];
  const onAbort = (): void => {
    stopped = true;
    signalChildGroup(child, 'SIGTERM');
    timers.push(setTimeout(() => signalChildGroup(child, 'SIGKILL'), KILL_GRACE_MS));
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<ProgramEnding>((resolve, reject) => {
      const keep = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      child.on('error', (err) => {
        // Without a pid nothing runs and no exit follows.
        if (child.pid === undefined)
          reject(new ProviderError(`cannot start ${file}: ${err.message}`, { cause: err }));
      });
      child.on('exit', () => {
        // A background child that inherited the pipes would otherwise hold this open indefinitely.
        timers.push(
          setTimeout(() => {
            signalChildGroup(child, 'SIGKILL');
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, OUTPUT_GRACE_MS),
        );
      });
      child.on('close', (code, exitSignal) => resolve({ code, signal: exitSignal, output, stopped }));
    });
  } finally {
    timers.forEach(clearTimeout);
    options.signal.removeEventListener('abort', onAbort);
    // Whatever the program left running in its group belongs to this run, not to anyone else.
    signalChildGroup(child, 'SIGKILL');
  }
}

function exitText(ending: ProgramEnding): string {
  return ending.code === null ? `killed by ${ending.signal ?? 'a signal'}` : `exit ${ending.code}`;
}

/** `: <last line of output>`, or nothing when there was no output. */
function quote(output: string): string {
  const last = output.trim().split('\n').at(-1)?.trim() ?? '';
  if (last === '') return '';
  return `: ${last.length > QUOTED_LINE_CHARS ? `${last.slice(0, QUOTED_LINE_CHARS - 1)}…` : last}`;
}

// ---- small helpers ----

/** `work`'s result, or a BackupStopped rejection as soon as `signal` fires. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new BackupStopped('stopped'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function requireDatabase(config: BackupConfig): string {
  if (config.database === undefined) throw new InputError('backup: give database, or a command');
  return config.database;
}

function sqlitePath(database: string, configDir: string): string {
  return path.resolve(configDir, database.slice(SQLITE_PREFIX.length));
}

async function requireFile(file: string): Promise<void> {
  if (!(await exists(file))) throw new InputError(`backup.database: SQLite file ${file} does not exist`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `1,234` */
export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}
