import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.js';
import { createMigrator } from './create-migrator.js';
import { COMMAND_HISTORY_FILE, MigrationError } from './migrator.js';

describe('migrator in command form', () => {
  let configDir: string;
  beforeEach(() => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-migrator-command-'));
    // Each script logs what it saw, so the test can tell which ran, how often and with what environment.
    fs.writeFileSync(
      path.join(configDir, 'up.sh'),
      'echo "up $SHIPCHECK_RELEASE ${SHIPCHECK_REHEARSAL:-real} $SHIPCHECK_MIGRATIONS_DATABASE" >> log.txt\n',
    );
    fs.writeFileSync(
      path.join(configDir, 'down.sh'),
      'echo "down $SHIPCHECK_RELEASE ${SHIPCHECK_REHEARSAL:-real} $SHIPCHECK_MIGRATIONS_DATABASE" >> log.txt\n',
    );
  });
  afterEach(() => fs.rmSync(configDir, { recursive: true, force: true }));

  const commandMigrator = (migrations: Record<string, unknown>, rollback: 'down' | 'keep' = 'down') =>
    createMigrator(
      configSchema.parse({
        service: 'web',
        fleet: { kind: 'local', command: 'true' },
        migrations,
        rollback: { migrations: rollback },
      }),
      configDir,
    )!;
  const log = () =>
    fs.existsSync(path.join(configDir, 'log.txt'))
      ? fs
          .readFileSync(path.join(configDir, 'log.txt'), 'utf8')
          .trim()
          .split('\n')
          .map((line) => line.trimEnd())
      : [];
  const history = () =>
    JSON.parse(fs.readFileSync(path.join(configDir, COMMAND_HISTORY_FILE), 'utf8')) as unknown;

  it('given up and down scripts, when a release migrates and rolls back, then each runs once with its environment', async () => {
    const migrator = commandMigrator({ up: 'sh up.sh', down: ['sh', 'down.sh'], database: 'sqlite:app.db' });
    const database = `sqlite:${path.join(configDir, 'app.db')}`;
    expect(await migrator.pending()).toEqual([{ id: 'command', reversible: true }]);

    const applied = await migrator.up(7);
    expect(applied).toMatchObject([{ id: 'command', releaseId: 7 }]);
    expect(await migrator.up(7)).toEqual([]);
    expect(log()).toEqual([`up 7 real ${database}`]);
    expect(history()).toEqual({ '7': applied[0]!.appliedAt });
    expect(await migrator.pending({ releaseId: 7 })).toEqual([]);
    expect(await migrator.pending({ releaseId: 8 })).toEqual([{ id: 'command', reversible: true }]);

    expect(await migrator.down(7)).toEqual(applied);
    expect(await migrator.down(7)).toEqual([]);
    expect(log()).toEqual([`up 7 real ${database}`, `down 7 real ${database}`]);
    expect(history()).toEqual({});
  });

  it('given a rehearsal, when it runs, then the commands see SHIPCHECK_REHEARSAL=1 and the history is untouched', async () => {
    const migrator = commandMigrator({ up: 'sh up.sh', down: 'sh down.sh' });
    const result = await migrator.rehearse();
    expect(result.ok, result.steps.join('\n')).toBe(true);
    expect(result.steps.map((step) => step.split(':')[0])).toEqual(['up', 'down', 'up again']);
    expect(log()).toEqual(['up 0 1', 'down 0 1', 'up 0 1']);
    expect(fs.existsSync(path.join(configDir, COMMAND_HISTORY_FILE))).toBe(false);
  });

  it('given a failing up command, when up runs, then its exit code and output are the error, and nothing is recorded', async () => {
    const migrator = commandMigrator({ up: 'echo "relation users already exists" >&2; exit 3' });
    await expect(migrator.up(1)).rejects.toThrow(
      new MigrationError('migrations.up exited 3: relation users already exists'),
    );
    expect(fs.existsSync(path.join(configDir, COMMAND_HISTORY_FILE))).toBe(false);
    const rehearsal = await migrator.rehearse();
    expect(rehearsal).toMatchObject({
      ok: false,
      summary: 'rehearsal failed at up: migrations.up exited 3: relation users already exists',
    });
  });

  it('given no down command, when rolled back or rehearsed, then it says a rollback cannot undo it', async () => {
    const migrator = commandMigrator({ up: 'sh up.sh' });
    expect(await migrator.pending()).toEqual([{ id: 'command', reversible: false }]);
    await migrator.up(3);
    await expect(migrator.down(3)).rejects.toThrow(
      new MigrationError('migrations.up has no migrations.down command: a rollback cannot undo it'),
    );
    expect((await migrator.rehearse()).ok).toBe(false);
    const kept = await commandMigrator({ up: 'sh up.sh' }, 'keep').rehearse();
    expect(kept.ok).toBe(true);
    expect(kept.steps.at(-1)).toMatch(/^down: skipped: .*\(rollback\.migrations: keep\)$/);
  });

  it('given a command that hangs, when the timeout passes, then it is stopped', async () => {
    const migrator = commandMigrator({ up: 'echo started; sleep 30', timeout: '300ms' });
    await expect(migrator.up(1)).rejects.toThrow(
      new MigrationError('migrations.up timed out after 300ms (migrations.timeout): started'),
    );
  });
});
