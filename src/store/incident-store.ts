import type { Generated, Kysely, Selectable, Updateable } from 'kysely';
import type {
  EscalationState,
  Incident,
  IncidentSource,
  IncidentState,
  TimelineEntry,
  TimelineKind,
} from '../comms/incidents/types.js';
import type { Destination, Severity } from '../comms/types.js';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { num } from './values.js';

/** The tables this part of the store owns (migration 011). */
// A type rather than an interface: Kysely's withTables wants an index signature.
export type IncidentTables = {
  incidents: {
    id: Generated<number>;
    key: string;
    /** `key` while open, null once resolved: a unique index keeps one open incident per key. */
    open_key: string | null;
    title: string;
    severity: string;
    state: string;
    source: string;
    service: string | null;
    release_id: number | null;
    policy: string | null;
    public: number;
    postmortem: string | null;
    acknowledged_by: string | null;
    acknowledged_at: number | null;
    resolved_by: string | null;
    resolved_at: number | null;
    /** When a monitored incident resolves by itself; null when nothing is scheduled. */
    resolve_at: number | null;
    esc_step: number;
    esc_round: number;
    esc_cycle: number;
    next_escalation_at: number | null;
    esc_exhausted: number;
    /** JSON: Destination[]. */
    paged: string;
    created_at: number;
    updated_at: number;
  };
  incident_updates: {
    id: Generated<number>;
    incident_id: number;
    at: number;
    actor: string;
    kind: string;
    message: string;
    /** JSON object. */
    data: string;
  };
};

type Db = Kysely<Database & IncidentTables>;

/** What opening an incident writes; escalation starts due at once (step -1: nothing paged yet). */
export interface NewIncident {
  key: string;
  title: string;
  severity: Severity;
  source: IncidentSource;
  service?: string | null;
  releaseId?: number | null;
  policy?: string | null;
  public?: boolean;
  /** When the first escalation is due; null when nobody is to be paged. */
  nextEscalationAt: number | null;
}

/** One timeline entry to write. */
export interface NewTimelineEntry {
  actor: string;
  kind: TimelineKind;
  message: string;
  data?: Record<string, unknown>;
}

/** What a compare-and-set expects of the row; each field given must hold, or nothing is written. */
export interface IncidentExpectation {
  states?: readonly IncidentState[];
  step?: number;
  round?: number;
  cycle?: number;
  nextAt?: number | null;
}

/** What a compare-and-set changes. */
export interface IncidentPatch {
  title?: string;
  severity?: Severity;
  state?: IncidentState;
  public?: boolean;
  postmortem?: string | null;
  acknowledgedBy?: string | null;
  acknowledgedAt?: number | null;
  resolvedBy?: string | null;
  resolvedAt?: number | null;
  resolveAt?: number | null;
  escalation?: Partial<EscalationState>;
  paged?: readonly Destination[];
}

/** Filters of `list`. */
export interface IncidentFilter {
  state?: IncidentState;
  service?: string;
  /** Only those shown on the status page. */
  public?: boolean;
  /** Before this id (paging backwards). */
  beforeId?: number;
  limit?: number;
}

/** The most incidents one list returns. */
export const MAX_INCIDENTS = 500;

