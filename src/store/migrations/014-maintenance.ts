import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/**
 * Scheduled checklist items between releases (docs/decisions/017): one row per unit and item with
 * its next due time and the claim of the replica running it, and a row per run with its result.
 */
export function maintenanceMigration(dialect: Dialect): Migration {
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('maintenance_items')
        .addColumn('unit', 'text', (c) => c.notNull())
        .addColumn('item_id', 'text', (c) => c.notNull())
        // The cron expression and zone `next_due_at` was computed from; a change recomputes it.
        .addColumn('schedule', 'text', (c) => c.notNull())
        .addColumn('next_due_at', time, (c) => c.notNull())
        // The run in progress and the replica running it, until `claimed_until` (renewed while it runs).
        .addColumn('run_id', 'integer')
        .addColumn('claimed_by', 'text')
        .addColumn('claimed_until', time)
        .addColumn('last_run_id', 'integer')
        .addColumn('last_state', 'text')
        .addColumn('last_at', time)
        // Whether the owners were told it failed and not yet that it recovered.
        .addColumn('failing', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('maintenance_items_pk', ['unit', 'item_id'])
        .execute();
      await db.schema
        .createTable('maintenance_runs')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('unit', 'text', (c) => c.notNull())
        .addColumn('item_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('by', 'text')
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('slot_at', time)
        .addColumn('started_at', time, (c) => c.notNull())
        .addColumn('finished_at', time)
        .addColumn('duration_ms', time)
        .execute();
      await db.schema
        .createIndex('maintenance_runs_by_item')
        .on('maintenance_runs')
        .columns(['unit', 'item_id', 'id'])
        .execute();
    },
  };
}
