/**
 * The command form of the migrator: the user's `migrations.up` and `migrations.down` commands do the
 * work, each in its own process group under the migration timeout; shipcheck only records which
 * releases ran up, in a file beside the config.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import { runCommand } from '../util/run-command.js';
import {
  checkReleaseId,
  COMMAND_HISTORY_FILE,
  COMMAND_MIGRATION_ID,
  describeIrreversible,
  MigrationError,
  outputTail,
  REHEARSAL_RELEASE_ID,
  type AppliedMigration,
  type Migrator,
  type PendingOptions,
  type Rehearsal,
} from './migrator.js';

/** Bytes of a command's output kept for its error message: the end, where scripts say what failed. */
const OUTPUT_TAIL_BYTES = 4096;

/** The command form: `migrations.up` and `migrations.down` do the work; shipcheck keeps which release ran up. */
export class CommandMigrator implements Migrator {
  constructor(
    private readonly options: {
      up: string | string[];
      down: string | string[] | undefined;
      database: string | undefined;
      configDir: string;
      timeoutMs: number;
      keepOnRollback: boolean;
    },
  ) {}

  async pending(options: PendingOptions = {}): Promise<{ id: string; reversible: boolean }[]> {
    if (options.releaseId !== undefined && (await this.history())[String(options.releaseId)] !== undefined) {
      return [];
    }
    // What the command would apply is its own business; shipcheck only knows whether it has run.
    return [{ id: COMMAND_MIGRATION_ID, reversible: this.options.down !== undefined }];
  }

  async up(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]> {
    checkReleaseId(releaseId);
    if ((await this.history())[String(releaseId)] !== undefined) return [];
    await this.run('up', this.options.up, { SHIPCHECK_RELEASE: String(releaseId) }, signal);
    const appliedAt = Date.now();
    await this.saveHistory({ ...(await this.history()), [String(releaseId)]: appliedAt });
    return [{ id: COMMAND_MIGRATION_ID, releaseId, appliedAt }];
  }

  async down(releaseId: number, signal?: AbortSignal): Promise<AppliedMigration[]> {
    checkReleaseId(releaseId);
    const appliedAt = (await this.history())[String(releaseId)];
    if (appliedAt === undefined) return [];
    if (this.options.down === undefined) {
      throw new MigrationError(describeIrreversible([COMMAND_MIGRATION_ID]));
    }
    await this.run('down', this.options.down, { SHIPCHECK_RELEASE: String(releaseId) }, signal);
    const history = await this.history();
    delete history[String(releaseId)];
    await this.saveHistory(history);
    return [{ id: COMMAND_MIGRATION_ID, releaseId, appliedAt }];
  }

  async rehearse(signal?: AbortSignal): Promise<Rehearsal> {
    const steps: string[] = [];
    // The command is trusted to point at a staging copy when it sees SHIPCHECK_REHEARSAL=1.
    const env = { SHIPCHECK_RELEASE: String(REHEARSAL_RELEASE_ID), SHIPCHECK_REHEARSAL: '1' };
    const attempt = async (step: string, command: string | string[], direction: 'up' | 'down') => {
      try {
        const took = await this.run(direction, command, env, signal);
        steps.push(`${step}: migrations.${direction} exited 0 in ${formatDuration(took)}`);
        return undefined;
      } catch (err) {
        steps.push(`${step}: FAILED: ${errorMessage(err)}`);
        return { ok: false, summary: `rehearsal failed at ${step}: ${errorMessage(err)}`, steps };
      }
    };
    const up = await attempt('up', this.options.up, 'up');
    if (up) return up;
    if (this.options.down === undefined) {
      const why = describeIrreversible([COMMAND_MIGRATION_ID]);
      if (this.options.keepOnRollback) {
        steps.push(`down: skipped: ${why} (rollback.migrations: keep)`);
        return {
          ok: true,
          summary: `migrations.up rehearsed with SHIPCHECK_REHEARSAL=1; down skipped`,
          steps,
        };
      }
      steps.push(`down: FAILED: ${why}`);
      return { ok: false, summary: `rehearsal failed at down: ${why}`, steps };
    }
    const down = await attempt('down', this.options.down, 'down');
    if (down) return down;
    const again = await attempt('up again', this.options.up, 'up');
    if (again) return again;
    return {
      ok: true,
      summary: 'migrations.up, down and up again rehearsed with SHIPCHECK_REHEARSAL=1',
      steps,
    };
  }

  /** Runs one of the commands; resolves with its run time in ms, or throws MigrationError with its output. */
  private async run(
    direction: 'up' | 'down',
    command: string | string[],
    extraEnv: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const env: Record<string, string | undefined> = { ...process.env, ...extraEnv };
    // A variable inherited by the control plane must not make a real run look like a rehearsal.
    if (extraEnv.SHIPCHECK_REHEARSAL === undefined) delete env.SHIPCHECK_REHEARSAL;
    if (this.options.database !== undefined) env.SHIPCHECK_MIGRATIONS_DATABASE = this.options.database;
    const outcome = await runCommand(command, {
      cwd: this.options.configDir,
      env,
      timeoutMs: this.options.timeoutMs,
      ...(signal === undefined ? {} : { signal }),
      keep: { combined: OUTPUT_TAIL_BYTES },
    });
    const name = `migrations.${direction}`;
    const tail = outputTail(outcome.output.combined.text);
    const output = tail === '' ? '' : `: ${tail}`;
    if (outcome.kind === 'not-started') {
      throw new MigrationError(`${name} cannot start: ${outcome.error.message}`);
    }
    if (outcome.kind === 'timed-out') {
      throw new MigrationError(
        `${name} timed out after ${formatDuration(this.options.timeoutMs)} (migrations.timeout)${output}`,
      );
    }
    if (outcome.kind === 'aborted') throw new MigrationError(`${name} was aborted${output}`);
    if (outcome.code !== 0) {
      throw new MigrationError(`${name} exited ${outcome.code ?? outcome.signal ?? 'abnormally'}${output}`);
    }
    return outcome.durationMs;
  }

  private get historyFile(): string {
    return path.join(this.options.configDir, COMMAND_HISTORY_FILE);
  }

  /** `{releaseId: appliedAt}` for every release whose up command ran and was not undone. */
  private async history(): Promise<Record<string, number>> {
    let text: string;
    try {
      text = await fs.readFile(this.historyFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new MigrationError(`${this.historyFile} cannot be read: ${errorMessage(err)}`, { cause: err });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (
        typeof parsed !== 'object' ||
        parsed === null ||
        Array.isArray(parsed) ||
        !Object.values(parsed).every((value) => typeof value === 'number')
      ) {
        throw new ProviderError('expected {"releaseId": appliedAt, ...}');
      }
      return parsed as Record<string, number>;
    } catch (err) {
      throw new MigrationError(`${this.historyFile} is not a migration history: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  private async saveHistory(history: Record<string, number>): Promise<void> {
    await fs.mkdir(path.dirname(this.historyFile), { recursive: true });
    // Written aside and renamed, so a crash leaves the old history or the new one, never half of one.
    const temporary = `${this.historyFile}.${process.pid}.tmp`;
    await fs.writeFile(temporary, `${JSON.stringify(history, null, 2)}\n`);
    await fs.rename(temporary, this.historyFile);
  }
}
