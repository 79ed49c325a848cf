/**
 * `backup.timeout`: the bound on making one backup and on one restore check. A dump or a command that
 * hangs (a locked table, a stalled network disk) would otherwise hold the checklist item, or the
 * `shipcheck backup` run, for ever.
 */
import { ProviderError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import type { BackupConfig } from './backup-folder.js';

/** Thrown when a backup or a restore check outlasts `backup.timeout`; the programs it ran have been stopped. */
export class BackupTimedOut extends ProviderError {}

/**
 * Runs `work` with a signal that fires when `signal` does or when `config.timeout` has passed, whichever
 * comes first. When the timeout stopped it, the failure is a `BackupTimedOut` naming `backup.timeout`
 * and its value; `what` starts the message (`making a backup`, `the restore check of X`).
 */
export async function withinBackupTimeout<T>(
  config: Pick<BackupConfig, 'timeout'>,
  what: string,
  signal: AbortSignal,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), config.timeout);
  try {
    return await work(AbortSignal.any([signal, timer.signal]));
  } catch (err) {
    // The caller's own stop wins: it is not a timeout even when both fired.
    if (timer.signal.aborted && !signal.aborted) {
      throw new BackupTimedOut(
        `${what} took longer than backup.timeout (${formatDuration(config.timeout)}) and was stopped`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    clearTimeout(timeout);
  }
}
