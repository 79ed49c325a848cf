import { makeBackup } from '../../app-database/backup.js';
import { readRecordedCounts } from '../../app-database/backup-folder.js';
import { loadInstallation } from '../../config/installation.js';
import { chooseService } from '../target.js';
import { InputError, ShipcheckError } from '../../errors.js';
import { systemClock } from '../../util/clock.js';
import { plural } from '../../util/words.js';

const KIB = 1024;
const SIZE_UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB'];
/** Signals that stop a backup in progress; its programs are stopped and the half-written file removed. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * `shipcheck backup`: loads the config and makes a backup now, locally (not through the API), printing
 * `<file> (<size>, row counts of <n> tables recorded)`; returns 0. Throws `InputError` without a backup
 * block, `ProviderError` when the dump or the command fails.
 */
export async function backupCommand(
  opts: { config: string; service?: string },
  io: { out: (line: string) => void },
): Promise<number> {
  const { config, dir } = chooseService(await loadInstallation(opts.config), opts);
  if (config.backup === undefined) {
    throw new InputError(`${opts.config} has no backup block; add backup.database or backup.command`);
  }
  // Backup programs run in their own process group, so Ctrl-C reaches them only through this.
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  for (const signal of STOP_SIGNALS) process.once(signal, stop);
  try {
    const backup = await makeBackup(config.backup, dir, systemClock, controller.signal);
    const counts = await readRecordedCounts(backup.file);
    const recorded =
      counts === undefined
        ? 'no row counts recorded: set backup.database to record them'
        : `row counts of ${plural(Object.keys(counts.tables).length, 'table')} recorded`;
    io.out(`${backup.file} (${formatSize(backup.bytes)}, ${recorded})`);
    return 0;
  } catch (err) {
    if (controller.signal.aborted) throw new ShipcheckError('backup interrupted', { cause: err });
    throw err;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
  }
}

/** `512 bytes`, `12.3 KB`, `1.5 GB`. */
function formatSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= KIB && unit < SIZE_UNITS.length - 1) {
    value /= KIB;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${SIZE_UNITS[unit]}`;
}
