import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { num } from './values.js';

/** An on-call override made through the API: `user` is on call for `schedule` from `startsAt` until `endsAt`. */
export interface OnCallOverrideRow {
  id: number;
  schedule: string;
  user: string;
  startsAt: number;
  endsAt: number;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  /** Set once removed; a removed override no longer counts, and its row stays for the record. */
  removedBy: string | null;
  removedAt: number | null;
}

/** What adding an override takes. */
export type NewOnCallOverride = Pick<
  OnCallOverrideRow,
  'schedule' | 'user' | 'startsAt' | 'endsAt' | 'reason' | 'createdBy'
>;

/** On-call overrides made through the API, beside the ones the config holds. */
export class OnCallStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}

  /** Adds an override; returns it with its id. */
  async addOverride(override: NewOnCallOverride, now: number): Promise<OnCallOverrideRow> {
    const row = await this.db
      .insertInto('oncall_overrides')
      .values({
        schedule: override.schedule,
        user: override.user,
        starts_at: override.startsAt,
        ends_at: override.endsAt,
        reason: override.reason,
        created_by: override.createdBy,
        created_at: now,
        removed_by: null,
        removed_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toOverride(row);
  }

  /**
   * The overrides in effect some time between `from` and `to` (not removed), by start; of one
   * schedule, or of every schedule when `schedule` is undefined.
   */
  async overrides(schedule: string | undefined, from: number, to: number): Promise<OnCallOverrideRow[]> {
    let query = this.db
      .selectFrom('oncall_overrides')
      .selectAll()
      .where('removed_at', 'is', null)
      .where('ends_at', '>', from)
      .where('starts_at', '<', to);
    if (schedule !== undefined) query = query.where('schedule', '=', schedule);
    const rows = await query.orderBy('starts_at').orderBy('id').execute();
    return rows.map(toOverride);
  }

  async getOverride(id: number): Promise<OnCallOverrideRow | undefined> {
    const row = await this.db
      .selectFrom('oncall_overrides')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toOverride(row) : undefined;
  }

  /** Removes an override: it stops counting, and keeps its row. False when there is none by that id or it was removed already. */
  async removeOverride(id: number, by: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('oncall_overrides')
      .set({ removed_by: by, removed_at: now })
      .where('id', '=', id)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

function toOverride(row: Selectable<Database['oncall_overrides']>): OnCallOverrideRow {
  return {
    id: Number(row.id),
    schedule: row.schedule,
    user: row.user,
    startsAt: Number(row.starts_at),
    endsAt: Number(row.ends_at),
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    removedBy: row.removed_by,
    removedAt: num(row.removed_at),
  };
}
