import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/**
 * Performance baselines per release (docs/baselines.md): one row per release, written when its window
 * at 100% opens (`recording`) and finished when it closes. The figures are JSON: read whole, never
 * queried.
 */
export function baselinesMigration(dialect: Dialect): Migration {
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('baselines')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('release_id', 'integer', (c) => c.notNull().unique())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('started_at', time, (c) => c.notNull())
        .addColumn('ended_at', time)
        .addColumn('figures', 'text')
        .addColumn('reason', 'text')
        .addColumn('resources_start', 'text', (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('baselines_by_service')
        .on('baselines')
        .columns(['service', 'release_id'])
        .execute();
    },
  };
}
