/**
 * How a config names the user's database, in `migrations.database`, `backup.database` and the `sql`
 * check: `sqlite:PATH`, relative to the config file, or a PostgreSQL URL.
 */
import path from 'node:path';

/** What a SQLite database's name starts with: `sqlite:app.db`. */
export const SQLITE_PREFIX = 'sqlite:';

/** The user's database: a PostgreSQL URL, or a SQLite file's absolute path. */
export type DatabaseTarget = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

/** The target `database` names: `sqlite:PATH` (relative to `configDir`) or a PostgreSQL URL. */
export function parseDatabase(database: string, configDir: string): DatabaseTarget {
  if (database.startsWith(SQLITE_PREFIX)) {
    return { kind: 'sqlite', file: path.resolve(configDir, database.slice(SQLITE_PREFIX.length)) };
  }
  return { kind: 'postgres', url: database };
}

/** The database as it is passed on to the user's commands: a SQLite path made absolute, a URL unchanged. */
export function absoluteDatabase(database: string, configDir: string): string {
  const target = parseDatabase(database, configDir);
  return target.kind === 'sqlite' ? `${SQLITE_PREFIX}${target.file}` : target.url;
}
