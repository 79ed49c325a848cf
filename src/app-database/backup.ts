/**
 * Taking a backup of the user's database: pg_dump (backup-postgres.ts), SQLite's online backup
 * (backup-sqlite.ts) or the user's command, into the backup folder (backup-folder.ts) with the
 * per-table row counts a restore check later compares with (restore-check.ts).
 */
import fs from 'node:fs/promises';
import { ProviderError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { commandArgv } from '../util/process-group.js';
import {
  BackupStopped,
  backupDir,
  listBackups,
  requireDatabase,
  stampTime,
  writeCounts,
  type Backup,
  type BackupConfig,
} from './backup-folder.js';
import { countPostgresUrl, postgresBackup } from './backup-postgres.js';
import { exitText, quote, runProgram } from './backup-programs.js';
import { countSqliteSource, sqliteBackup } from './backup-sqlite.js';
import { withinBackupTimeout } from './backup-timeout.js';
import { parseDatabase } from './database-target.js';

/**
 * Makes a backup now into the backup folder and returns it, with a `<file>.counts.json` sidecar of per-table
 * row counts when the source database is known. The file's mtime is set to when the backup began, since
 * that is the moment its data is from. Throws `InputError` for config problems, `ProviderError` when a
 * tool or database fails, `BackupStopped` when `signal` fires, `BackupTimedOut` after `backup.timeout`.
 */
export async function makeBackup(
  config: BackupConfig,
  configDir: string,
  clock: Clock,
  signal: AbortSignal = new AbortController().signal,
): Promise<Backup> {
  const dir = backupDir(config, configDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const at = clock.now();
  const backup = await withinBackupTimeout(config, 'making a backup', signal, async (bounded) => {
    if (config.command !== undefined) return commandBackup(config, configDir, dir, at, bounded);
    const target = parseDatabase(requireDatabase(config), configDir);
    if (target.kind === 'sqlite') return sqliteBackup(target.file, dir, at, bounded);
    return postgresBackup(target.url, dir, at, bounded);
  });
  // A backup holds the application's data: readable by its owner only.
  await fs.chmod(backup.file, 0o600);
  await fs.chmod(`${backup.file}.counts.json`, 0o600).catch(() => undefined);
  return backup;
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

/** Exact per-table row counts of the database at `database` (postgres URL or sqlite:PATH). */
export async function countSource(
  database: string,
  configDir: string,
  signal: AbortSignal,
): Promise<Record<string, number>> {
  const target = parseDatabase(database, configDir);
  if (target.kind === 'sqlite') return countSqliteSource(target.file, signal);
  return countPostgresUrl(target.url, signal);
}
