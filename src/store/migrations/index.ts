import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { incidentsMigration } from './011-incidents.js';
import { statusPageMigration } from './012-status-page.js';
import { oncallMigration } from './013-oncall.js';
import { maintenanceMigration } from './014-maintenance.js';
import { scalingMigration } from './015-scaling.js';
import { querySnapshotsMigration } from './017-query-snapshots.js';
import { baselinesMigration } from './016-baselines.js';
import { notificationRetentionMigration } from './018-notification-retention.js';

import type { Dialect } from './dialect.js';

export type { Dialect } from './dialect.js';

/** The store's own schema migrations, in order; never edit one that has shipped, add a new one. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  // Auto-increment keys are the one place SQLite and PostgreSQL spell differently.
  const id = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
  const time = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
  return {
    '001_initial': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('services')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('stable_version', 'text')
          .addColumn('previous_version', 'text')
          .addColumn('previous_retire_at', time)
          .addColumn('updated_at', time, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('releases')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('from_version', 'text')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('phase', 'text', (c) => c.notNull())
          .addColumn('step', 'integer', (c) => c.notNull())
          .addColumn('weight', 'integer', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('outcome', 'text')
          .addColumn('step_started_at', time, (c) => c.notNull())
          .addColumn('phase_started_at', time, (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('updated_at', time, (c) => c.notNull())
          .addColumn('ended_at', time)
          .addColumn('active', 'integer')
          .execute();
        await db.schema
          .createIndex('releases_one_active')
          .on('releases')
          .columns(['service', 'active'])
          .unique()
          .execute();
        await db.schema
          .createIndex('releases_by_service')
          .on('releases')
          .columns(['service', 'id'])
          .execute();
        await db.schema
          .createTable('events')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('release_id', 'integer')
          .addColumn('at', time, (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('events_by_release').on('events').columns(['release_id', 'id']).execute();
        await db.schema
          .createTable('measurements')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('release_id', 'integer', (c) => c.notNull())
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('at', time, (c) => c.notNull())
          .addColumn('trigger', 'text', (c) => c.notNull())
          .addColumn('metric', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('value', 'double precision')
          .addColumn('threshold', 'double precision')
          .addColumn('verdict', 'text', (c) => c.notNull())
          .addColumn('window_ms', 'integer', (c) => c.notNull())
          .addColumn('requests', 'integer', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('inputs', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('measurements_by_release')
          .on('measurements')
          .columns(['release_id', 'id'])
          .execute();
        await db.schema
          .createTable('instances')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('idx', 'integer', (c) => c.notNull())
          .addColumn('port', 'integer', (c) => c.notNull())
          .addColumn('pid', 'integer', (c) => c.notNull())
          .addColumn('pid_start_time', 'text', (c) => c.notNull())
          .addColumn('log_file', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '002_checklists': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('checklist_items')
          .addColumn('release_id', 'integer', (c) => c.notNull())
          .addColumn('item_id', 'text', (c) => c.notNull())
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('section', 'text', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('gate', 'text', (c) => c.notNull())
          .addColumn('params', 'text', (c) => c.notNull())
          .addColumn('hint', 'text')
          .addColumn('automated', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('evidence', 'text', (c) => c.notNull())
          .addColumn('updated_at', time, (c) => c.notNull())
          .addPrimaryKeyConstraint('checklist_items_pk', ['release_id', 'item_id'])
          .execute();
      },
    },
    '003_leases_and_effects': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', time, (c) => c.notNull())
          .addColumn('epoch', 'integer', (c) => c.notNull())
          .addColumn('acquired_at', time, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('effects')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('release_id', 'integer')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('at', time, (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('effects_by_release')
          .on('effects')
          .columns(['release_id', 'at'])
          .execute();
      },
    },
    '004_replicas': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Each replica's presence, so replicas can spread the units' leases between them.
        await db.schema
          .createTable('replicas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('seen_at', time, (c) => c.notNull())
          .addColumn('expires_at', time, (c) => c.notNull())
          .execute();
      },
    },
    '005_security': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('users')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('email', 'text')
          .addColumn('password_hash', 'text')
          .addColumn('grants', 'text', (c) => c.notNull())
          .addColumn('groups', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('subject', 'text')
          .addColumn('disabled_at', time)
          .addColumn('failed_logins', 'integer', (c) => c.notNull())
          .addColumn('locked_until', time)
          .addColumn('totp_secret', 'text')
          .addColumn('totp_confirmed', 'integer', (c) => c.notNull())
          .addColumn('totp_last_step', time)
          .addColumn('recovery_codes', 'text', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('updated_at', time, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('user_id', 'integer', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('environment', 'text', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('expires_at', time)
          .addColumn('last_used_at', time)
          .addColumn('revoked_at', time)
          // When a TOTP code was last proven with this token: fresh for server.auth.mfaFreshFor.
          .addColumn('mfa_at', time)
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) => c.notNull())
          .addColumn('csrf', 'text', (c) => c.notNull())
          .addColumn('address', 'text')
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('seen_at', time, (c) => c.notNull())
          .addColumn('expires_at', time, (c) => c.notNull())
          .addColumn('mfa_at', time)
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('seq', time, (c) => c.primaryKey())
          .addColumn('at', time, (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('service', 'text')
          .addColumn('address', 'text')
          .addColumn('result', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('prev', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        // One row: the newest entry's seq and hash. Appends lock it, so replicas take turns.
        await db.schema
          .createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('seq', time, (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          // The last entry moved to an archive file: the live chain continues from it.
          .addColumn('archived_seq', time, (c) => c.notNull().defaultTo(0))
          .addColumn('archived_hash', 'text', (c) => c.notNull().defaultTo(''))
          .execute();
      },
    },
    '006_idempotency_keys': {
      async up(db: Kysely<unknown>): Promise<void> {
        // A write retried after a commit whose acknowledgement was lost finds its row by key instead of
        // adding a second one. Rows written before this migration have no key (NULLs never collide).
        for (const table of ['releases', 'events', 'measurements']) {
          await db.schema.alterTable(table).addColumn('idempotency_key', 'text').execute();
          await db.schema
            .createIndex(`${table}_by_idempotency_key`)
            .on(table)
            .column('idempotency_key')
            .unique()
            .execute();
        }
        // Evidence is appended to a JSON list in the item's row: the row keeps its last writes' keys.
        await db.schema.alterTable('checklist_items').addColumn('write_keys', 'text').execute();
      },
    },
    '007_retention': {
      async up(db: Kysely<unknown>): Promise<void> {
        // What the retention pass looks rows up by (store/retention.ts): old measurements, and
        // releases by when they ended.
        await db.schema.createIndex('measurements_by_at').on('measurements').column('at').execute();
        await db.schema.createIndex('releases_by_end').on('releases').column('ended_at').execute();
      },
    },
    '008_lease_session_locks': {
      async up(db: Kysely<unknown>): Promise<void> {
        // The epoch whose holder also keeps a session lock on the unit (docs/decisions/009): a
        // replica that finds that lock free knows the holder's database session is gone.
        await db.schema.alterTable('leases').addColumn('lock_epoch', 'integer').execute();
      },
    },
    '009_release_samples': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Stable and canary figures of an active release every few seconds, for the release page's
        // charts (docs/decisions/014). The figures are JSON: they are read whole, never queried.
        await db.schema
          .createTable('release_samples')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('release_id', 'integer', (c) => c.notNull())
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('at', time, (c) => c.notNull())
          .addColumn('stable', 'text')
          .addColumn('canary', 'text')
          .addColumn('idempotency_key', 'text')
          .execute();
        await db.schema
          .createIndex('release_samples_by_release')
          .on('release_samples')
          .columns(['release_id', 'at'])
          .execute();
        await db.schema
          .createIndex('release_samples_by_idempotency_key')
          .on('release_samples')
          .column('idempotency_key')
          .unique()
          .execute();
      },
    },
    '010_notifications': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('notifications')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('key', 'text', (c) => c.notNull().unique())
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('destination', 'text', (c) => c.notNull())
          .addColumn('notice', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('next_attempt_at', time, (c) => c.notNull())
          .addColumn('claimed_by', 'text')
          .addColumn('claimed_until', time)
          .addColumn('last_error', 'text')
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('updated_at', time, (c) => c.notNull())
          .addColumn('delivered_at', time)
          .execute();
        await db.schema
          .createIndex('notifications_due')
          .on('notifications')
          .columns(['state', 'next_attempt_at'])
          .execute();
        await db.schema
          .createIndex('notifications_by_channel')
          .on('notifications')
          .columns(['channel', 'id'])
          .execute();
        // A channel a 410 answered: disabled until someone enables it again.
        await db.schema
          .createTable('notification_channels')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('disabled_at', time)
          .addColumn('disabled_reason', 'text')
          .addColumn('updated_at', time, (c) => c.notNull())
          .execute();
        // Users' contact methods: the address, URL or key sealed under the installation's key ring.
        await db.schema
          .createTable('contact_methods')
          .addColumn('id', id, (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('user_id', 'integer', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('shown', 'text', (c) => c.notNull())
          .addColumn('sealed', 'text', (c) => c.notNull())
          .addColumn('disabled_at', time)
          .addColumn('disabled_reason', 'text')
          .addColumn('created_at', time, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('contact_methods_by_user')
          .on('contact_methods')
          .columns(['user_id', 'id'])
          .execute();
      },
    },
    '011_incidents': incidentsMigration(dialect),
    '012_status_page': statusPageMigration(dialect),
    '013_oncall': oncallMigration(dialect),
    '014_maintenance': maintenanceMigration(dialect),
    '015_scaling': scalingMigration(dialect),
    '016_baselines': baselinesMigration(dialect),
    '017_query_snapshots': querySnapshotsMigration(dialect),
    '018_notification_retention': notificationRetentionMigration(),
  };
}

/** Serves the in-code migrations to Kysely's Migrator. */
export class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}
