/**
 * The status page's part of the store: component status history and overrides, page incidents and
 * maintenances with their updates, and subscribers (migration 012). One file for one job, the page's
 * persistence; it runs long because it declares its five tables' types here rather than in
 * schema.ts, beside the queries that use them.
 */
import crypto from 'node:crypto';
import type { Generated, Kysely, Selectable } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { isUniqueViolation, num } from './values.js';

/** The status page's tables (migration 012). */
export type StatusPageTables = {
  /** Each change of a component's shown status: it held from `from_at` until the next row's. */
  status_component_history: {
    id: Generated<number>;
    component: string;
    status: string;
    from_at: number;
  };
  /** A status set by hand over the derived one, per component. */
  status_overrides: {
    component: string;
    status: string;
    until_at: number | null;
    reason: string | null;
    set_by: string;
    set_at: number;
  };
  /** Page incidents and scheduled maintenances (`kind`), as Statuspage keeps both. */
  status_incidents: {
    id: Generated<number>;
    public_id: string;
    kind: string;
    name: string;
    status: string;
    impact: string;
    /** JSON: component ids. */
    components: string;
    internal_incident_id: number | null;
    started_at: number;
    monitoring_at: number | null;
    resolved_at: number | null;
    scheduled_for: number | null;
    scheduled_until: number | null;
    created_at: number;
    updated_at: number;
  };
  status_incident_updates: {
    id: Generated<number>;
    public_id: string;
    incident_id: number;
    status: string;
    body: string;
    /** JSON: AffectedComponent[], or null. */
    affected_components: string | null;
    created_at: number;
    display_at: number;
  };
  status_subscribers: {
    id: Generated<number>;
    kind: string;
    address: string;
    state: string;
    /** SHA-256 (hex) of the confirmation link's token while pending. */
    confirm_hash: string | null;
    confirm_sent_at: number | null;
    /** The one-click unsubscribe token: every notice's link carries it, so it is kept as is. */
    unsubscribe_token: string;
    created_at: number;
    confirmed_at: number | null;
    unsubscribed_at: number | null;
  };
};

/** A page incident or a scheduled maintenance. */
export type PageIncidentKind = 'incident' | 'maintenance';

/** A component's change recorded in an update, as Statuspage shows it. */
export interface AffectedComponent {
  code: string;
  name: string;
  old_status: string;
  new_status: string;
}

/** One public update of a page incident or maintenance. */
export interface PageIncidentUpdateRow {
  id: number;
  publicId: string;
  incidentId: number;
  status: string;
  body: string;
  affectedComponents: AffectedComponent[] | null;
  createdAt: number;
  displayAt: number;
}

/** A page incident or maintenance with its updates, newest update first. */
export interface PageIncidentRow {
  id: number;
  publicId: string;
  kind: PageIncidentKind;
  name: string;
  status: string;
  impact: string;
  /** Component ids. */
  components: string[];
  /** The internal incident (incident-store.ts) it is linked to, if any. */
  internalIncidentId: number | null;
  startedAt: number;
  monitoringAt: number | null;
  resolvedAt: number | null;
  scheduledFor: number | null;
  scheduledUntil: number | null;
  createdAt: number;
  updatedAt: number;
  updates: PageIncidentUpdateRow[];
}

/** What creating a page incident or maintenance writes. */
export type NewPageIncident = Omit<
  PageIncidentRow,
  'id' | 'publicId' | 'createdAt' | 'updatedAt' | 'updates'
>;

/** A component's status override. */
export interface OverrideRow {
  component: string;
  status: string;
  until: number | null;
  reason: string | null;
  setBy: string;
  setAt: number;
}

/** One recorded status of a component. */
export interface HistoryRow {
  component: string;
  status: string;
  from: number;
}

/** How a subscriber is reached. */
export type SubscriberKind = 'email' | 'webhook';
/** A subscriber's life: waiting for the link to be followed, receiving notices, or gone. */
export type SubscriberState = 'pending' | 'confirmed' | 'unsubscribed';