/** Incidents and their timelines (triggered, acknowledged, resolved), with durable escalation timers. */
export class IncidentStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}

  private get tables(): Db {
    return this.db.withTables<IncidentTables>();
  }

  /**
   * Opens an incident, or finds the open one with the same key. Writes `entry` to the new
   * incident's timeline, or `again` to the open one's. Safe when replicas open the same key at once.
   */
  async open(
    input: NewIncident,
    entry: NewTimelineEntry,
    again: NewTimelineEntry,
    at: number,
  ): Promise<{ incident: Incident; created: boolean }> {
    // A found incident resolved between the insert and the read leaves the key free: try again.
    for (let attempt = 0; ; attempt++) {
      const done = await this.tables.transaction().execute(async (tx) => {
        const row = await tx
          .insertInto('incidents')
          .values({
            key: input.key,
            open_key: input.key,
            title: input.title,
            severity: input.severity,
            state: 'triggered',
            source: input.source,
            service: input.service ?? null,
            release_id: input.releaseId ?? null,
            policy: input.policy ?? null,
            public: input.public ? 1 : 0,
            postmortem: null,
            acknowledged_by: null,
            acknowledged_at: null,
            resolved_by: null,
            resolved_at: null,
            esc_step: -1,
            esc_round: 0,
            esc_cycle: 0,
            next_escalation_at: input.nextEscalationAt,
            esc_exhausted: 0,
            paged: '[]',
            created_at: at,
            updated_at: at,
          })
          .onConflict((oc) => oc.column('open_key').doNothing())
          .returningAll()
          .executeTakeFirst();
        if (row) {
          await insertEntries(tx, Number(row.id), [entry], at);
          return { incident: toIncident(row), created: true };
        }
        const open = await tx
          .selectFrom('incidents')
          .selectAll()
          .where('open_key', '=', input.key)
          .executeTakeFirst();
        if (!open) return undefined;
        await insertEntries(tx, Number(open.id), [again], at);
        await tx.updateTable('incidents').set({ updated_at: at }).where('id', '=', open.id).execute();
        return { incident: toIncident({ ...open, updated_at: at }), created: false };
      });
      if (done) return done;
      if (attempt >= 3) throw new Error(`incident key "${input.key}" kept changing while it was opened`);
    }
  }

  /** The incident with `id`, or undefined. */
  async get(id: number): Promise<Incident | undefined> {
    const row = await this.tables.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toIncident(row) : undefined;
  }

  /** The open (triggered or acknowledged) incident with dedup key `key`, or undefined. */
  async findOpen(key: string): Promise<Incident | undefined> {
    const row = await this.tables
      .selectFrom('incidents')
      .selectAll()
      .where('open_key', '=', key)
      .executeTakeFirst();
    return row ? toIncident(row) : undefined;
  }

  /** Newest first. */
  async list(filter: IncidentFilter = {}): Promise<Incident[]> {
    let query = this.tables.selectFrom('incidents').selectAll();
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.service !== undefined) query = query.where('service', '=', filter.service);
    if (filter.public !== undefined) query = query.where('public', '=', filter.public ? 1 : 0);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(Math.min(filter.limit ?? 100, MAX_INCIDENTS))
      .execute();
    return rows.map(toIncident);
  }

  /** The incident's timeline, oldest first. */
  async timeline(id: number): Promise<TimelineEntry[]> {
    const rows = await this.tables
      .selectFrom('incident_updates')
      .selectAll()
      .where('incident_id', '=', id)
      .orderBy('id', 'asc')
      .execute();
    return rows.map(toEntry);
  }

  /** Open incidents whose escalation timer (next step, or ack timeout) is due at `now`, oldest timer first. */
  async due(now: number, limit = 100): Promise<Incident[]> {
    const rows = await this.tables
      .selectFrom('incidents')
      .selectAll()
      .where('state', 'in', ['triggered', 'acknowledged'])
      .where('next_escalation_at', 'is not', null)
      .where('next_escalation_at', '<=', now)
      .orderBy('next_escalation_at', 'asc')
      .limit(limit)
      .execute();
    return rows.map(toIncident);
  }

  /** Open incidents whose scheduled resolution is due, oldest first. */
  async dueResolutions(now: number, limit = 100): Promise<Incident[]> {
    const rows = await this.tables
      .selectFrom('incidents')
      .selectAll()
      .where('state', 'in', ['triggered', 'acknowledged'])
      .where('resolve_at', 'is not', null)
      .where('resolve_at', '<=', now)
      .orderBy('resolve_at', 'asc')
      .limit(limit)
      .execute();
    return rows.map(toIncident);
  }

  /**
   * Compare-and-set: applies `patch` and writes `entries` when the row still holds what `expected`
   * says, in one transaction. Returns the changed incident, or undefined when the row had moved on
   * (another replica, or a person, got there first) or does not exist.
   */
  async update(
    id: number,
    expected: IncidentExpectation,
    patch: IncidentPatch,
    entries: readonly NewTimelineEntry[],
    at: number,
  ): Promise<Incident | undefined> {
    return this.tables.transaction().execute(async (tx) => {
      let query = tx.updateTable('incidents').set(patchOf(patch, at)).where('id', '=', id);
      if (expected.states !== undefined) query = query.where('state', 'in', [...expected.states]);
      if (expected.step !== undefined) query = query.where('esc_step', '=', expected.step);
      if (expected.round !== undefined) query = query.where('esc_round', '=', expected.round);
      if (expected.cycle !== undefined) query = query.where('esc_cycle', '=', expected.cycle);
      if (expected.nextAt !== undefined)
        query =
          expected.nextAt === null
            ? query.where('next_escalation_at', 'is', null)
            : query.where('next_escalation_at', '=', expected.nextAt);
      const row = await query.returningAll().executeTakeFirst();
      if (!row) return undefined;
      await insertEntries(tx, id, entries, at);
      return toIncident(row);
    });
  }

  /** Adds entries to an incident's timeline without changing it (but its updated time). */
  async addEntries(id: number, entries: readonly NewTimelineEntry[], at: number): Promise<void> {
    await this.tables.transaction().execute(async (tx) => {
      await insertEntries(tx, id, entries, at);
      await tx.updateTable('incidents').set({ updated_at: at }).where('id', '=', id).execute();
    });
  }

  /** The dialect, for queries that differ. */
  protected get sqlDialect(): Dialect {
    return this.dialect;
  }
}

