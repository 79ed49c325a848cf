/**
 * The store over any Kysely dialect (SQLite, PostgreSQL): releases, events, measurements, leases,
 * effects, instances and checklists. Users, tokens, sessions and the audit log are its `security`
 * part (security-store.ts); row mapping is in rows.ts. The rest stays one class because every
 * method shares the dialect and the durability rules of `durably` and `retrying`, which the SQLite
 * and PostgreSQL stores override.
 */
import crypto from 'node:crypto';
import { type Insertable, type Kysely, type Updateable, Migrator } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type { InstanceRecord } from './types.js';
import { CodeMigrationProvider, type Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { SecurityStore } from './security-store.js';
import { NotificationStore } from './notification-store.js';
import { IncidentStore } from './incident-store.js';
import { StatusPageStore } from './status-page-store.js';
import { OnCallStore } from './oncall-store.js';
import { QuerySnapshotStore } from './query-snapshot-store.js';
import { ScalingStore } from './scaling-store.js';
import { MaintenanceStore } from './maintenance-store.js';
import { BaselineStore } from './baseline-store.js';
import { RetentionStore } from './retention.js';
import { toChecklistItem, toEffect, toEvent, toLease, toMeasurement, toRelease, toSample } from './rows.js';
import { isUniqueViolation, num } from './values.js';
import { redactDeep, redactSecrets } from '../util/secrets.js';
import { appendEvidence } from '../checklist/evidence.js';
import type { Evidence, ItemState } from '../domain/checklist.js';
import {
  type ChecklistItemRow,
  type EffectRow,
  type EventFilter,
  type EventRow,
  type LeaseRow,
  type MeasurementRow,
  type NewEvent,
  type ReleasePatch,
  type ReleaseRow,
  type ReleaseSampleRow,
  type ReleaseTransition,
  type SampleFilter,
  type ReplicaRow,
  type ServiceRow,
  type Store,
} from './types.js';
import { TERMINAL_STATES } from '../domain/release.js';

/** A replica's row is dropped this long after its heartbeat expired, so the ids of replicas long gone do not pile up. */
const FORGET_REPLICA_MS = 60 * 60_000;
/**
 * How many of a checklist item's last writes it remembers by key. A retry follows its lost commit
 * within the retry limit; this many other writes to one item in between is far beyond what happens.
 */
const REMEMBERED_ITEM_WRITES = 16;

/** A new idempotency key, made once per store call so each retry of that call sends the same one. */
const newKey = (): string => crypto.randomUUID();

type NewRelease = Omit<ReleaseRow, 'id' | 'updatedAt' | 'endedAt'>;

/** The row a new release is inserted as, under its idempotency key. */
function releaseValues(input: NewRelease, key: string): Insertable<Database['releases']> {
  return {
    service: input.service,
    version: input.version,
    from_version: input.fromVersion,
    kind: input.kind,
    state: input.state,
    phase: input.phase,
    step: input.step,
    weight: input.weight,
    reason: input.reason,
    outcome: input.outcome,
    step_started_at: input.stepStartedAt,
    phase_started_at: input.phaseStartedAt,
    created_at: input.createdAt,
    updated_at: input.createdAt,
    ended_at: null,
    active: 1,
    idempotency_key: key,
  };
}

/** The columns a transition sets; a terminal state frees the service's active slot and stamps the end. */
function releaseSet(patch: ReleasePatch, now: number): Updateable<Database['releases']> {
  const set: Updateable<Database['releases']> = { updated_at: now };
  if (patch.state !== undefined) set.state = patch.state;
  if (patch.phase !== undefined) set.phase = patch.phase;
  if (patch.step !== undefined) set.step = patch.step;
  if (patch.weight !== undefined) set.weight = patch.weight;
  if (patch.reason !== undefined) set.reason = patch.reason;
  if (patch.outcome !== undefined) set.outcome = patch.outcome;
  if (patch.stepStartedAt !== undefined) set.step_started_at = patch.stepStartedAt;
  if (patch.phaseStartedAt !== undefined) set.phase_started_at = patch.phaseStartedAt;
  if (patch.endedAt !== undefined) set.ended_at = patch.endedAt;
  if (patch.state !== undefined && TERMINAL_STATES.includes(patch.state)) {
    set.active = null;
    set.ended_at = patch.endedAt ?? now;
  }
  return set;
}

/** A Store over any Kysely dialect; it uses only SQL both SQLite and PostgreSQL accept. */
export class KyselyStore implements Store {
  readonly security: SecurityStore;
  readonly retention: RetentionStore;
  readonly notifications: NotificationStore;
  readonly incidents: IncidentStore;
  readonly statusPage: StatusPageStore;
  readonly oncall: OnCallStore;
  readonly querySnapshots: QuerySnapshotStore;
  readonly scaling: ScalingStore;
  readonly maintenance: MaintenanceStore;
  readonly baselines: BaselineStore;

  constructor(
    protected readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {
    this.security = new SecurityStore(db, dialect);
    this.retention = new RetentionStore(db, dialect);
    this.notifications = new NotificationStore(db, dialect);
    this.incidents = new IncidentStore(db, dialect);
    this.statusPage = new StatusPageStore(db, dialect);
    this.oncall = new OnCallStore(db, dialect);
    this.querySnapshots = new QuerySnapshotStore(db, dialect);
    this.scaling = new ScalingStore(db, dialect);
    this.maintenance = new MaintenanceStore(db, dialect);
    this.baselines = new BaselineStore(db, dialect);
  }

  /** Where the migration bookkeeping lives; undefined lets Kysely decide (SQLite has one schema). */
  protected async migrationSchema(): Promise<string | undefined> {
    return undefined;
  }

  /** Runs the migrations on `db`; a networked store lends one connection with looser limits. */
  protected async migrating(run: (db: Kysely<Database>) => Promise<void>): Promise<void> {
    return run(this.db);
  }

  async migrate(): Promise<void> {
    const schema = await this.migrationSchema();
    await this.migrating(async (db) => {
      const migrator = new Migrator({
        db,
        provider: new CodeMigrationProvider(this.dialect),
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      const { error } = await migrator.migrateToLatest();
      if (error) throw error;
    });
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Runs a write that must survive power loss before it returns. */
  protected async durably<T>(write: () => Promise<T>): Promise<T> {
    return this.retrying(write);
  }

  /**
   * Runs a write that must not be lost to a dropped connection; a networked store retries it. A retry
   * may follow a commit whose acknowledgement was lost, so every write run here is either idempotent
   * as it stands (an upsert, an update to given values) or carries an idempotency key it finds its
   * first commit by. Each write below says which.
   */
  protected async retrying<T>(write: () => Promise<T>): Promise<T> {
    return write();
  }

  async getService(name: string): Promise<ServiceRow | undefined> {
    const r = await this.db.selectFrom('services').selectAll().where('name', '=', name).executeTakeFirst();
    if (!r) return undefined;
    return {
      name: r.name,
      stableVersion: r.stable_version,
      previousVersion: r.previous_version,
      previousRetireAt: num(r.previous_retire_at),
      updatedAt: Number(r.updated_at),
    };
  }

  async saveService(row: ServiceRow): Promise<void> {
    const values = {
      stable_version: row.stableVersion,
      previous_version: row.previousVersion,
      previous_retire_at: row.previousRetireAt,
      updated_at: row.updatedAt,
    };
    // Idempotent: an upsert of given values.
    await this.durably(() =>
      this.db
        .insertInto('services')
        .values({ name: row.name, ...values })
        .onConflict((oc) => oc.column('name').doUpdateSet(values))
        .execute(),
    );
  }

  async createRelease(input: NewRelease): Promise<ReleaseRow> {
    // Under a key: a retry after a lost acknowledgement finds the release it created.
    const key = newKey();
    try {
      return await this.durably(async () => {
        const created = await this.releaseByKey(key);
        if (created) return created;
        const r = await this.db
          .insertInto('releases')
          .values(releaseValues(input, key))
          .returningAll()
          .executeTakeFirstOrThrow();
        return toRelease(r);
      });
    } catch (err) {
      throw await this.activeConflict(input.service, err);
    }
  }

  async createReleaseWithEvent(
    input: NewRelease,
    announce: (release: ReleaseRow) => NewEvent,
    key?: string,
  ): Promise<ReleaseTransition> {
    // Under a key (the caller's, else a new one; the event takes the same one in its own table): a
    // retry after a lost acknowledgement, or a request repeated with its key, finds the release.
    const writeKey = key ?? newKey();
    // Whether this call has tried the insert: a release found under the key afterwards is its own.
    let tried = false;
    const write = (): Promise<ReleaseTransition> =>
      this.db.transaction().execute(async (tx) => {
        const existing = await tx
          .selectFrom('releases')
          .selectAll()
          .where('idempotency_key', '=', writeKey)
          .executeTakeFirst();
        if (existing) {
          const event = tried ? await this.eventByKey(tx, writeKey) : undefined;
          return { release: toRelease(existing), event };
        }
        tried = true;
        const r = await tx
          .insertInto('releases')
          .values(releaseValues(input, writeKey))
          .returningAll()
          .executeTakeFirstOrThrow();
        const release = toRelease(r);
        return { release, event: await this.insertEvent(tx, announce(release), writeKey) };
      });
    try {
      return await this.durably(write);
    } catch (err) {
      // Another replica took the same request key at the same moment: its release is the answer.
      const raced = isUniqueViolation(err) && key !== undefined && (await this.releaseByKey(key));
      if (raced) return { release: raced, event: undefined };
      throw await this.activeConflict(input.service, err);
    }
  }

  async releaseByKey(key: string): Promise<ReleaseRow | undefined> {
    const r = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return r && toRelease(r);
  }

  /** A unique violation on creating a release, as the ConflictError it means; any other error as it is. */
  private async activeConflict(service: string, err: unknown): Promise<unknown> {
    if (!isUniqueViolation(err)) return err;
    const active = await this.activeRelease(service);
    return new ConflictError(
      `service ${service} already has an active release` +
        (active ? ` (#${active.id}, version ${active.version}, ${active.state})` : ''),
    );
  }

  async updateRelease(id: number, patch: ReleasePatch, now: number): Promise<ReleaseRow> {
    // Idempotent: it sets given values, so a retry after a lost acknowledgement sets them again.
    const set = releaseSet(patch, now);
    const r = await this.durably(() =>
      this.db.updateTable('releases').set(set).where('id', '=', id).returningAll().executeTakeFirst(),
    );
    if (!r) throw new NotFoundError(`release ${id} not found`);
    return toRelease(r);
  }

  async updateReleaseWithEvent(
    id: number,
    patch: ReleasePatch,
    now: number,
    announce: (release: ReleaseRow) => NewEvent,
  ): Promise<ReleaseTransition> {
    // Under the event's key: a retry that finds the event committed applies nothing again, so it cannot
    // undo a change another replica made in between, nor write the event twice.
    const key = newKey();
    const set = releaseSet(patch, now);
    return this.durably(() =>
      this.db.transaction().execute(async (tx) => {
        const written = await this.eventByKey(tx, key);
        const r = written
          ? await tx.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst()
          : await tx.updateTable('releases').set(set).where('id', '=', id).returningAll().executeTakeFirst();
        if (!r) throw new NotFoundError(`release ${id} not found`);
        const release = toRelease(r);
        return { release, event: written ?? (await this.insertEvent(tx, announce(release), key)) };
      }),
    );
  }

  async getRelease(id: number): Promise<ReleaseRow | undefined> {
    const r = await this.db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toRelease(r);
  }

  async activeRelease(service: string): Promise<ReleaseRow | undefined> {
    const r = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('service', '=', service)
      .where('active', '=', 1)
      .executeTakeFirst();
    return r && toRelease(r);
  }

  async activeReleases(): Promise<ReleaseRow[]> {
    const rows = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('active', '=', 1)
      .orderBy('id')
      .execute();
    return rows.map(toRelease);
  }

  async listReleases(service: string, limit: number): Promise<ReleaseRow[]> {
    const rows = await this.db
      .selectFrom('releases')
      .selectAll()
      .where('service', '=', service)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toRelease);
  }

  async addEvent(input: NewEvent): Promise<EventRow> {
    // Under a key: a retry after a lost acknowledgement finds the event instead of adding it again.
    const key = newKey();
    return this.retrying(() => this.insertEvent(this.db, input, key));
  }

  /**
   * Inserts an event under `key` on `db` (the store, or a transaction), or returns the one already
   * written under it. A secret that reached a message (a command's output, a URL) is kept as ***.
   */
  private async insertEvent(db: Kysely<Database>, input: NewEvent, key: string): Promise<EventRow> {
    const event = redactDeep(input);
    const r = await db
      .insertInto('events')
      .values({
        service: event.service,
        release_id: event.releaseId,
        at: event.at,
        type: event.type,
        message: event.message,
        data: JSON.stringify(event.data),
        idempotency_key: key,
      })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (r) return { ...event, id: Number(r.id) };
    const written = await this.eventByKey(db, key);
    if (!written) throw new Error(`event ${key} conflicted on its key but cannot be read back`);
    return written;
  }

  /** The event written under `key`, if any. */
  private async eventByKey(db: Kysely<Database>, key: string): Promise<EventRow | undefined> {
    const r = await db.selectFrom('events').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
    return r && toEvent(r);
  }

  async lastEventId(service?: string): Promise<number> {
    let q = this.db.selectFrom('events').select((eb) => eb.fn.max('id').as('last'));
    if (service !== undefined) q = q.where('service', '=', service);
    const row = await q.executeTakeFirst();
    return Number(row?.last ?? 0);
  }

  async listEvents(filter: EventFilter): Promise<EventRow[]> {
    let q = this.db.selectFrom('events').selectAll();
    const { service } = filter;
    if (service !== undefined && filter.withEnvironments) {
      // A prefix test rather than LIKE: a unit name may hold `_`, which LIKE reads as a wildcard.
      const prefix = `${service}@`;
      q = q.where((eb) =>
        eb.or([
          eb('service', '=', service),
          eb(eb.fn('substr', ['service', eb.val(1), eb.val(prefix.length)]), '=', prefix),
        ]),
      );
    } else if (service !== undefined) q = q.where('service', '=', service);
    if (filter.releaseId !== undefined) q = q.where('release_id', '=', filter.releaseId);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    if (filter.beforeId !== undefined) q = q.where('id', '<', filter.beforeId);
    const rows = await q
      .orderBy('id', filter.newest ? 'desc' : 'asc')
      .limit(filter.limit)
      .execute();
    if (filter.newest) rows.reverse();
    return rows.map(toEvent);
  }

  async addMeasurement(m: Omit<MeasurementRow, 'id'>): Promise<MeasurementRow> {
    // Under a key, as events are: a retry after a lost acknowledgement finds the row.
    const key = newKey();
    const id = await this.retrying(async () => {
      const r = await this.db
        .insertInto('measurements')
        .values({
          release_id: m.releaseId,
          service: m.service,
          at: m.at,
          trigger: m.trigger,
          metric: m.metric,
          version: m.version,
          value: m.value,
          threshold: m.threshold,
          verdict: m.verdict,
          window_ms: m.windowMs,
          requests: m.requests,
          message: redactSecrets(m.message),
          inputs: JSON.stringify(redactDeep(m.inputs)),
          idempotency_key: key,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (r) return r.id;
      const written = await this.db
        .selectFrom('measurements')
        .select('id')
        .where('idempotency_key', '=', key)
        .executeTakeFirstOrThrow();
      return written.id;
    });
    return { ...m, id: Number(id) };
  }

  async listMeasurements(releaseId: number, limit: number): Promise<MeasurementRow[]> {
    const rows = await this.db
      .selectFrom('measurements')
      .selectAll()
      .where('release_id', '=', releaseId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toMeasurement);
  }

  async listMeasurementsAfter(afterId: number, limit: number): Promise<MeasurementRow[]> {
    const rows = await this.db
      .selectFrom('measurements')
      .selectAll()
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toMeasurement);
  }

  async lastMeasurementId(): Promise<number> {
    const row = await this.db
      .selectFrom('measurements')
      .select((eb) => eb.fn.max('id').as('last'))
      .executeTakeFirst();
    return Number(row?.last ?? 0);
  }

  async addSample(sample: Omit<ReleaseSampleRow, 'id'>): Promise<ReleaseSampleRow> {
    // Under a key, as events are: a retry after a lost acknowledgement finds the row.
    const key = newKey();
    const id = await this.retrying(async () => {
      const r = await this.db
        .insertInto('release_samples')
        .values({
          release_id: sample.releaseId,
          service: sample.service,
          at: sample.at,
          stable: sample.stable && JSON.stringify(sample.stable),
          canary: sample.canary && JSON.stringify(sample.canary),
          idempotency_key: key,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (r) return r.id;
      const written = await this.db
        .selectFrom('release_samples')
        .select('id')
        .where('idempotency_key', '=', key)
        .executeTakeFirstOrThrow();
      return written.id;
    });
    return { ...sample, id: Number(id) };
  }

  async listSamples(releaseId: number, filter: SampleFilter): Promise<ReleaseSampleRow[]> {
    let q = this.db.selectFrom('release_samples').selectAll().where('release_id', '=', releaseId);
    if (filter.afterAt !== undefined) q = q.where('at', '>', filter.afterAt);
    const rows = await q.orderBy('at').orderBy('id').limit(filter.limit).execute();
    return rows.map(toSample);
  }

  async listSamplesAfter(afterId: number, limit: number): Promise<ReleaseSampleRow[]> {
    const rows = await this.db
      .selectFrom('release_samples')
      .selectAll()
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toSample);
  }

  async lastSampleId(): Promise<number> {
    const row = await this.db
      .selectFrom('release_samples')
      .select((eb) => eb.fn.max('id').as('last'))
      .executeTakeFirst();
    return Number(row?.last ?? 0);
  }

  async createChecklist(items: ChecklistItemRow[]): Promise<void> {
    if (items.length === 0) return;
    // Idempotent: items that exist are left as they are.
    await this.durably(() =>
      this.db
        .insertInto('checklist_items')
        .values(
          items.map((i) => ({
            release_id: i.releaseId,
            item_id: i.id,
            position: i.position,
            section: i.section,
            title: i.title,
            kind: i.kind,
            gate: i.gate,
            params: JSON.stringify(i.params),
            hint: i.hint,
            automated: i.automated ? 1 : 0,
            state: i.state,
            evidence: JSON.stringify(redactDeep(i.evidence)),
            updated_at: i.updatedAt,
          })),
        )
        .onConflict((oc) => oc.columns(['release_id', 'item_id']).doNothing())
        .execute(),
    );
  }

  async listSealedChecklistItems(): Promise<ChecklistItemRow[]> {
    const rows = await this.db
      .selectFrom('checklist_items')
      .selectAll()
      .where('params', 'like', '%"$sealed"%')
      .execute();
    return rows.map(toChecklistItem);
  }

  async setChecklistParams(
    releaseId: number,
    itemId: string,
    params: Record<string, unknown>,
  ): Promise<void> {
    // Idempotent: it sets given params.
    await this.durably(() =>
      this.db
        .updateTable('checklist_items')
        .set({ params: JSON.stringify(params) })
        .where('release_id', '=', releaseId)
        .where('item_id', '=', itemId)
        .execute(),
    );
  }

  async listChecklist(releaseId: number): Promise<ChecklistItemRow[]> {
    const rows = await this.db
      .selectFrom('checklist_items')
      .selectAll()
      .where('release_id', '=', releaseId)
      .orderBy('position')
      .execute();
    return rows.map(toChecklistItem);
  }

  async updateChecklistItem(
    releaseId: number,
    itemId: string,
    patch: { state: ItemState; evidence?: Evidence; replaceLastEvidence?: boolean; evidenceLimit?: number },
    now: number,
  ): Promise<ChecklistItemRow> {
    // Under a key the row remembers: evidence is appended, so a retry after a lost acknowledgement that
    // finds its key among the item's last writes appends nothing again.
    const key = newKey();
    return this.durably(async () =>
      this.db.transaction().execute(async (tx) => {
        const row = await tx
          .selectFrom('checklist_items')
          .selectAll()
          .where('release_id', '=', releaseId)
          .where('item_id', '=', itemId)
          .executeTakeFirst();
        if (!row) throw new NotFoundError(`no checklist item "${itemId}" in release #${releaseId}`);
        const writeKeys = row.write_keys === null ? [] : (JSON.parse(row.write_keys) as string[]);
        if (writeKeys.includes(key)) return toChecklistItem(row);
        let evidence = JSON.parse(row.evidence) as Evidence[];
        const added = patch.evidence && redactDeep(patch.evidence);
        if (added && patch.replaceLastEvidence && evidence.length > 0) {
          evidence[evidence.length - 1] = added;
        } else if (added) {
          evidence = appendEvidence(evidence, added, patch.evidenceLimit ?? Infinity);
        }
        const updated = await tx
          .updateTable('checklist_items')
          .set({
            state: patch.state,
            evidence: JSON.stringify(evidence),
            updated_at: now,
            write_keys: JSON.stringify([...writeKeys, key].slice(-REMEMBERED_ITEM_WRITES)),
          })
          .where('release_id', '=', releaseId)
          .where('item_id', '=', itemId)
          .returningAll()
          .executeTakeFirstOrThrow();
        return toChecklistItem(updated);
      }),
    );
  }

  async acquireLease(
    name: string,
    holder: string,
    now: number,
    ttlMs: number,
    locked = false,
  ): Promise<LeaseRow | undefined> {
    // One statement: insert, or take over an expired lease, or renew our own; anything else returns no row.
    // Idempotent: a retry after a lost acknowledgement finds the lease its own and renews it, epoch kept.
    const r = await this.durably(() =>
      this.db
        .insertInto('leases')
        .values({
          name,
          holder,
          expires_at: now + ttlMs,
          epoch: 1,
          acquired_at: now,
          lock_epoch: locked ? 1 : null,
        })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet((eb) => {
              const epoch = eb
                .case()
                .when('leases.holder', '=', eb.ref('excluded.holder'))
                .then(eb.ref('leases.epoch'))
                .else(eb('leases.epoch', '+', 1))
                .end();
              return {
                expires_at: eb.ref('excluded.expires_at'),
                epoch,
                acquired_at: eb
                  .case()
                  .when('leases.holder', '=', eb.ref('excluded.holder'))
                  .then(eb.ref('leases.acquired_at'))
                  .else(eb.ref('excluded.acquired_at'))
                  .end(),
                holder: eb.ref('excluded.holder'),
                // Written in the statement that confirms the epoch, so it never names an epoch it was not taken in.
                lock_epoch: locked ? epoch : null,
              };
            })
            .where((eb) =>
              eb.or([
                eb('leases.holder', '=', eb.ref('excluded.holder')),
                eb('leases.expires_at', '<=', now),
              ]),
            ),
        )
        .returningAll()
        .executeTakeFirst(),
    );
    return r && toLease(r);
  }

  async takeOverLease(
    name: string,
    holder: string,
    from: LeaseRow,
    now: number,
    ttlMs: number,
  ): Promise<LeaseRow | undefined> {
    const epoch = from.epoch + 1;
    const r = await this.durably(() =>
      this.db
        .updateTable('leases')
        .set({ holder, epoch, lock_epoch: epoch, expires_at: now + ttlMs, acquired_at: now })
        .where('name', '=', name)
        .where('holder', '=', from.holder)
        .where('epoch', '=', from.epoch)
        .where('lock_epoch', '=', from.epoch)
        .returningAll()
        .executeTakeFirst(),
    );
    return r && toLease(r);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    // Idempotent: it sets a given value.
    await this.durably(() =>
      this.db
        .updateTable('leases')
        .set({ expires_at: 0 })
        .where('name', '=', name)
        .where('holder', '=', holder)
        .execute(),
    );
  }

  async getLease(name: string): Promise<LeaseRow | undefined> {
    const r = await this.db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toLease(r);
  }

  async listLeases(): Promise<LeaseRow[]> {
    const rows = await this.db.selectFrom('leases').selectAll().orderBy('name').execute();
    return rows.map(toLease);
  }

  async heartbeatReplica(id: string, now: number, ttlMs: number): Promise<void> {
    const values = { seen_at: now, expires_at: now + ttlMs };
    await this.db
      .insertInto('replicas')
      .values({ id, ...values })
      .onConflict((oc) => oc.column('id').doUpdateSet(values))
      .execute();
    await this.db
      .deleteFrom('replicas')
      .where('expires_at', '<', now - FORGET_REPLICA_MS)
      .execute();
  }

  async liveReplicas(now: number): Promise<ReplicaRow[]> {
    const rows = await this.db
      .selectFrom('replicas')
      .selectAll()
      .where('expires_at', '>', now)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: r.id, seenAt: Number(r.seen_at), expiresAt: Number(r.expires_at) }));
  }

  async removeReplica(id: string): Promise<void> {
    await this.db.deleteFrom('replicas').where('id', '=', id).execute();
  }

  async getEffect(key: string): Promise<EffectRow | undefined> {
    const r = await this.db.selectFrom('effects').selectAll().where('key', '=', key).executeTakeFirst();
    return r && toEffect(r);
  }

  async saveEffect(effect: EffectRow): Promise<void> {
    const values = {
      service: effect.service,
      release_id: effect.releaseId,
      kind: effect.kind,
      state: effect.state,
      holder: effect.holder,
      at: effect.at,
      data: JSON.stringify(redactDeep(effect.data)),
    };
    // Idempotent: an upsert under the effect's own key.
    await this.durably(() =>
      this.db
        .insertInto('effects')
        .values({ key: effect.key, ...values })
        .onConflict((oc) => oc.column('key').doUpdateSet(values))
        .execute(),
    );
  }

  async listEffects(releaseId: number): Promise<EffectRow[]> {
    const rows = await this.db
      .selectFrom('effects')
      .selectAll()
      .where('release_id', '=', releaseId)
      .orderBy('at')
      .orderBy('key')
      .execute();
    return rows.map(toEffect);
  }

  async listInstances(service: string): Promise<InstanceRecord[]> {
    const rows = await this.db.selectFrom('instances').selectAll().where('service', '=', service).execute();
    return rows.map((r) => ({
      id: r.id,
      service: r.service,
      version: r.version,
      index: Number(r.idx),
      port: Number(r.port),
      pid: Number(r.pid),
      pidStartTime: r.pid_start_time,
      logFile: r.log_file,
    }));
  }

  async saveInstance(rec: InstanceRecord): Promise<void> {
    const values = {
      service: rec.service,
      version: rec.version,
      idx: rec.index,
      port: rec.port,
      pid: rec.pid,
      pid_start_time: rec.pidStartTime,
      log_file: rec.logFile,
    };
    // Durable: a restarted controller must find every process it started. Idempotent: an upsert by id.
    await this.durably(() =>
      this.db
        .insertInto('instances')
        .values({ id: rec.id, ...values })
        .onConflict((oc) => oc.column('id').doUpdateSet(values))
        .execute(),
    );
  }

  async deleteInstance(id: string): Promise<void> {
    await this.db.deleteFrom('instances').where('id', '=', id).execute();
  }
}
