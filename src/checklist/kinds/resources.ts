import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { CheckKind } from '../types.js';

/** Binary units, as `df -h` and `free -h` count them. */
const BYTES_PER_UNIT: Record<string, number> = { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const SIZE_UNITS = ['TB', 'GB', 'MB', 'KB'] as const;
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB)$/;
const SIZE_HINT = 'expected a size such as 500MB or 1GB (KB, MB, GB, TB; 1024-based)';
const SIZE_DECIMALS = 1;
/** The file and row that give this process's open-files limit on Linux. */
const LIMITS_FILE = '/proc/self/limits';
const OPEN_FILES_ROW = /^Max open files\s+(\S+)/m;
const UNLIMITED = 'unlimited';

const size = z
  .string({ error: SIZE_HINT })
  .regex(SIZE_RE, SIZE_HINT)
  .transform((text) => {
    const [, amount, unit] = SIZE_RE.exec(text) ?? [];
    return Math.round(Number(amount) * (BYTES_PER_UNIT[unit ?? ''] ?? Number.NaN));
  });

const resourcesParams = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .optional()
      .describe('Where free disk is measured, relative to the config file; the config folder when omitted.'),
    minFreeDisk: size.optional().describe('Free disk space at `path` must be at least this, e.g. 1GB.'),
    minFreeMemory: size.optional().describe('Free memory on this machine must be at least this, e.g. 512MB.'),
    minOpenFiles: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("The control plane's soft open-files limit (ulimit -n) must be at least this."),
  })
  .refine(
    (p) => p.minFreeDisk !== undefined || p.minFreeMemory !== undefined || p.minOpenFiles !== undefined,
    { message: 'give at least one of minFreeDisk, minFreeMemory, minOpenFiles' },
  )
  .describe('Local quotas and limits: free disk, free memory and the open-files limit.');

/** Params of a `resources` item after validation: sizes in bytes. */
export type ResourcesParams = z.output<typeof resourcesParams>;

/** Formats bytes the way a size bound is written: `53.2 GB`, `512 MB`. */
export function formatBytes(bytes: number): string {
  for (const unit of SIZE_UNITS) {
    const perUnit = BYTES_PER_UNIT[unit] ?? 1;
    if (bytes >= perUnit) return `${Number((bytes / perUnit).toFixed(SIZE_DECIMALS))} ${unit}`;
  }
  return `${bytes} B`;
}

/** The soft open-files limit; Infinity when unlimited. */
async function openFilesLimit(): Promise<number> {
  const text = await fs.readFile(LIMITS_FILE, 'utf8');
  const soft = OPEN_FILES_ROW.exec(text)?.[1];
  if (soft === undefined) throw new Error(`no "Max open files" row in ${LIMITS_FILE}`);
  return soft === UNLIMITED ? Infinity : Number(soft);
}

/** Runs a measurement, turning a failure into its message. */
async function measure<T>(read: () => Promise<T>): Promise<T | Error> {
  try {
    return await read();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * `resources`: measures free disk at `path`, free memory and the open-files limit; fails when a
 * bounded figure is below its bound or cannot be read. `value` is the figure when only one is bounded.
 */
export const resourcesCheck: CheckKind<ResourcesParams> = {
  kind: 'resources',
  params: resourcesParams,
  async run(params, context) {
    const where = path.resolve(context.configDir, params.path ?? '.');
    const disk = await measure(async () => {
      const stats = await fs.statfs(where);
      // bavail, not bfree: blocks reserved for root are not there for the service.
      return stats.bavail * stats.bsize;
    });
    const memory = os.freemem();
    const openFiles = await measure(openFilesLimit);

    const data: Record<string, unknown> = { path: where, freeMemoryBytes: memory };
    if (typeof disk === 'number') data.freeDiskBytes = disk;
    else data.diskError = disk.message;
    if (typeof openFiles === 'number')
      data.openFilesLimit = Number.isFinite(openFiles) ? openFiles : UNLIMITED;
    else data.openFilesError = openFiles.message;

    const parts: string[] = [];
    const measured: number[] = [];
    let ok = true;
    if (params.minFreeDisk !== undefined) {
      if (typeof disk === 'number') {
        const enough = disk >= params.minFreeDisk;
        ok &&= enough;
        measured.push(disk);
        const at = enough ? '' : ` at ${where}`;
        parts.push(
          `disk ${formatBytes(disk)} free ${enough ? '>=' : '<'} ${formatBytes(params.minFreeDisk)}${at}`,
        );
      } else {
        ok = false;
        parts.push(`cannot read free disk at ${where}: ${disk.message}`);
      }
    }
    if (params.minFreeMemory !== undefined) {
      const enough = memory >= params.minFreeMemory;
      ok &&= enough;
      measured.push(memory);
      parts.push(
        `memory ${formatBytes(memory)} free ${enough ? '>=' : '<'} ${formatBytes(params.minFreeMemory)}`,
      );
    }
    if (params.minOpenFiles !== undefined) {
      if (typeof openFiles === 'number') {
        const enough = openFiles >= params.minOpenFiles;
        ok &&= enough;
        measured.push(openFiles);
        const limit = Number.isFinite(openFiles) ? String(openFiles) : UNLIMITED;
        const hint = enough ? '' : ' (raise ulimit -n for the control plane)';
        parts.push(`open files ${limit} ${enough ? '>=' : '<'} ${params.minOpenFiles}${hint}`);
      } else {
        ok = false;
        parts.push(`cannot read the open-files limit: ${openFiles.message}`);
      }
    }

    const summary = parts.join('; ');
    const bounds = [params.minFreeDisk, params.minFreeMemory, params.minOpenFiles].filter(
      (b) => b !== undefined,
    );
    const [only] = measured;
    return bounds.length === 1 && only !== undefined && Number.isFinite(only)
      ? { ok, summary, value: only, data }
      : { ok, summary, data };
  },
};
