/**
 * Scaling rows (migration 015): the stable instance count a unit was scaled to, by hand or by the
 * autoscaler, and the load samples the capacity report reads (docs/capacity.md).
 */
import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { num } from './values.js';

/** Who set a unit's stable instance count. */
export type ScaleSource = 'user' | 'autoscaler';

/** The stable instance count of a unit, set by `shipcheck scale` or the autoscaler. */
export interface ScaleSettingRow {
  unit: string;
  instances: number;
  /** fleet.instances when it was set: once the config says otherwise, the config's count applies again. */
  configInstances: number;
  source: ScaleSource;
  /** The user, or `autoscaler`. */
  setBy: string;
  reason: string | null;
  setAt: number;
}

/** One sample of a unit's stable version: its load, its latency and what its instances used. */
export interface LoadSampleRow {
  unit: string;
  at: number;
  version: string;
  /** Ready instances of the version when sampled. */
  instances: number;
  /** Requests per second over the sample's window, and how many requests that was. */
  rps: number;
  requests: number;
  /** p99 latency in ms; null without requests. */
  p99: number | null;
  /** errors / requests; null without requests. */
  errorRate: number | null;
  /** Mean CPU per instance as a fraction of one core; null without a reading (hooks fleet). */
  cpu: number | null;
  /** Mean resident memory per instance in bytes; null without a reading. */
  rss: number | null;
}

/** The scaling rows of every unit. */
export class ScalingStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}

  /** The unit's stored count, if one was ever set. */
  async getScale(unit: string): Promise<ScaleSettingRow | undefined> {
    const row = await this.db
      .selectFrom('scale_settings')
      .selectAll()
      .where('unit', '=', unit)
      .executeTakeFirst();
    return row ? toSetting(row) : undefined;
  }

  /** Sets the unit's count; durable on return. */
  async setScale(row: ScaleSettingRow): Promise<void> {
    const values = {
      instances: row.instances,
      config_instances: row.configInstances,
      source: row.source,
      set_by: row.setBy,
      reason: row.reason,
      set_at: row.setAt,
    };
    await this.db
      .insertInto('scale_settings')
      .values({ unit: row.unit, ...values })
      .onConflict((oc) => oc.column('unit').doUpdateSet(values))
      .execute();
  }

  async addLoadSample(row: LoadSampleRow): Promise<void> {
    await this.db
      .insertInto('load_samples')
      .values({
        unit: row.unit,
        at: row.at,
        version: row.version,
        instances: row.instances,
        rps: row.rps,
        requests: row.requests,
        p99: row.p99,
        error_rate: row.errorRate,
        cpu: row.cpu,
        rss: row.rss,
      })
      .execute();
  }

  /** The unit's samples taken at or after `since`, oldest first, at most `limit`. */
  async loadSamples(unit: string, since: number, limit = 250_000): Promise<LoadSampleRow[]> {
    const rows = await this.db
      .selectFrom('load_samples')
      .selectAll()
      .where('unit', '=', unit)
      .where('at', '>=', since)
      .orderBy('at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toSample);
  }

  /** The unit's newest sample, if any. */
  async latestLoadSample(unit: string): Promise<LoadSampleRow | undefined> {
    const row = await this.db
      .selectFrom('load_samples')
      .selectAll()
      .where('unit', '=', unit)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toSample(row) : undefined;
  }

  /** Removes every unit's samples taken before `before`; returns how many. */
  async pruneLoadSamples(before: number): Promise<number> {
    const result = await this.db.deleteFrom('load_samples').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toSetting(row: Selectable<Database['scale_settings']>): ScaleSettingRow {
  return {
    unit: row.unit,
    instances: Number(row.instances),
    configInstances: Number(row.config_instances),
    source: row.source === 'autoscaler' ? 'autoscaler' : 'user',
    setBy: row.set_by,
    reason: row.reason,
    setAt: Number(row.set_at),
  };
}

function toSample(row: Selectable<Database['load_samples']>): LoadSampleRow {
  return {
    unit: row.unit,
    at: Number(row.at),
    version: row.version,
    instances: Number(row.instances),
    rps: Number(row.rps),
    requests: Number(row.requests),
    p99: num(row.p99),
    errorRate: num(row.error_rate),
    cpu: num(row.cpu),
    rss: num(row.rss),
  };
}
