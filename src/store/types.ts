import type { SecurityStore } from './security-store.js';
import type { NotificationStore } from './notification-store.js';
import type { IncidentStore } from './incident-store.js';
import type { StatusPageStore } from './status-page-store.js';
import type { OnCallStore } from './oncall-store.js';
import type { QuerySnapshotStore } from './query-snapshot-store.js';
import type { ScalingStore } from './scaling-store.js';
import type { MaintenanceStore } from './maintenance-store.js';
import type { BaselineStore } from './baseline-store.js';
import type { RetentionStore } from './retention.js';
import type { Evidence, Gate, ItemState } from '../domain/checklist.js';
import type { ReleaseKind, ReleasePhase, ReleaseState, Verdict } from '../domain/release.js';
import type { Clock } from '../util/clock.js';

/** The persisted state of one release; every field the engine needs to resume after a crash. */
export interface ReleaseRow {
  id: number;
  service: string;
  version: string;
  /** The stable version when the release began; undefined for a service's first release. */
  fromVersion: string | null;
  kind: ReleaseKind;
  state: ReleaseState;
  phase: ReleasePhase;
  /** Index of the current strategy step during `canary`. */
  step: number;
  /** Percent of traffic the canary should get. */
  weight: number;
  /** Why the release ended, was paused, or is rolling back. */
  reason: string | null;
  /** The terminal state a release in `rolling-back` will end in. */
  outcome: ReleaseState | null;
  stepStartedAt: number;
  phaseStartedAt: number;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
}

/** What the fleet persists about an instance so a restarted controller can find it again. */
export interface InstanceRecord {
  id: string;
  service: string;
  version: string;
  index: number;
  port: number;
  pid: number;
  /** Process start time as the OS reports it (Linux: /proc/PID/stat field 22), to tell a reused pid apart. */
  pidStartTime: string;
  logFile: string;
}

/** Durable storage for instance records; the store implements it. */
export interface InstanceRecordStore {
  listInstances(service: string): Promise<InstanceRecord[]>;
  /** Insert or replace by id. */
  saveInstance(record: InstanceRecord): Promise<void>;
  deleteInstance(id: string): Promise<void>;
}

/** Fields a transition may change. */
export type ReleasePatch = Partial<
  Pick<
    ReleaseRow,
    | 'state'
    | 'phase'
    | 'step'
    | 'weight'
    | 'reason'
    | 'outcome'
    | 'stepStartedAt'
    | 'phaseStartedAt'
    | 'endedAt'
  >
>;

/** What shipcheck remembers about a service between releases. */
export interface ServiceRow {
  name: string;
  stableVersion: string | null;
  /** The version replaced by the last success, kept warm until `previousRetireAt`. */
  previousVersion: string | null;
  previousRetireAt: number | null;
  updatedAt: number;
}

/** Something that happened, for the event stream and history. */
export interface EventRow {
  id: number;
  service: string;
  releaseId: number | null;
  at: number;
  type: string;
  message: string;
  data: Record<string, unknown>;
}

/** An event to write: every field but the id the store gives it. */
export type NewEvent = Omit<EventRow, 'id'>;

/** A release's change and the event that announces it, as one transaction wrote them. */
export interface ReleaseTransition {
  release: ReleaseRow;
  /**
   * The announcing event; undefined only from {@link Store.createReleaseWithEvent} when its key named a
   * release an earlier call created (that call wrote and published the event).
   */
  event: EventRow | undefined;
}

/** Which events {@link Store.listEvents} returns. */
export interface EventFilter {
  /** Only this unit's events, exactly as named. */
  service?: string;
  /** With `service`: its environments' events (`service@environment`) too. */
  withEnvironments?: boolean;
  releaseId?: number;
  /** Only ids above this one. */
  afterId?: number;
  /** Only ids below this one: pages backwards through history with `newest`. */
  beforeId?: number;
  /** The newest `limit` matching events instead of the oldest. */
  newest?: boolean;
  limit: number;
}

/** One evaluation of a trigger, kept with its inputs so a decision can be explained later. */
export interface MeasurementRow {
  id: number;
  releaseId: number;
  service: string;
  at: number;
  /** The rule as written, e.g. `error_rate > 5% for 5s`. */
  trigger: string;
  metric: string;
  version: string;
  value: number | null;
  threshold: number | null;
  verdict: Verdict;
  windowMs: number;
  requests: number;
  message: string;
  inputs: Record<string, unknown>;
}

