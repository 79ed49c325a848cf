import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/** The status page's incidents, maintenances, component overrides and history, and subscribers. */
export function statusPageMigration(dialect: Dialect): Migration {
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  const ref = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('status_component_history')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('component', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('from_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('status_component_history_by_component')
        .on('status_component_history')
        .columns(['component', 'from_at'])
        .execute();
      await db.schema
        .createTable('status_overrides')
        .addColumn('component', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('until_at', time)
        .addColumn('reason', 'text')
        .addColumn('set_by', 'text', (c) => c.notNull())
        .addColumn('set_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('status_incidents')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('public_id', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('impact', 'text', (c) => c.notNull())
        .addColumn('components', 'text', (c) => c.notNull())
        .addColumn('internal_incident_id', ref)
        .addColumn('started_at', time, (c) => c.notNull())
        .addColumn('monitoring_at', time)
        .addColumn('resolved_at', time)
        .addColumn('scheduled_for', time)
        .addColumn('scheduled_until', time)
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('status_incidents_by_kind')
        .on('status_incidents')
        .columns(['kind', 'status', 'id'])
        .execute();
      await db.schema
        .createTable('status_incident_updates')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('public_id', 'text', (c) => c.notNull().unique())
        .addColumn('incident_id', ref, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('affected_components', 'text')
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('display_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('status_incident_updates_by_incident')
        .on('status_incident_updates')
        .columns(['incident_id', 'id'])
        .execute();
      await db.schema
        .createTable('status_subscribers')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('confirm_hash', 'text')
        .addColumn('confirm_sent_at', time)
        .addColumn('unsubscribe_token', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('confirmed_at', time)
        .addColumn('unsubscribed_at', time)
        .addUniqueConstraint('status_subscribers_address', ['kind', 'address'])
        .execute();
      await db.schema
        .createIndex('status_subscribers_by_state')
        .on('status_subscribers')
        .columns(['state', 'id'])
        .execute();
    },
  };
}
