import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { backupDir, newestBackup, writeAtomically, type Backup } from '../../app-database/backup-folder.js';
import { restoreAndCompare, type TableComparison } from '../../app-database/restore-check.js';
import type { CheckKind, CheckResult } from '../types.js';

/** The memo of passed restore checks, kept in the backup folder beside the backups it vouches for. */
export const RESTORE_MEMO_FILE = '.restore-checks.json';

const tableSchema = z.object({
  table: z.string(),
  source: z.number().nullable(),
  restored: z.number().nullable(),
  error: z.string().optional(),
});

const memoEntrySchema = z.object({
  /** Epoch ms of the passed check. */
  checkedAt: z.number(),
  /** The backup as it was checked: a file replaced under the same name is a different backup. */
  bytes: z.number(),
  backupAt: z.number(),
  summary: z.string(),
  tables: z.array(tableSchema),
});
type MemoEntry = z.infer<typeof memoEntrySchema>;
/** Passed checks by backup file name. */
const memoSchema = z.record(z.string(), memoEntrySchema);
type Memo = z.infer<typeof memoSchema>;

/** `backup-restore` takes no params: what to restore and where come from the backup block. */
export type BackupRestoreParams = Record<string, never>;

/**
 * `backup-restore`: restores the newest backup into a scratch database and compares row counts per table;
 * a file that already passed within backup.reuseFor passes at once from the memo.
 */
export const backupRestoreCheck: CheckKind<BackupRestoreParams> = {
  kind: 'backup-restore',
  params: z.strictObject({}).describe('No params: the backup block says what to restore and how.'),
  async run(_params, context): Promise<CheckResult> {
    const config = context.config.backup;
    if (config === undefined) return { ok: false, summary: 'no backup block in the config' };
    const dir = backupDir(config, context.configDir);
    const newest = await newestBackup(config, context.configDir);
    if (newest === undefined) return { ok: false, summary: `no backup in ${dir} to restore`, data: { dir } };
    const name = path.basename(newest.file);
    const memoFile = path.join(dir, RESTORE_MEMO_FILE);
    const now = context.clock.now();

    const memo = await readMemo(memoFile);
    const previous = memo[name];
    if (previous !== undefined && config.reuseFor > 0 && isSameBackup(previous, newest)) {
      const age = now - previous.checkedAt;
      if (age >= 0 && age < config.reuseFor) {
        const when = isoSeconds(previous.checkedAt);
        return {
          ok: true,
          summary: `reused the restore check of ${name} from ${when}`,
          data: evidence(newest, previous.tables, { reusedFrom: when, previousSummary: previous.summary }),
        };
      }
    }

    if (context.signal.aborted) return { ok: false, summary: `restoring ${name}: aborted before it started` };
    let result;
    try {
      result = await restoreAndCompare(config, context.configDir, newest.file, context.signal);
    } catch (err) {
      const why = context.signal.aborted ? 'aborted' : err instanceof Error ? err.message : String(err);
      return { ok: false, summary: `cannot restore ${name}: ${why}`, data: evidence(newest, []) };
    }

    const rows = result.tables.reduce((sum, t) => sum + (t.restored ?? 0), 0);
    // Only a pass vouches for a backup; a failure also withdraws any earlier pass of the same file.
    const entries = Object.entries(memo).filter(([file]) => file !== name);
    if (result.ok) {
      entries.push([
        name,
        {
          checkedAt: now,
          bytes: newest.bytes,
          backupAt: newest.at,
          summary: result.summary,
          tables: result.tables,
        },
      ]);
    }
    let memoProblem: string | undefined;
    try {
      await writeMemo(memoFile, await forgetRemoved(dir, Object.fromEntries(entries)));
    } catch (err) {
      // The verdict stands without the memo; the next run restores again instead of reusing it.
      memoProblem = `cannot write ${memoFile}: ${err instanceof Error ? err.message : String(err)}`;
    }
    return {
      ok: result.ok,
      summary: result.summary,
      value: rows,
      data: evidence(newest, result.tables, {
        basis: result.basis,
        scratch: result.scratch,
        ...(memoProblem === undefined ? {} : { memoProblem }),
      }),
    };
  },
};

function isSameBackup(entry: MemoEntry, backup: Backup): boolean {
  return entry.bytes === backup.bytes && entry.backupAt === backup.at;
}

function evidence(
  backup: Backup,
  tables: TableComparison[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    file: backup.file,
    bytes: backup.bytes,
    backupAt: isoSeconds(backup.at),
    ...extra,
    tables,
  };
}

/** The memo, or an empty one when it is missing or unreadable: a lost memo only costs one more restore. */
async function readMemo(file: string): Promise<Memo> {
  try {
    const parsed = memoSchema.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

async function writeMemo(file: string, memo: Memo): Promise<void> {
  await writeAtomically(file, `${JSON.stringify(memo, null, 2)}\n`);
}

/** Drops entries of backups no longer in the folder, so rotation does not grow the memo for ever. */
async function forgetRemoved(dir: string, memo: Memo): Promise<Memo> {
  const present = new Set(await fs.readdir(dir).catch(() => [] as string[]));
  return Object.fromEntries(Object.entries(memo).filter(([name]) => present.has(name)));
}

/** `2026-11-26T09:14:03Z`: milliseconds mean nothing to a reader of the summary. */
function isoSeconds(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