/** One version's traffic over one sample interval of a release (engine/release-sampler.ts). */
export interface SampleFigures {
  version: string;
  /** Requests per second over the interval. */
  rps: number;
  requests: number;
  errors: number;
  /** errors / requests as a fraction; null without requests. */
  errorRate: number | null;
  /** Milliseconds; null without requests. */
  p50: number | null;
  p99: number | null;
}

/** Stable and canary figures of an active release at one moment, for the release page's charts. */
export interface ReleaseSampleRow {
  id: number;
  releaseId: number;
  /** The unit the release belongs to, e.g. `web@production`. */
  service: string;
  at: number;
  /** Null when the release has no stable version, or its metric source could not be read. */
  stable: SampleFigures | null;
  /** Null when no canary runs, or its metric source could not be read. */
  canary: SampleFigures | null;
}

/** Which samples {@link Store.listSamples} returns. */
export interface SampleFilter {
  /** Only samples taken after this time (epoch ms). */
  afterAt?: number;
  limit: number;
}

/** One item of one release's checklist, with everything it saw. */
export interface ChecklistItemRow {
  releaseId: number;
  id: string;
  position: number;
  section: string;
  title: string;
  kind: string;
  gate: Gate;
  params: Record<string, unknown>;
  /** Why an item is manual although it could be automated, e.g. `automated once "backup" is configured`. */
  hint: string | null;
  automated: boolean;
  state: ItemState;
  /** Oldest first: every run, sign-off or waiver. */
  evidence: Evidence[];
  updatedAt: number;
}

/** Who drives a service (or service@environment) until when; see docs/decisions/004. */
export interface LeaseRow {
  name: string;
  /** The replica's id, e.g. `host-1234-9f2c`. */
  holder: string;
  expiresAt: number;
  /** Grows by one each time the lease changes hands; a fencing token for side effects. */
  epoch: number;
  /** When the current holder took it. */
  acquiredAt: number;
  /**
   * The epoch whose holder also keeps the unit's session lock (PostgreSQL, docs/decisions/009); null
   * when it does not. Only when it equals `epoch` does a free session lock prove the holder gone.
   */
  lockEpoch: number | null;
}

/**
 * Locks tied to one database session of this replica's own, which the database lets go the moment
 * that session ends (PostgreSQL session-level advisory locks on a dedicated connection). A holder
 * keeps its unit's lock beside the lease row; another replica that can take the lock while the row
 * names a live holder knows the holder's session is gone (docs/decisions/009).
 */
export interface LeaseLocks {
  /**
   * Takes the lock of `name` on this replica's session when it is free, opening the session if need
   * be. True when the session holds it (now or already); false when another session does, or when
   * the session cannot be opened.
   */
  lock(name: string): Promise<boolean>;
  /** Lets the lock of `name` go; nothing when this session does not hold it. */
  unlock(name: string): Promise<void>;
  /**
   * Whether the session holds the lock of `name` and a heartbeat that began at or after `since`
   * (by the clock the locks were opened with) found the session alive. No I/O: the heartbeat runs
   * on its own, and a session that errs or ends drops every lock at once.
   */
  holds(name: string, since: number): boolean;
  /** Runs a heartbeat now; true when the session answered it within `timeoutMs`. */
  prove(timeoutMs: number): Promise<boolean>;
  /** Ends the session and its heartbeat; the database lets every lock go. */
  close(): Promise<void>;
}

/** A replica that says it is up, until `expiresAt` unless it says so again; see engine/lease-share.ts. */
export interface ReplicaRow {
  /** The replica's id, as it holds leases. */
  id: string;
  seenAt: number;
  expiresAt: number;
}

/** Kinds of side effect recorded under an idempotency key. */
export type EffectKind = 'traffic' | 'migration' | 'notification';

/**
 * A side effect outside the store (a weight change, a migration run, a notification), recorded under
 * an idempotency key so a replica that takes a release over neither repeats nor loses it.
 */
export interface EffectRow {
  /** e.g. `web#12:traffic:50`, `web#12:migrations:up`. */
  key: string;
  service: string;
  releaseId: number | null;
  kind: EffectKind;
  /** `started` before the effect is attempted, `done` once it has taken effect. */
  state: 'started' | 'done' | 'failed';
  /** The replica that recorded it last. */
  holder: string;
  at: number;
  data: Record<string, unknown>;
}

