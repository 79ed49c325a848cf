/**
 * The store as one unit (a service, or `service@environment`) sees it: its service row, its
 * releases, and the events it records. The engine writes through it; the read views read through it.
 * A release's creation and each transition that an event announces are written with that event in
 * one transaction (`create`, `transition`), so a crash between them can lose neither.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { NotFoundError } from '../errors.js';
import type {
  EventRow,
  NewEvent,
  ReleasePatch,
  ReleaseRow,
  ReleaseTransition,
  ServiceRow,
  Store,
} from '../store/types.js';
import type { Clock } from '../util/clock.js';

/** Releases looked through for the last version that succeeded. */
const SUCCEEDED_LOOKBACK = 50;

/** What a unit's records need. */
export interface UnitRecordsOptions {
  store: Store;
  /** The unit releases are stored under: `web`, or `web@staging`. */
  name: string;
  clock: Clock;
  logger: Logger;
}

/** One unit's rows and events in the store. */
export class UnitRecords {
  /** Emits `event` with each EventRow this replica stores. */
  readonly events = new EventEmitter();
  readonly name: string;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(options: UnitRecordsOptions) {
    this.store = options.store;
    this.name = options.name;
    this.clock = options.clock;
    this.logger = options.logger;
    this.events.setMaxListeners(0);
  }

  /** The unit's service row; an empty one (nothing deployed) before its first release succeeds. */
  async service(): Promise<ServiceRow> {
    return (
      (await this.store.getService(this.name)) ?? {
        name: this.name,
        stableVersion: null,
        previousVersion: null,
        previousRetireAt: null,
        updatedAt: this.clock.now(),
      }
    );
  }

  /** The active release, if any. */
  active(): Promise<ReleaseRow | undefined> {
    return this.store.activeRelease(this.name);
  }

  /** The active release, else the last one; undefined before the first. */
  async latest(): Promise<ReleaseRow | undefined> {
    return (await this.store.activeRelease(this.name)) ?? (await this.store.listReleases(this.name, 1))[0];
  }

  /** The active release, else the last one; NotFoundError before the first. */
  async current(): Promise<ReleaseRow> {
    const release = await this.latest();
    if (!release) throw new NotFoundError(`service ${this.name} has no release yet`);
    return release;
  }

  /** The newest version that succeeded other than `stable`, the target of a rollback. */
  async lastSucceededBefore(stable: string | null): Promise<string | undefined> {
    const releases = await this.store.listReleases(this.name, SUCCEEDED_LOOKBACK);
    return releases.find((r) => r.state === 'succeeded' && r.version !== stable)?.version;
  }

  /** The release created under request key `key` (see `create`), if any. */
  byKey(key: string): Promise<ReleaseRow | undefined> {
    return this.store.releaseByKey(this.requestKey(key));
  }

  /**
   * Creates a release, progressing at step 0 of `phase` with no traffic yet, together with its
   * `release.created` event (`message`'s `{id}` becomes the release's id), and publishes the event.
   * With `key` (a request's Idempotency-Key), a release created under it before is returned instead.
   */
  async create(
    start: Pick<ReleaseRow, 'version' | 'fromVersion' | 'kind' | 'phase' | 'reason'>,
    message: string,
    key?: string,
  ): Promise<ReleaseRow> {
    const now = this.clock.now();
    const input = {
      service: this.name,
      version: start.version,
      fromVersion: start.fromVersion,
      kind: start.kind,
      state: 'progressing' as const,
      phase: start.phase,
      step: 0,
      weight: 0,
      reason: start.reason,
      outcome: null,
      stepStartedAt: now,
      phaseStartedAt: now,
      createdAt: now,
    };
    const announce = (release: ReleaseRow): NewEvent =>
      this.eventOf(release, 'release.created', message.replace('{id}', String(release.id)), {});
    const written = await this.store.createReleaseWithEvent(
      input,
      announce,
      key === undefined ? undefined : this.requestKey(key),
    );
    return this.published(written);
  }

  /** Writes a service row without its previous version, and returns it. */
  async dropPrevious(service: ServiceRow): Promise<ServiceRow> {
    const row = { ...service, previousVersion: null, previousRetireAt: null, updatedAt: this.clock.now() };
    await this.store.saveService(row);
    return row;
  }

  /** Writes a release's transition that no event announces; it is durable before the caller acts on it. */
  update(release: ReleaseRow, patch: ReleasePatch): Promise<ReleaseRow> {
    return this.store.updateRelease(release.id, patch, this.clock.now());
  }

  /**
   * Writes a release's transition and the event that announces it in one transaction, durable before
   * the caller acts on it, then publishes the event.
   */
  async transition(
    release: ReleaseRow,
    patch: ReleasePatch,
    type: string,
    message: string,
    data: Record<string, unknown> = {},
  ): Promise<ReleaseRow> {
    const written = await this.store.updateReleaseWithEvent(release.id, patch, this.clock.now(), (r) =>
      this.eventOf(r, type, message, data),
    );
    return this.published(written);
  }

  /** Records an event of `release` that changes nothing in it, with where the release stands, and publishes it. */
  async emit(
    release: ReleaseRow,
    type: string,
    message: string,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    this.publish(await this.store.addEvent(this.eventOf(release, type, message, data)));
  }

  /** Records an event of the unit that belongs to no release, and publishes it. */
  async emitService(type: string, message: string, data: Record<string, unknown> = {}): Promise<void> {
    const row: EventRow = await this.store.addEvent({
      service: this.name,
      releaseId: null,
      at: this.clock.now(),
      type,
      message,
      data,
    });
    this.publish(row);
  }

  /** An event of `release`, with where the release stands. */
  private eventOf(
    release: ReleaseRow,
    type: string,
    message: string,
    data: Record<string, unknown>,
  ): NewEvent {
    return {
      service: this.name,
      releaseId: release.id,
      at: this.clock.now(),
      type,
      message,
      data: {
        state: release.state,
        phase: release.phase,
        weight: release.weight,
        version: release.version,
        ...data,
      },
    };
  }

  /** Publishes the event a write stored, if it stored one, and returns the release. */
  private published(written: ReleaseTransition): ReleaseRow {
    if (written.event) this.publish(written.event);
    return written.release;
  }

  private publish(row: EventRow): void {
    if (row.releaseId === null) this.logger.info({ event: row.type }, row.message);
    else this.logger.info({ release: row.releaseId, event: row.type }, row.message);
    this.events.emit('event', row);
  }

  /** A request's key as stored: scoped to the unit, so two services may use the same one. */
  private requestKey(key: string): string {
    return `${this.name}/${key}`;
  }
}