async function insertEntries(
  tx: Db,
  incidentId: number,
  entries: readonly NewTimelineEntry[],
  at: number,
): Promise<void> {
  for (const entry of entries)
    await tx
      .insertInto('incident_updates')
      .values({
        incident_id: incidentId,
        at,
        actor: entry.actor,
        kind: entry.kind,
        message: entry.message,
        data: JSON.stringify(entry.data ?? {}),
      })
      .execute();
}

function patchOf(patch: IncidentPatch, at: number): Updateable<IncidentTables['incidents']> {
  const set: Updateable<IncidentTables['incidents']> = { updated_at: at };
  if (patch.title !== undefined) set.title = patch.title;
  if (patch.severity !== undefined) set.severity = patch.severity;
  if (patch.state !== undefined) {
    set.state = patch.state;
    // A resolved incident frees its key for the next one.
    if (patch.state === 'resolved') set.open_key = null;
  }
  if (patch.public !== undefined) set.public = patch.public ? 1 : 0;
  if (patch.postmortem !== undefined) set.postmortem = patch.postmortem;
  if (patch.acknowledgedBy !== undefined) set.acknowledged_by = patch.acknowledgedBy;
  if (patch.acknowledgedAt !== undefined) set.acknowledged_at = patch.acknowledgedAt;
  if (patch.resolvedBy !== undefined) set.resolved_by = patch.resolvedBy;
  if (patch.resolvedAt !== undefined) set.resolved_at = patch.resolvedAt;
  if (patch.resolveAt !== undefined) set.resolve_at = patch.resolveAt;
  const esc = patch.escalation;
  if (esc?.step !== undefined) set.esc_step = esc.step;
  if (esc?.round !== undefined) set.esc_round = esc.round;
  if (esc?.cycle !== undefined) set.esc_cycle = esc.cycle;
  if (esc?.nextAt !== undefined) set.next_escalation_at = esc.nextAt;
  if (esc?.exhausted !== undefined) set.esc_exhausted = esc.exhausted ? 1 : 0;
  if (patch.paged !== undefined) set.paged = JSON.stringify(patch.paged);
  return set;
}

function toIncident(row: Selectable<IncidentTables['incidents']>): Incident {
  return {
    id: Number(row.id),
    key: row.key,
    title: row.title,
    severity: row.severity as Severity,
    state: row.state as IncidentState,
    source: row.source as IncidentSource,
    service: row.service,
    releaseId: num(row.release_id),
    policy: row.policy,
    public: Number(row.public) === 1,
    postmortem: row.postmortem,
    acknowledgedBy: row.acknowledged_by,
    acknowledgedAt: num(row.acknowledged_at),
    resolvedBy: row.resolved_by,
    resolvedAt: num(row.resolved_at),
    resolveAt: num(row.resolve_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    escalation: {
      step: Number(row.esc_step),
      round: Number(row.esc_round),
      cycle: Number(row.esc_cycle),
      nextAt: num(row.next_escalation_at),
      exhausted: Number(row.esc_exhausted) === 1,
    },
    paged: JSON.parse(row.paged) as Destination[],
  };
}

function toEntry(row: Selectable<IncidentTables['incident_updates']>): TimelineEntry {
  return {
    id: Number(row.id),
    incidentId: Number(row.incident_id),
    at: Number(row.at),
    actor: row.actor,
    kind: row.kind as TimelineKind,
    message: row.message,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}
