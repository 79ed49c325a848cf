import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/**
 * Scaling (docs/capacity.md, docs/decisions/018): the stable instance count set by `shipcheck scale`
 * or the autoscaler, one row per unit, and the load samples the capacity report reads.
 */
export function scalingMigration(dialect: Dialect): Migration {
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('scale_settings')
        .addColumn('unit', 'text', (c) => c.primaryKey())
        .addColumn('instances', 'integer', (c) => c.notNull())
        // fleet.instances when the count was set: a config that changes it replaces the stored count.
        .addColumn('config_instances', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('set_by', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('set_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('load_samples')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('unit', 'text', (c) => c.notNull())
        .addColumn('at', time, (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('instances', 'integer', (c) => c.notNull())
        .addColumn('rps', 'double precision', (c) => c.notNull())
        .addColumn('requests', 'integer', (c) => c.notNull())
        .addColumn('p99', 'double precision')
        .addColumn('error_rate', 'double precision')
        .addColumn('cpu', 'double precision')
        .addColumn('rss', 'double precision')
        .execute();
      await db.schema
        .createIndex('load_samples_by_unit')
        .on('load_samples')
        .columns(['unit', 'at'])
        .execute();
      await db.schema.createIndex('load_samples_by_at').on('load_samples').column('at').execute();
    },
  };
}
