/**
 * The backup folder and what shipcheck keeps in it: how a backup is named, written (a hidden partial
 * file, renamed once complete, with its row counts beside it) and found again. Taking backups is in
 * backup.ts; checking that they restore, in restore-check.ts.
 */
import crypto from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { InputError, ShipcheckError } from '../errors.js';

/** The validated `backup` block of a config. */
export type BackupConfig = NonNullable<Config['backup']>;

/** One backup file: its absolute path, size, and when it was taken (epoch ms; the file's mtime). */
export interface Backup {
  file: string;
  bytes: number;
  at: number;
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

/** Suffix of the sidecar holding the counts taken at backup time. */
export const COUNTS_SUFFIX = '.counts.json';
/** Extension of a backup of a SQLite database, and of the file a SQLite restore goes into. */
export const SQLITE_EXTENSION = '.sqlite';
/**
 * A backup is written under a hidden name and renamed when complete: a half-written file must never be
 * taken for the newest backup. Hidden files are also where shipcheck keeps its own bookkeeping.
 */
const HIDDEN_PREFIX = '.';
const PARTIAL_SUFFIX = '.partial';
const RANDOM_BYTES = 6;

const recordedCountsSchema = z.object({
  at: z.number(),
  sameSnapshot: z.boolean(),
  tables: z.record(z.string(), z.number().int().min(0)),
});

/** The absolute folder backups of `config` are written to and found in. */
export function backupDir(config: BackupConfig, configDir: string): string {
  return path.resolve(configDir, config.dir);
}

/** The newest backup in the backup folder (by mtime), or undefined when there is none or no folder. */
export async function newestBackup(config: BackupConfig, configDir: string): Promise<Backup | undefined> {
  const dir = backupDir(config, configDir);
  const files = await listBackups(dir);
  return files[0];
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

/** Writes the counts sidecar, then gives the finished backup its name and time, in that order. */
export async function publish(partial: string, target: string, counts: RecordedCounts): Promise<Backup> {
  // The sidecar first: once the backup is visible under its name, its counts are there too.
  await writeCounts(target, counts);
  await stampTime(partial, counts.at);
  await fs.rename(partial, target);
  const { size } = await fs.stat(target);
  return { file: target, bytes: size, at: counts.at };
}

/** Writes the counts sidecar of the backup `file`, whole or not at all. */
export async function writeCounts(file: string, counts: RecordedCounts): Promise<void> {
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

/** Sets `file`'s modification time to `at` (epoch ms): when its data is from. */
export async function stampTime(file: string, at: number): Promise<void> {
  const seconds = at / 1000;
  await fs.utimes(file, seconds, seconds);
}

/** `<base><extension>`, or `<base>-2<extension>` and so on when a backup of that second already exists. */
export async function freeName(dir: string, base: string, extension: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = path.join(dir, `${base}${n === 1 ? '' : `-${n}`}${extension}`);
    if (!(await exists(candidate)) && !(await exists(partialPath(candidate)))) return candidate;
  }
}

/** The hidden name `target` is written under until it is complete. */
export function partialPath(target: string): string {
  return path.join(path.dirname(target), `${HIDDEN_PREFIX}${path.basename(target)}${PARTIAL_SUFFIX}`);
}

/** UTC `YYYYMMDDTHHMMSSZ`: sorts by time and is safe in any file system. */
export function timestamp(at: number): string {
  return new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `name` reduced to characters safe in a file name in any file system. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_') || 'backup';
}

/** Every backup file in `dir`, newest first; shipcheck's hidden files and counts sidecars are not backups. */
export async function listBackups(dir: string): Promise<Backup[]> {
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

/** `backup.database`, which shipcheck's own backups and restores need; InputError without it. */
export function requireDatabase(config: BackupConfig): string {
  if (config.database === undefined) throw new InputError('backup: give database, or a command');
  return config.database;
}

/** Whether `file` exists. */
export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
