import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/**
 * Snapshots of a database's pg_stat_statements that the `queries` check compares against: one per
 * unit, version and database, replaced when taken again.
 */
export function querySnapshotsMigration(dialect: Dialect): Migration {
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('query_snapshots')
        .addColumn('unit', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('taken_at', time, (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('query_snapshots_pk', ['unit', 'version', 'target'])
        .execute();
      await db.schema
        .createIndex('query_snapshots_by_unit')
        .on('query_snapshots')
        .columns(['unit', 'taken_at'])
        .execute();
    },
  };
}