/** Durable state behind the engine. Implementations: SQLite (default) and PostgreSQL. */
export interface Store extends InstanceRecordStore {
  /** Users, tokens, sessions and the audit log. */
  readonly security: SecurityStore;
  /** Prunes old releases, events, measurements, evidence and effects (retention.ts). */
  readonly retention: RetentionStore;
  /** The outbox of notifications and their delivery log. */
  readonly notifications: NotificationStore;
  /** Incidents, their timelines and escalation state. */
  readonly incidents: IncidentStore;
  /** The status page's incidents, maintenances, overrides, history and subscribers. */
  readonly statusPage: StatusPageStore;
  /** On-call overrides and users' contact methods. */
  readonly oncall: OnCallStore;
  /** The pg_stat_statements snapshots the `queries` check compares against. */
  readonly querySnapshots: QuerySnapshotStore;
  /** Stable instance counts set by scale or the autoscaler, and load samples. */
  readonly scaling: ScalingStore;
  /** Scheduled items between releases: due times, claims and run history. */
  readonly maintenance: MaintenanceStore;
  /** Performance baselines per release. */
  readonly baselines: BaselineStore;
  /** Applies the store's own schema migrations; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  getService(name: string): Promise<ServiceRow | undefined>;
  /** Insert or update a service; durable on return. */
  saveService(row: ServiceRow): Promise<void>;

  /**
   * Creates a release, once even when a dropped connection makes the store retry it; throws
   * ConflictError when the service already has an active one.
   */
  createRelease(input: Omit<ReleaseRow, 'id' | 'updatedAt' | 'endedAt'>): Promise<ReleaseRow>;
  /**
   * Creates a release and the event `announce` makes of it in one transaction, durable on return:
   * both or neither. With `key`, a release created under that key before is returned instead (its
   * event undefined unless this call wrote it), so a request repeated with its key starts one release.
   * Throws ConflictError when the service already has another active release.
   */
  createReleaseWithEvent(
    input: Omit<ReleaseRow, 'id' | 'updatedAt' | 'endedAt'>,
    announce: (release: ReleaseRow) => NewEvent,
    key?: string,
  ): Promise<ReleaseTransition>;
  /** The release created under `key` (createReleaseWithEvent), if any. */
  releaseByKey(key: string): Promise<ReleaseRow | undefined>;
  /** Applies a transition and syncs it to disk before returning. */
  updateRelease(id: number, patch: ReleasePatch, now: number): Promise<ReleaseRow>;
  /**
   * Applies a transition and writes the event `announce` makes of the changed release in one
   * transaction, synced to disk before returning: a crash or a failed insert leaves neither.
   */
  updateReleaseWithEvent(
    id: number,
    patch: ReleasePatch,
    now: number,
    announce: (release: ReleaseRow) => NewEvent,
  ): Promise<ReleaseTransition>;
  getRelease(id: number): Promise<ReleaseRow | undefined>;
  /** The release of `service` that has not reached a terminal state, if any. */
  activeRelease(service: string): Promise<ReleaseRow | undefined>;
  /** Every release not in a terminal state, for the reconciler. */
  activeReleases(): Promise<ReleaseRow[]>;
  /** Newest first. */
  listReleases(service: string, limit: number): Promise<ReleaseRow[]>;

  /** Writes an event once, even when a dropped connection makes the store retry it. */
  addEvent(event: NewEvent): Promise<EventRow>;
  /** The highest event id so far (of `service` when given); 0 when there is none. */
  lastEventId(service?: string): Promise<number>;
  /**
   * Events with afterId < id < beforeId, oldest first: the oldest `limit` of them, or with `newest`
   * the newest `limit` (still returned oldest first), so a replay reads only the rows it sends.
   */
  listEvents(filter: EventFilter): Promise<EventRow[]>;

  /** Writes a measurement once, even when a dropped connection makes the store retry it. */
  addMeasurement(measurement: Omit<MeasurementRow, 'id'>): Promise<MeasurementRow>;
  /** Oldest first. */
  listMeasurements(releaseId: number, limit: number): Promise<MeasurementRow[]>;
  /** Measurements of every release with ids above `afterId`, oldest first: what the event stream reads. */
  listMeasurementsAfter(afterId: number, limit: number): Promise<MeasurementRow[]>;
  /** The highest measurement id so far; 0 when there is none. */
  lastMeasurementId(): Promise<number>;

