/**
 * backup.timeout bounds making a backup and a restore check: a command that hangs is stopped (its
 * whole process group, so nothing it started is left behind) and the failure names the setting.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../test/support/fleet.js';
import { configSchema } from '../config/schema.js';
import { ManualClock } from '../util/clock.js';
import { makeBackup } from './backup.js';
import { BackupStopped, type BackupConfig } from './backup-folder.js';
import { BackupTimedOut } from './backup-timeout.js';
import { restoreAndCompare } from './restore-check.js';

const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-backup-timeout-'));
/** A command that starts a long sleep in the background, records its pid, and waits for it. */
const SLEEP_30 = (pidFile: string): string => `sleep 30 & echo $! > ${pidFile}; wait`;

afterAll(() => {
  for (const file of fs.readdirSync(configDir).filter((name) => name.endsWith('.pid'))) {
    try {
      process.kill(Number(fs.readFileSync(path.join(configDir, file), 'utf8')), 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  fs.rmSync(configDir, { recursive: true, force: true });
});

/** A validated backup block, as the config loader would produce it. */
function backupConfig(input: Record<string, unknown>): BackupConfig {
  return configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, backup: input })
    .backup!;
}

function sleepPid(file: string): number {
  return Number(fs.readFileSync(path.join(configDir, file), 'utf8').trim());
}

describe('backup.timeout', () => {
  it('defaults to 30 minutes', () => {
    expect(backupConfig({ command: 'true' }).timeout).toBe(30 * 60_000);
  });

  it('stops a backup command that outlasts it, with a message naming the setting, and leaves no process', async () => {
    const config = backupConfig({ command: SLEEP_30('backup.pid'), timeout: '1s', dir: 'slow' });
    const failure = await makeBackup(config, configDir, new ManualClock()).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(BackupTimedOut);
    expect((failure as Error).message).toBe(
      'making a backup took longer than backup.timeout (1s) and was stopped',
    );
    expect(isAlive(sleepPid('backup.pid'))).toBe(false);
  });

  it('stops a restoreCommand that outlasts it', async () => {
    const config = backupConfig({
      command: 'echo data > "$SHIPCHECK_BACKUP_DIR/app.dump"',
      restoreCommand: SLEEP_30('restore.pid'),
      timeout: '1s',
      dir: 'restore',
    });
    const backup = await makeBackup(config, configDir, new ManualClock());
    const failure = await restoreAndCompare(
      config,
      configDir,
      backup.file,
      new AbortController().signal,
    ).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(BackupTimedOut);
    expect((failure as Error).message).toBe(
      'the restore check of app.dump took longer than backup.timeout (1s) and was stopped',
    );
    expect(isAlive(sleepPid('restore.pid'))).toBe(false);
  });

  it("is not blamed when the caller's own signal stopped the work", async () => {
    const config = backupConfig({ command: 'sleep 30', timeout: '1h', dir: 'aborted' });
    const controller = new AbortController();
    const making = makeBackup(config, configDir, new ManualClock(), controller.signal);
    controller.abort();
    await expect(making).rejects.toBeInstanceOf(BackupStopped);
  });
});
