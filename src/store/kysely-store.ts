/**
 * The store over any Kysely dialect (SQLite, PostgreSQL): releases, events, measurements, leases,
 * effects, instances and checklists. Users, tokens, sessions and the audit log are its `security`
 * part (security-store.ts); row mapping is in rows.ts. The rest stays one class because every
 * method shares the dialect and the durability rules of `durably` and `retrying`, which the SQLite
 * and PostgreSQL stores override.
 */
import { type Kysely, type Updateable, Migrator } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type { InstanceRecord } from './types.js';
import { CodeMigrationProvider, type Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { SecurityStore } from './security-store.js';
import { toChecklistItem, toEffect, toLease, toRelease } from './rows.js';
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
  type ReleasePatch,
  type ReleaseRow,
  type ReplicaRow,
  type ServiceRow,
  type Store,
} from './types.js';
import { TERMINAL_STATES } from '../domain/release.js';

/** A replica's row is dropped this long after its heartbeat expired, so the ids of replicas long gone do not pile up. */
const FORGET_REPLICA_MS = 60 * 60_000;

/** A Store over any Kysely dialect; it uses only SQL both SQLite and PostgreSQL accept. */
export class KyselyStore implements Store {
  readonly security: SecurityStore;

  constructor(
    protected readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {
    this.security = new SecurityStore(db, dialect);
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

  /** Runs a write that must not be lost to a dropped connection; a networked store retries it. */
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
    await this.durably(() =>
      this.db
        .insertInto('services')
        .values({ name: row.name, ...values })
        .onConflict((oc) => oc.column('name').doUpdateSet(values))
        .execute(),
    );
  }

  async createRelease(input: Omit<ReleaseRow, 'id' | 'updatedAt' | 'endedAt'>): Promise<ReleaseRow> {
    try {
      const r = await this.durably(() =>
        this.db
          .insertInto('releases')
          .values({
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
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toRelease(r);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const active = await this.activeRelease(input.service);
      throw new ConflictError(
        `service ${input.service} already has an active release` +
          (active ? ` (#${active.id}, version ${active.version}, ${active.state})` : ''),
      );
    }
  }

  async updateRelease(id: number, patch: ReleasePatch, now: number): Promise<ReleaseRow> {
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
    const r = await this.durably(() =>
      this.db.updateTable('releases').set(set).where('id', '=', id).returningAll().executeTakeFirst(),
    );
    if (!r) throw new NotFoundError(`release ${id} not found`);
    return toRelease(r);
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

  async addEvent(input: Omit<EventRow, 'id'>): Promise<EventRow> {
    // A secret that reached a message (a command's output, a URL) is kept as ***.
    const event = redactDeep(input);
    const r = await this.retrying(() =>
      this.db
        .insertInto('events')
        .values({
          service: event.service,
          release_id: event.releaseId,
          at: event.at,
          type: event.type,
          message: event.message,
          data: JSON.stringify(event.data),
        })
        .returning('id')
        .executeTakeFirstOrThrow(),
    );
    return { ...event, id: Number(r.id) };
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
    return rows.map((r) => ({
      id: Number(r.id),
      service: r.service,
      releaseId: num(r.release_id),
      at: Number(r.at),
      type: r.type,
      message: r.message,
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  }

  async addMeasurement(m: Omit<MeasurementRow, 'id'>): Promise<MeasurementRow> {
    const r = await this.retrying(() =>
      this.db
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
        })
        .returning('id')
        .executeTakeFirstOrThrow(),
    );
    return { ...m, id: Number(r.id) };
  }

  async listMeasurements(releaseId: number, limit: number): Promise<MeasurementRow[]> {
    const rows = await this.db
      .selectFrom('measurements')
      .selectAll()
      .where('release_id', '=', releaseId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      releaseId: Number(r.release_id),
      service: r.service,
      at: Number(r.at),
      trigger: r.trigger,
      metric: r.metric,
      version: r.version,
      value: num(r.value),
      threshold: num(r.threshold),
      verdict: r.verdict as MeasurementRow['verdict'],
      windowMs: Number(r.window_ms),
      requests: Number(r.requests),
      message: r.message,
      inputs: JSON.parse(r.inputs) as Record<string, unknown>,
    }));
  }

  async createChecklist(items: ChecklistItemRow[]): Promise<void> {
    if (items.length === 0) return;
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
    return this.durably(async () =>
      this.db.transaction().execute(async (tx) => {
        const row = await tx
          .selectFrom('checklist_items')
          .selectAll()
          .where('release_id', '=', releaseId)
          .where('item_id', '=', itemId)
          .executeTakeFirst();
        if (!row) throw new NotFoundError(`no checklist item "${itemId}" in release #${releaseId}`);
        let evidence = JSON.parse(row.evidence) as Evidence[];
        const added = patch.evidence && redactDeep(patch.evidence);
        if (added && patch.replaceLastEvidence && evidence.length > 0) {
          evidence[evidence.length - 1] = added;
        } else if (added) {
          evidence = appendEvidence(evidence, added, patch.evidenceLimit ?? Infinity);
        }
        const updated = await tx
          .updateTable('checklist_items')
          .set({ state: patch.state, evidence: JSON.stringify(evidence), updated_at: now })
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
    // Durable: a restarted controller must find every process it started.
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
