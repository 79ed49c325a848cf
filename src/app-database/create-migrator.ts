/** Picks the migrator a config's `migrations` block describes: the command form or the folder form. */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CommandMigrator } from './command-migrator.js';
import { absoluteDatabase, parseDatabase } from './database-target.js';
import { MigrationError, type Migrator } from './migrator.js';
import { SqlFolderMigrator } from './sql-folder-migrator.js';

/** setTimeout's ceiling; a longer configured timeout would otherwise fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The migrator the config's `migrations` block describes; undefined when there is no such block. */
export function createMigrator(config: Config, configDir: string): Migrator | undefined {
  const block = config.migrations;
  if (block === undefined) return undefined;
  const common = {
    configDir,
    timeoutMs: Math.min(block.timeout, MAX_TIMER_MS),
    keepOnRollback: config.rollback.migrations === 'keep',
  };
  if (block.up !== undefined) {
    return new CommandMigrator({
      ...common,
      up: block.up,
      down: block.down,
      database: block.database === undefined ? undefined : absoluteDatabase(block.database, configDir),
    });
  }
  // The schema already insists on both; this keeps a hand-built config from failing obscurely later.
  if (block.dir === undefined || block.database === undefined) {
    throw new MigrationError('migrations: give dir and database, or an up command');
  }
  return new SqlFolderMigrator({
    ...common,
    dir: path.resolve(configDir, block.dir),
    target: parseDatabase(block.database, configDir),
  });
}
