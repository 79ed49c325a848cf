import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import { num } from './values.js';

/** The kinds of contact method a user may have. */
export const CONTACT_METHOD_TYPES = ['email', 'webhook', 'slack', 'pagerduty'] as const;
/** One of CONTACT_METHOD_TYPES. */
export type ContactMethodType = (typeof CONTACT_METHOD_TYPES)[number];

/** A user's contact method as stored: what may be shown, and the sealed address, URL or key. */
export interface ContactMethodRow {
  id: number;
  userId: number;
  type: ContactMethodType;
  /** An email address, a webhook's host, `routing key ***`: never a secret. */
  shown: string;
  /** The plain values as JSON, sealed with the AAD of contactMethodAad(userId, id). */
  sealed: string;
  disabledAt: number | null;
  disabledReason: string | null;
  createdAt: number;
}

/** Users' contact methods. The values are sealed by the caller (comms/contact-methods.ts), never here. */
export class ContactMethodStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Adds a method whose sealed value `seal(id)` makes once the id is known (the AAD binds the value to
   * it); both writes happen in one transaction.
   */
  async add(
    method: { userId: number; type: ContactMethodType; shown: string },
    seal: (id: number) => string,
    at: number,
  ): Promise<ContactMethodRow> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx
        .insertInto('contact_methods')
        .values({
          user_id: method.userId,
          type: method.type,
          shown: method.shown,
          sealed: '',
          disabled_at: null,
          disabled_reason: null,
          created_at: at,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const id = Number(row.id);
      const sealed = seal(id);
      await tx.updateTable('contact_methods').set({ sealed }).where('id', '=', id).execute();
      return { id, ...method, sealed, disabledAt: null, disabledReason: null, createdAt: at };
    });
  }

  /** One user's methods, or everyone's, oldest first. */
  async list(userId?: number): Promise<ContactMethodRow[]> {
    let query = this.db.selectFrom('contact_methods').selectAll();
    if (userId !== undefined) query = query.where('user_id', '=', userId);
    return (await query.orderBy('id').execute()).map(toContactMethod);
  }

  /** One method by id. */
  async get(id: number): Promise<ContactMethodRow | undefined> {
    const row = await this.db
      .selectFrom('contact_methods')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toContactMethod(row) : undefined;
  }

  /** Removes a method; false when there was none. */
  async remove(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('contact_methods').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  /** Replaces the sealed value (a key rotation re-seals it). */
  async setSealed(id: number, sealed: string): Promise<void> {
    await this.db.updateTable('contact_methods').set({ sealed }).where('id', '=', id).execute();
  }

  /** Disables a method with a reason (null `at` enables it again). */
  async setDisabled(id: number, disabled: { at: number; reason: string } | null): Promise<void> {
    await this.db
      .updateTable('contact_methods')
      .set({ disabled_at: disabled?.at ?? null, disabled_reason: disabled?.reason ?? null })
      .where('id', '=', id)
      .execute();
  }
}

function toContactMethod(row: Selectable<Database['contact_methods']>): ContactMethodRow {
  return {
    id: Number(row.id),
    userId: Number(row.user_id),
    type: row.type as ContactMethodType,
    shown: row.shown,
    sealed: row.sealed,
    disabledAt: num(row.disabled_at),
    disabledReason: row.disabled_reason,
    createdAt: Number(row.created_at),
  };
}