  /** Writes a release sample once, even when a dropped connection makes the store retry it. */
  addSample(sample: Omit<ReleaseSampleRow, 'id'>): Promise<ReleaseSampleRow>;
  /** A release's samples, oldest first (by time, then id): the first `limit` after `afterAt` when given. */
  listSamples(releaseId: number, filter: SampleFilter): Promise<ReleaseSampleRow[]>;
  /** Samples of every release with ids above `afterId`, oldest first by id: what the event stream reads. */
  listSamplesAfter(afterId: number, limit: number): Promise<ReleaseSampleRow[]>;
  /** The highest sample id so far; 0 when there is none. */
  lastSampleId(): Promise<number>;

  /**
   * Takes the lease on `name` for `holder` until `now + ttlMs` when it is free, expired, or already
   * `holder`'s (a renewal). Returns the lease when `holder` has it, undefined when another replica does.
   */
  acquireLease(
    name: string,
    holder: string,
    now: number,
    ttlMs: number,
    /** Whether `holder` keeps the unit's session lock: the row's lockEpoch becomes its epoch, else null. */
    locked?: boolean,
  ): Promise<LeaseRow | undefined>;
  /**
   * Takes over `from`, the lease row as last read, when it is still that holder's at that epoch and
   * its lockEpoch is that epoch: `holder` found the unit's session lock free, so `from`'s session is
   * gone. The epoch grows by one and `holder` keeps the lock. Undefined when the row changed.
   */
  takeOverLease(
    name: string,
    holder: string,
    from: LeaseRow,
    now: number,
    ttlMs: number,
  ): Promise<LeaseRow | undefined>;
  /**
   * This replica's session locks beside the lease rows, on a store several replicas share
   * (PostgreSQL); undefined on one that only one replica uses (SQLite). One per replica: call once.
   */
  openLeaseLocks?(clock: Clock): LeaseLocks;
  /** Gives a lease up at once (graceful shutdown), if `holder` still has it. */
  releaseLease(name: string, holder: string): Promise<void>;
  getLease(name: string): Promise<LeaseRow | undefined>;
  /** Every lease row by name, expired and released ones included: who holds which unit until when. */
  listLeases(): Promise<LeaseRow[]>;

  /**
   * Records that replica `id` is up until `now + ttlMs` (a heartbeat); rows that expired long ago are
   * dropped at the same time.
   */
  heartbeatReplica(id: string, now: number, ttlMs: number): Promise<void>;
  /** Replicas whose last heartbeat has not expired at `now`, by id. */
  liveReplicas(now: number): Promise<ReplicaRow[]>;
  /** Forgets replica `id` at once (graceful shutdown), so the others stop counting it. */
  removeReplica(id: string): Promise<void>;

  /** The effect recorded under `key`, if any. */
  getEffect(key: string): Promise<EffectRow | undefined>;
  /** Records an effect under its key, replacing an earlier record of the same key; durable on return. */
  saveEffect(effect: EffectRow): Promise<void>;
  /** Effects of a release, oldest first. */
  listEffects(releaseId: number): Promise<EffectRow[]>;

  /** Stores a release's checklist; items that already exist are left as they are (idempotent). */
  createChecklist(items: ChecklistItemRow[]): Promise<void>;
  /** Checklist items whose params hold a sealed copy (`$sealed`), of every release: what `keys rotate` re-seals. */
  listSealedChecklistItems(): Promise<ChecklistItemRow[]>;
  /** Replaces an item's params (re-sealed under a new key); nothing else changes. */
  setChecklistParams(releaseId: number, itemId: string, params: Record<string, unknown>): Promise<void>;
  /** The release's checklist in template order. */
  listChecklist(releaseId: number): Promise<ChecklistItemRow[]>;
  /**
   * Sets an item's state, appending evidence when given (or replacing the newest entry with
   * `replaceLastEvidence`, so a check re-run while it cannot judge keeps one entry); durable on return,
   * and applied once even when a dropped connection makes the store retry it.
   * With `evidenceLimit`, the list is capped in the same transaction, as `appendEvidence`
   * (checklist/evidence.ts) describes.
   */
  updateChecklistItem(
    releaseId: number,
    itemId: string,
    patch: { state: ItemState; evidence?: Evidence; replaceLastEvidence?: boolean; evidenceLimit?: number },
    now: number,
  ): Promise<ChecklistItemRow>;
}
