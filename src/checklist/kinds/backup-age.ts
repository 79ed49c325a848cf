import path from 'node:path';
import { z } from 'zod';
import { backupDir, newestBackup } from '../../app-database/backup-folder.js';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';

const HOUR_MS = 3_600_000;
/** Decimals of the age kept in `value`, and shown (one) in the summary. */
const VALUE_DECIMALS = 2;
const SUMMARY_DECIMALS = 1;

const backupAgeParamsSchema = z.strictObject({
  maxAge: duration.prefault('24h').describe('The newest backup must be younger than this.'),
});

/** Validated `backup-age` params; maxAge in ms. */
export type BackupAgeParams = z.output<typeof backupAgeParamsSchema>;

/** `backup-age`: the newest file in backup.dir is younger than maxAge; value = its age in hours. */
export const backupAgeCheck: CheckKind<BackupAgeParams> = {
  kind: 'backup-age',
  params: backupAgeParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const config = context.config.backup;
    if (config === undefined) return { ok: false, summary: 'no backup block in the config' };
    const dir = backupDir(config, context.configDir);
    const max = formatDuration(params.maxAge);
    const newest = await newestBackup(config, context.configDir);
    if (newest === undefined)
      return { ok: false, summary: `no backup in ${dir} (max age ${max})`, data: { dir } };

    const ageMs = context.clock.now() - newest.at;
    const name = path.basename(newest.file);
    const data = { dir, file: newest.file, bytes: newest.bytes, at: new Date(newest.at).toISOString() };
    if (ageMs < 0) {
      // A backup dated ahead of this clock is as fresh as can be; the skew is worth saying, not failing on.
      const ahead = formatDuration(-ageMs);
      return {
        ok: true,
        summary: `newest backup ${name} is dated ${ahead} in the future (clock skew?)`,
        value: 0,
        data,
      };
    }
    const hours = ageMs / HOUR_MS;
    const ok = ageMs < params.maxAge;
    return {
      ok,
      summary: `newest backup ${name} is ${Number(hours.toFixed(SUMMARY_DECIMALS))}h old (max ${max})`,
      value: Number(hours.toFixed(VALUE_DECIMALS)),
      data,
    };
  },
};
