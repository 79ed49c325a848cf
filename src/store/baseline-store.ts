import type { Kysely, Selectable } from 'kysely';
import type { BaselineFigures } from '../baseline/compare.js';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { num } from './values.js';

/**
 * Where a baseline stands. `recording`: its window is open. `complete`: the whole window was measured
 * by one control plane. `restarted`: the control plane restarted during the window, so the request
 * figures cover only the part after the restart (the window and sample size say how much).
 * `discarded`: the release did not succeed; kept for the record, never compared with.
 */
export type BaselineState = 'recording' | 'complete' | 'restarted' | 'discarded';

/** States whose figures a later release is compared with. */
export const COMPARABLE_STATES: readonly BaselineState[] = ['complete', 'restarted'];

/** One release's baseline. */
export interface BaselineRow {
  id: number;
  releaseId: number;
  /** The unit: the service, or `service@environment`. */
  service: string;
  version: string;
  state: BaselineState;
  /** When the window opened (the release reached 100%). */
  startedAt: number;
  endedAt: number | null;
  figures: BaselineFigures | null;
  /** Why the baseline is partial or discarded; null when complete. */
  reason: string | null;
  /** Cumulative CPU seconds of each instance's process group (by leader pid) when the window opened. */
  resourcesStart: Record<string, number>;
  updatedAt: number;
}

/** What opening a baseline's window takes. */
export type NewBaseline = Pick<
  BaselineRow,
  'releaseId' | 'service' | 'version' | 'startedAt' | 'resourcesStart'
>;

/** How a baseline's window closed. */
export type BaselineEnd = Pick<BaselineRow, 'state' | 'endedAt' | 'figures' | 'reason'>;

/** The baselines table: one row per release, opened at 100% and finished when the window closes. */
export class BaselineStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}

  /** Opens a release's baseline; a release that has one already keeps it (returned as stored). */
  async open(baseline: NewBaseline, now: number): Promise<BaselineRow> {
    await this.db
      .insertInto('baselines')
      .values({
        release_id: baseline.releaseId,
        service: baseline.service,
        version: baseline.version,
        state: 'recording',
        started_at: baseline.startedAt,
        ended_at: null,
        figures: null,
        reason: null,
        resources_start: JSON.stringify(baseline.resourcesStart),
        updated_at: now,
      })
      .onConflict((oc) => oc.column('release_id').doNothing())
      .execute();
    const row = await this.get(baseline.releaseId);
    if (!row) throw new Error(`baseline of release ${baseline.releaseId} not stored`);
    return row;
  }

  /** Closes a baseline that is still recording; false when it was closed already (or never opened). */
  async finish(releaseId: number, end: BaselineEnd, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('baselines')
      .set({
        state: end.state,
        ended_at: end.endedAt,
        figures: end.figures === null ? null : JSON.stringify(end.figures),
        reason: end.reason,
        updated_at: now,
      })
      .where('release_id', '=', releaseId)
      .where('state', '=', 'recording')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** A release's baseline. */
  async get(releaseId: number): Promise<BaselineRow | undefined> {
    const row = await this.db
      .selectFrom('baselines')
      .selectAll()
      .where('release_id', '=', releaseId)
      .executeTakeFirst();
    return row && toBaseline(row);
  }

  /** A unit's baselines, newest release first; `limit` of them. */
  async list(service: string, limit = 100): Promise<BaselineRow[]> {
    const rows = await this.db
      .selectFrom('baselines')
      .selectAll()
      .where('service', '=', service)
      .orderBy('release_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toBaseline);
  }

  /** Baselines of every unit whose name is `service` or `service@...`, newest release first. */
  async listOfService(service: string, limit = 100): Promise<BaselineRow[]> {
    const rows = await this.db
      .selectFrom('baselines')
      .selectAll()
      .where((eb) => eb.or([eb('service', '=', service), eb('service', 'like', `${service}@%`)]))
      .orderBy('release_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toBaseline);
  }

  /**
   * The baseline a release is compared with: the newest finished one of the same unit from an earlier
   * release that succeeded (`complete` or `restarted`).
   */
  async previous(service: string, releaseId: number): Promise<BaselineRow | undefined> {
    const row = await this.db
      .selectFrom('baselines')
      .selectAll()
      .where('service', '=', service)
      .where('release_id', '<', releaseId)
      .where('state', 'in', [...COMPARABLE_STATES])
      .orderBy('release_id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toBaseline(row);
  }
}

function toBaseline(row: Selectable<Database['baselines']>): BaselineRow {
  return {
    id: Number(row.id),
    releaseId: Number(row.release_id),
    service: row.service,
    version: row.version,
    state: row.state as BaselineState,
    startedAt: Number(row.started_at),
    endedAt: num(row.ended_at),
    figures: row.figures === null ? null : (JSON.parse(row.figures) as BaselineFigures),
    reason: row.reason,
    resourcesStart: JSON.parse(row.resources_start) as Record<string, number>,
    updatedAt: Number(row.updated_at),
  };
}
