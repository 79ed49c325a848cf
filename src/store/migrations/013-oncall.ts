import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/** On-call overrides made through the API; a removed one keeps its row, with who removed it and when. */
export function oncallMigration(dialect: Dialect): Migration {
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('oncall_overrides')
        .addColumn('id', id, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('schedule', 'text', (c) => c.notNull())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('starts_at', time, (c) => c.notNull())
        .addColumn('ends_at', time, (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('removed_by', 'text')
        .addColumn('removed_at', time)
        .execute();
      await db.schema
        .createIndex('oncall_overrides_by_schedule')
        .on('oncall_overrides')
        .columns(['schedule', 'ends_at'])
        .execute();
    },
  };
}
