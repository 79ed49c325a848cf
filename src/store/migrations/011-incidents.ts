import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/** Incidents, their updates and escalation state. */
export function incidentsMigration(dialect: Dialect): Migration {
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('incidents')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('key', 'text', (c) => c.notNull())
        // The key while the incident is open, null once resolved: one open incident per key, and
        // NULLs never collide, so a resolved key may open again.
        .addColumn('open_key', 'text', (c) => c.unique())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('service', 'text')
        .addColumn('release_id', 'integer')
        .addColumn('policy', 'text')
        .addColumn('public', 'integer', (c) => c.notNull())
        .addColumn('postmortem', 'text')
        .addColumn('acknowledged_by', 'text')
        .addColumn('acknowledged_at', time)
        .addColumn('resolved_by', 'text')
        .addColumn('resolved_at', time)
        .addColumn('resolve_at', time)
        .addColumn('esc_step', 'integer', (c) => c.notNull())
        .addColumn('esc_round', 'integer', (c) => c.notNull())
        .addColumn('esc_cycle', 'integer', (c) => c.notNull())
        .addColumn('next_escalation_at', time)
        .addColumn('esc_exhausted', 'integer', (c) => c.notNull())
        .addColumn('paged', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('incidents_by_state').on('incidents').columns(['state', 'id']).execute();
      await db.schema.createIndex('incidents_due').on('incidents').columns(['next_escalation_at']).execute();
      await db.schema.createIndex('incidents_by_key').on('incidents').columns(['key', 'id']).execute();
      await db.schema
        .createTable('incident_updates')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('incident_id', 'integer', (c) => c.notNull())
        .addColumn('at', time, (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('incident_updates_by_incident')
        .on('incident_updates')
        .columns(['incident_id', 'id'])
        .execute();
    },
  };
}
