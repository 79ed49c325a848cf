import type { Kysely, Migration } from 'kysely';

/**
 * What store retention looks settled notifications up by (store/retention.ts): delivered and failed
 * rows by when they last changed, oldest first. Without it a pass read every settled row of the
 * outbox, and sorted them, for each batch it deleted.
 */
export function notificationRetentionMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('notifications_settled')
        .on('notifications')
        .columns(['state', 'updated_at'])
        .execute();
    },
  };
}