/** One subscriber of the page. */
export interface SubscriberRow {
  id: number;
  kind: SubscriberKind;
  address: string;
  state: SubscriberState;
  confirmSentAt: number | null;
  unsubscribeToken: string;
  createdAt: number;
  confirmedAt: number | null;
  unsubscribedAt: number | null;
}

/** Where the notification dispatcher sends a subscriber's notices. */
export type SubscriberAddress = { email: string } | { webhook: string };

/** What `subscribe` did: nothing new (`unchanged`), or a confirmation to send with its raw token. */
export type SubscribeResult =
  | { subscriber: SubscriberRow; confirmToken: string }
  | { subscriber: SubscriberRow; confirmToken: undefined };

/** A random id as Statuspage shapes them: 12 lowercase letters and digits. */
export function randomPublicId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(12);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/** SHA-256 of a token, hex. */
export function tokenHash(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** The status page's incidents and their updates, maintenances, component overrides, component status history and subscribers. */
export class StatusPageStore {
  private readonly sp: Kysely<Database & StatusPageTables>;

  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {
    this.sp = db.withTables<StatusPageTables>();
  }

  // Component history and overrides

  /** Every component's last recorded status. */
  async latestStatuses(): Promise<Map<string, HistoryRow>> {
    const rows = await this.sp
      .selectFrom('status_component_history as h')
      .select(['h.component', 'h.status', 'h.from_at'])
      .where('h.id', 'in', (qb) =>
        qb
          .selectFrom('status_component_history')
          .select((eb) => eb.fn.max('id').as('id'))
          .groupBy('component'),
      )
      .execute();
    return new Map(
      rows.map((r) => [r.component, { component: r.component, status: r.status, from: Number(r.from_at) }]),
    );
  }

  /** Records that `component` shows `status` from `at`. */
  async recordStatus(component: string, status: string, at: number): Promise<void> {
    await this.sp.insertInto('status_component_history').values({ component, status, from_at: at }).execute();
  }

  /**
   * A component's history since `since`: the status in force at `since` (if any) and every change
   * after, oldest first, plus its first row's time (when it began to be recorded).
   */
  async history(component: string, since: number): Promise<{ rows: HistoryRow[]; firstAt: number | null }> {
    const before = await this.sp
      .selectFrom('status_component_history')
      .selectAll()
      .where('component', '=', component)
      .where('from_at', '<=', since)
      .orderBy('from_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const after = await this.sp
      .selectFrom('status_component_history')
      .selectAll()
      .where('component', '=', component)
      .where('from_at', '>', since)
      .orderBy('from_at')
      .orderBy('id')
      .execute();
    const first = await this.sp
      .selectFrom('status_component_history')
      .select((eb) => eb.fn.min('from_at').as('first'))
      .where('component', '=', component)
      .executeTakeFirst();
    const rows = [...(before ? [before] : []), ...after].map((r) => ({
      component: r.component,
      status: r.status,
      from: Number(r.from_at),
    }));
    return { rows, firstAt: num((first?.first as number | string | null | undefined) ?? null) };
  }

  /** Every override, held or lapsed. */
  async overrides(): Promise<Map<string, OverrideRow>> {
    const rows = await this.sp.selectFrom('status_overrides').selectAll().execute();
    return new Map(
      rows.map((r) => [
        r.component,
        {
          component: r.component,
          status: r.status,
          until: num(r.until_at),
          reason: r.reason,
          setBy: r.set_by,
          setAt: Number(r.set_at),
        },
      ]),
    );
  }

  /** Sets (or replaces) a component's override. */
  async setOverride(row: OverrideRow): Promise<void> {
    const values = {
      status: row.status,
      until_at: row.until,
      reason: row.reason,
      set_by: row.setBy,
      set_at: row.setAt,
    };
    await this.sp
      .insertInto('status_overrides')
      .values({ component: row.component, ...values })
      .onConflict((oc) => oc.column('component').doUpdateSet(values))
      .execute();
  }

  /** Removes a component's override; whether there was one. */
  async clearOverride(component: string): Promise<boolean> {
    const result = await this.sp
      .deleteFrom('status_overrides')
      .where('component', '=', component)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // Incidents and maintenances

  /** Writes a page incident (or maintenance) with its first update, in one transaction. */
  async createIncident(
    incident: NewPageIncident,
    update: { status: string; body: string; affectedComponents: AffectedComponent[] | null },
    at: number,
  ): Promise<PageIncidentRow> {
    const id = await this.sp.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('status_incidents')
        .values({
          public_id: randomPublicId(),
          kind: incident.kind,
          name: incident.name,
          status: incident.status,
          impact: incident.impact,
          components: JSON.stringify(incident.components),
          internal_incident_id: incident.internalIncidentId,
          started_at: incident.startedAt,
          monitoring_at: incident.monitoringAt,
          resolved_at: incident.resolvedAt,
          scheduled_for: incident.scheduledFor,
          scheduled_until: incident.scheduledUntil,
          created_at: at,
          updated_at: at,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('status_incident_updates')
        .values(updateValues(Number(row.id), update, at))
        .execute();
      return Number(row.id);
    });
    return (await this.incident(id)) as PageIncidentRow;
  }

  /** Changes a page incident and adds an update to it, in one transaction. */
  async addUpdate(
    id: number,
    patch: Partial<
      Pick<
        PageIncidentRow,
        | 'name'
        | 'status'
        | 'impact'
        | 'components'
        | 'monitoringAt'
        | 'resolvedAt'
        | 'scheduledFor'
        | 'scheduledUntil'
      >
    >,
    update: { status: string; body: string; affectedComponents: AffectedComponent[] | null },
    at: number,
  ): Promise<PageIncidentRow> {
    await this.sp.transaction().execute(async (trx) => {
      await trx
        .updateTable('status_incidents')
        .set({
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.status !== undefined ? { status: patch.status } : {}),
          ...(patch.impact !== undefined ? { impact: patch.impact } : {}),
          ...(patch.components !== undefined ? { components: JSON.stringify(patch.components) } : {}),
          ...(patch.monitoringAt !== undefined ? { monitoring_at: patch.monitoringAt } : {}),
          ...(patch.resolvedAt !== undefined ? { resolved_at: patch.resolvedAt } : {}),
          ...(patch.scheduledFor !== undefined ? { scheduled_for: patch.scheduledFor } : {}),
          ...(patch.scheduledUntil !== undefined ? { scheduled_until: patch.scheduledUntil } : {}),
          updated_at: at,
        })
        .where('id', '=', id)
        .execute();
      await trx
        .insertInto('status_incident_updates')
        .values(updateValues(id, update, at))
        .execute();
    });
    return (await this.incident(id)) as PageIncidentRow;
  }

  /** A page incident or maintenance by its internal id. */
  async incident(id: number): Promise<PageIncidentRow | undefined> {
    const row = await this.sp
      .selectFrom('status_incidents')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? (await this.withUpdates([row]))[0] : undefined;
  }

  /** A page incident or maintenance by its public id. */
  async incidentByPublicId(publicId: string): Promise<PageIncidentRow | undefined> {
    const row = await this.sp
      .selectFrom('status_incidents')
      .selectAll()
      .where('public_id', '=', publicId)
      .executeTakeFirst();
    return row ? (await this.withUpdates([row]))[0] : undefined;
  }

  /** Incidents or maintenances, newest first, optionally only those in `statuses`. */
  async listIncidents(
    kind: PageIncidentKind,
    filter: { statuses?: readonly string[]; limit?: number } = {},
  ): Promise<PageIncidentRow[]> {
    let query = this.sp.selectFrom('status_incidents').selectAll().where('kind', '=', kind);
    if (filter.statuses !== undefined) {
      if (filter.statuses.length === 0) return [];
      query = query.where('status', 'in', [...filter.statuses]);
    }
    const rows = await query
      .orderBy(kind === 'maintenance' ? 'scheduled_for' : 'started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 50)
      .execute();
    return this.withUpdates(rows);
  }

  private async withUpdates(
    rows: Selectable<StatusPageTables['status_incidents']>[],
  ): Promise<PageIncidentRow[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => Number(r.id));
    const updates = await this.sp
      .selectFrom('status_incident_updates')
      .selectAll()
      .where('incident_id', 'in', ids)
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      publicId: r.public_id,
      kind: r.kind as PageIncidentKind,
      name: r.name,
      status: r.status,
      impact: r.impact,
      components: JSON.parse(r.components) as string[],
      internalIncidentId: num(r.internal_incident_id),
      startedAt: Number(r.started_at),
      monitoringAt: num(r.monitoring_at),
      resolvedAt: num(r.resolved_at),
      scheduledFor: num(r.scheduled_for),
      scheduledUntil: num(r.scheduled_until),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      updates: updates
        .filter((u) => Number(u.incident_id) === Number(r.id))
        .map((u) => ({
          id: Number(u.id),
          publicId: u.public_id,
          incidentId: Number(u.incident_id),
          status: u.status,
          body: u.body,
          affectedComponents:
            u.affected_components === null
              ? null
              : (JSON.parse(u.affected_components) as AffectedComponent[]),
          createdAt: Number(u.created_at),
          displayAt: Number(u.display_at),
        })),
    }));
  }

  // Subscribers

  /**
   * Adds a pending subscriber, or starts again one that unsubscribed, with a new confirmation token
   * (returned raw; only its SHA-256 is kept). A pending one gets a new token when the last was sent
   * at least `resendAfterMs` ago; a confirmed one, or a pending one asked again too soon, is left as
   * it is and `confirmToken` is undefined.
   */
  async subscribe(
    kind: SubscriberKind,
    address: string,
    at: number,
    resendAfterMs: number,
  ): Promise<SubscribeResult> {
    const token = crypto.randomBytes(32).toString('base64url');
    const existing = await this.subscriberByAddress(kind, address);
    if (!existing) {
      try {
        await this.sp
          .insertInto('status_subscribers')
          .values({
            kind,
            address,
            state: 'pending',
            confirm_hash: tokenHash(token),
            confirm_sent_at: at,
            unsubscribe_token: crypto.randomBytes(32).toString('base64url'),
            created_at: at,
            confirmed_at: null,
            unsubscribed_at: null,
          })
          .execute();
      } catch (err) {
        // Asked twice at once: the other request's row stands.
        if (!isUniqueViolation(err)) throw err;
        return {
          subscriber: (await this.subscriberByAddress(kind, address)) as SubscriberRow,
          confirmToken: undefined,
        };
      }
      return {
        subscriber: (await this.subscriberByAddress(kind, address)) as SubscriberRow,
        confirmToken: token,
      };
    }
    if (existing.state === 'confirmed') return { subscriber: existing, confirmToken: undefined };
    if (
      existing.state === 'pending' &&
      existing.confirmSentAt !== null &&
      at - existing.confirmSentAt < resendAfterMs
    )
      return { subscriber: existing, confirmToken: undefined };
    await this.sp
      .updateTable('status_subscribers')
      .set({ state: 'pending', confirm_hash: tokenHash(token), confirm_sent_at: at, unsubscribed_at: null })
      .where('id', '=', existing.id)
      .execute();
    return { subscriber: (await this.subscriber(existing.id)) as SubscriberRow, confirmToken: token };
  }

  /** The pending subscriber a confirmation token belongs to, changing nothing; undefined for an unknown or used one. */
  async pendingByConfirmToken(token: string): Promise<SubscriberRow | undefined> {
    const row = await this.sp
      .selectFrom('status_subscribers')
      .selectAll()
      .where('confirm_hash', '=', tokenHash(token))
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return row ? toSubscriber(row) : undefined;
  }

  /** Confirms the pending subscriber whose token this is; undefined for an unknown or used token. */
  async confirm(token: string, at: number): Promise<SubscriberRow | undefined> {
    const row = await this.sp
      .selectFrom('status_subscribers')
      .select('id')
      .where('confirm_hash', '=', tokenHash(token))
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (!row) return undefined;
    await this.sp
      .updateTable('status_subscribers')
      .set({ state: 'confirmed', confirm_hash: null, confirmed_at: at })
      .where('id', '=', Number(row.id))
      .execute();
    return this.subscriber(Number(row.id));
  }

  /** The subscriber an unsubscribe token belongs to. */
  async subscriberByUnsubscribeToken(token: string): Promise<SubscriberRow | undefined> {
    const row = await this.sp
      .selectFrom('status_subscribers')
      .selectAll()
      .where('unsubscribe_token', '=', token)
      .executeTakeFirst();
    return row ? toSubscriber(row) : undefined;
  }

  /** Unsubscribes by token; undefined for an unknown token. Unsubscribing twice is harmless. */
  async unsubscribe(token: string, at: number): Promise<SubscriberRow | undefined> {
    const found = await this.subscriberByUnsubscribeToken(token);
    if (!found) return undefined;
    if (found.state !== 'unsubscribed')
      await this.sp
        .updateTable('status_subscribers')
        .set({ state: 'unsubscribed', confirm_hash: null, unsubscribed_at: at })
        .where('id', '=', found.id)
        .execute();
    return this.subscriber(found.id);
  }

  /** A subscriber by id. */
  async subscriber(id: number): Promise<SubscriberRow | undefined> {
    const row = await this.sp
      .selectFrom('status_subscribers')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toSubscriber(row) : undefined;
  }

  private async subscriberByAddress(
    kind: SubscriberKind,
    address: string,
  ): Promise<SubscriberRow | undefined> {
    const row = await this.sp
      .selectFrom('status_subscribers')
      .selectAll()
      .where('kind', '=', kind)
      .where('address', '=', address)
      .executeTakeFirst();
    return row ? toSubscriber(row) : undefined;
  }

  /** Confirmed subscribers, in id order, after `afterId` (paging through them). */
  async confirmedSubscribers(afterId = 0, limit = 500): Promise<SubscriberRow[]> {
    const rows = await this.sp
      .selectFrom('status_subscribers')
      .selectAll()
      .where('state', '=', 'confirmed')
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toSubscriber);
  }

  /** How many subscribers there are, by kind and state. */
  async subscriberCounts(): Promise<{ kind: SubscriberKind; state: SubscriberState; count: number }[]> {
    const rows = await this.sp
      .selectFrom('status_subscribers')
      .select(['kind', 'state', (eb) => eb.fn.countAll().as('count')])
      .groupBy(['kind', 'state'])
      .orderBy('kind')
      .orderBy('state')
      .execute();
    return rows.map((r) => ({
      kind: r.kind as SubscriberKind,
      state: r.state as SubscriberState,
      count: Number(r.count),
    }));
  }

  /** Pending subscribers created since `since`: what bounds new subscriptions. */
  async pendingSince(since: number): Promise<number> {
    const row = await this.sp
      .selectFrom('status_subscribers')
      .select((eb) => eb.fn.countAll().as('count'))
      .where('state', '=', 'pending')
      .where('confirm_sent_at', '>=', since)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /**
   * Where the notification dispatcher sends subscriber `id`'s notices: its email address or webhook
   * endpoint while pending (the confirmation) or confirmed; undefined once unsubscribed or unknown.
   */
  readonly subscriberAddress = async (id: number): Promise<SubscriberAddress | undefined> => {
    const row = await this.subscriber(id);
    if (!row || row.state === 'unsubscribed') return undefined;
    return row.kind === 'email' ? { email: row.address } : { webhook: row.address };
  };
}

function updateValues(
  incidentId: number,
  update: { status: string; body: string; affectedComponents: AffectedComponent[] | null },
  at: number,
): Omit<StatusPageTables['status_incident_updates'], 'id'> {
  return {
    public_id: randomPublicId(),
    incident_id: incidentId,
    status: update.status,
    body: update.body,
    affected_components:
      update.affectedComponents === null ? null : JSON.stringify(update.affectedComponents),
    created_at: at,
    display_at: at,
  };
}

function toSubscriber(row: Selectable<StatusPageTables['status_subscribers']>): SubscriberRow {
  return {
    id: Number(row.id),
    kind: row.kind as SubscriberKind,
    address: row.address,
    state: row.state as SubscriberState,
    confirmSentAt: num(row.confirm_sent_at),
    unsubscribeToken: row.unsubscribe_token,
    createdAt: Number(row.created_at),
    confirmedAt: num(row.confirmed_at),
    unsubscribedAt: num(row.unsubscribed_at),
  };
}
