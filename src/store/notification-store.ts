import { type Kysely, type Selectable } from 'kysely';
import { ContactMethodStore } from './contact-method-store.js';
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
  /** The replica sending it right now, if any. */
  claimedBy: string | null;
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
  /** Users' contact methods, which `{user}` destinations reach. */
  readonly contacts: ContactMethodStore;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {
    this.contacts = new ContactMethodStore(db);
  }

  /**
   * Writes notifications to send; one whose key is already written is left as it is. Returns the new
   * rows' ids. With `claim`, the rows are written already claimed by its holder (a test sent at once).
   */
  async enqueue(
    items: readonly NewNotification[],
    at: number,
    claim?: { holder: string; until: number },
  ): Promise<number[]> {
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
          claimed_by: claim?.holder ?? null,
          claimed_until: claim?.until ?? null,
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

  /** One row by id. */
  async get(id: number): Promise<NotificationRow | undefined> {
    const row = await this.db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toNotification(row) : undefined;
  }

  /** Ids of pending rows due at `now` and not claimed by a live sender, oldest first. */
  async due(now: number, limit: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('notifications')
      .select('id')
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => Number(r.id));
  }

  /**
   * Takes a pending row for `holder` until `until`, by compare-and-set: true only when this call
   * changed the row, so two senders never hold one row at once, and a crashed sender's claim lapses.
   */
  async claim(id: number, holder: string, now: number, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('notifications')
      .set({ claimed_by: holder, claimed_until: until })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Records the outcome of an attempt by the holder of the claim: delivered, failed for good, or
   * pending again from `nextAttemptAt`. False when the claim was no longer the holder's.
   */
  async settle(
    id: number,
    holder: string,
    outcome:
      | { state: 'delivered' }
      | { state: 'pending'; error: string; nextAttemptAt: number }
      | { state: 'failed'; error: string },
    at: number,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('notifications')
      .set((eb) => ({
        state: outcome.state,
        attempts: eb('attempts', '+', 1),
        claimed_by: null,
        claimed_until: null,
        updated_at: at,
        ...(outcome.state === 'delivered'
          ? { delivered_at: at, last_error: null }
          : { last_error: outcome.error }),
        ...(outcome.state === 'pending' ? { next_attempt_at: outcome.nextAttemptAt } : {}),
      }))
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where('claimed_by', '=', holder)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Marks a pending row delivered without sending it (a user's row fanned out to one row per method). */
  async markFannedOut(id: number, holder: string, methods: number, at: number): Promise<void> {
    await this.db
      .updateTable('notifications')
      .set({
        state: 'delivered',
        claimed_by: null,
        claimed_until: null,
        delivered_at: at,
        updated_at: at,
        // Not an error: what the fan-out did, shown in the log.
        last_error: `fanned out to ${methods} contact method(s)`,
      })
      .where('id', '=', id)
      .where('claimed_by', '=', holder)
      .execute();
  }

  /** Fails every pending row of `ids` with `reason` (their endpoint is gone); returns how many. */
  async failPending(ids: readonly number[], reason: string, at: number): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.db
      .updateTable('notifications')
      .set({ state: 'failed', last_error: reason, claimed_by: null, claimed_until: null, updated_at: at })
      .where('id', 'in', ids)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Pending rows under one label (a channel, `user:NAME`), for failing those of a gone endpoint. */
  async pendingOf(channel: string): Promise<NotificationRow[]> {
    const rows = await this.db
      .selectFrom('notifications')
      .selectAll()
      .where('channel', '=', channel)
      .where('state', '=', 'pending')
      .execute();
    return rows.map(toNotification);
  }

  /** Puts a failed row back to pending, due at `at`, with its attempts counted afresh; false when it was not failed. */
  async retry(id: number, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('notifications')
      .set({
        state: 'pending',
        attempts: 0,
        next_attempt_at: at,
        claimed_by: null,
        claimed_until: null,
        updated_at: at,
      })
      .where('id', '=', id)
      .where('state', '=', 'failed')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** How many rows wait to be sent, and how many were given up. */
  async counts(): Promise<{ pending: number; failed: number }> {
    const rows = await this.db
      .selectFrom('notifications')
      .select((eb) => ['state', eb.fn.countAll<number | string>().as('n')])
      .where('state', 'in', ['pending', 'failed'])
      .groupBy('state')
      .execute();
    const of = (state: string): number => Number(rows.find((r) => r.state === state)?.n ?? 0);
    return { pending: of('pending'), failed: of('failed') };
  }

  /** Channels disabled after a 410, with why and when. */
  async disabledChannels(): Promise<{ name: string; at: number; reason: string }[]> {
    const rows = await this.db
      .selectFrom('notification_channels')
      .selectAll()
      .where('disabled_at', 'is not', null)
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ name: r.name, at: Number(r.disabled_at), reason: r.disabled_reason ?? '' }));
  }

  /** Disables a channel with a reason, or (null) enables it again. */
  async setChannelDisabled(
    name: string,
    disabled: { at: number; reason: string } | null,
    at: number,
  ): Promise<void> {
    await this.db
      .insertInto('notification_channels')
      .values({
        name,
        disabled_at: disabled?.at ?? null,
        disabled_reason: disabled?.reason ?? null,
        updated_at: at,
      })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({
          disabled_at: disabled?.at ?? null,
          disabled_reason: disabled?.reason ?? null,
          updated_at: at,
        }),
      )
      .execute();
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
    claimedBy: row.claimed_until === null ? null : row.claimed_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    deliveredAt: num(row.delivered_at),
  };
}
