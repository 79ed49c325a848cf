import { type Kysely, type Selectable } from 'kysely';
import type { Destination, NewNotification, Notice } from '../comms/types.js';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { num } from './values.js';

/** A notification's life: waiting to go (or for a retry), delivered, or given up. */
export type NotificationState = 'pending' | 'delivered' | 'failed';

/** One notification to one destination: the outbox row and, once sent, its delivery log entry. */
export interface NotificationRow {
  id: number;
  key: string;
  /** The channel name, or `user:NAME`, or `subscriber:ID`: what the log is filtered by. */
  channel: string;
  to: Destination;
  notice: Notice;
  state: NotificationState;
  attempts: number;
  /** When the next attempt is due (pending rows). */
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

/** The label a destination is logged and filtered under. */
export function destinationLabel(to: Destination): string {
  if ('channel' in to) return to.channel;
  if ('user' in to) return `user:${to.user}`;
  return `subscriber:${to.subscriber}`;
}

/**
 * The durable outbox of notifications and their delivery log, in one table: a row is written
 * `pending` before anything is sent, so a crash loses none, and keeps its attempts and last error.
 */
export class NotificationStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /** Writes notifications to send; one whose key is already written is left as it is. Returns the new rows' ids. */
  async enqueue(items: readonly NewNotification[], at: number): Promise<number[]> {
    const ids: number[] = [];
    for (const item of items) {
      const row = await this.db
        .insertInto('notifications')
        .values({
          key: item.key,
          channel: destinationLabel(item.to),
          destination: JSON.stringify(item.to),
          notice: JSON.stringify(item.notice),
          state: 'pending',
          attempts: 0,
          next_attempt_at: at,
          claimed_by: null,
          claimed_until: null,
          last_error: null,
          created_at: at,
          updated_at: at,
          delivered_at: null,
        })
        .onConflict((oc) => oc.column('key').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (row) ids.push(Number(row.id));
    }
    return ids;
  }

  /** Newest first, optionally one channel's or one state's, before an id (paging backwards). */
  async list(
    filter: { channel?: string; state?: NotificationState; beforeId?: number; limit?: number } = {},
  ): Promise<NotificationRow[]> {
    let query = this.db.selectFrom('notifications').selectAll();
    if (filter.channel !== undefined) query = query.where('channel', '=', filter.channel);
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toNotification);
  }

  async get(id: number): Promise<NotificationRow | undefined> {
    const row = await this.db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toNotification(row) : undefined;
  }

  /** The dialect, for queries that differ. */
  protected get sqlDialect(): Dialect {
    return this.dialect;
  }
}

function toNotification(row: Selectable<Database['notifications']>): NotificationRow {
  return {
    id: Number(row.id),
    key: row.key,
    channel: row.channel,
    to: JSON.parse(row.destination) as Destination,
    notice: JSON.parse(row.notice) as Notice,
    state: row.state as NotificationState,
    attempts: row.attempts,
    nextAttemptAt: Number(row.next_attempt_at),
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    deliveredAt: num(row.delivered_at),
  };
}
