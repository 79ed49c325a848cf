/**
 * Store retention: the queries that prune what releases leave behind (measurements and samples,
 * ended releases with their events, checklist items, measurements, samples and effects, and events and effects of no
 * release), delivered and failed notifications, and resolved incidents with their timelines, in
 * batches of a bounded number of rows with a pause after each statement, so the prune never holds
 * a lock for long. The audit log is never touched: its chain has its own archive.
 * On PostgreSQL a pass runs under an advisory lock of the store's schema, so only one of several
 * replicas prunes at a time; the others skip their pass.
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { IncidentTables } from './incident-store.js';
import type { Database } from './schema.js';

/** How long the store keeps each kind of row, in milliseconds. */
export interface RetentionPolicy {
  /**
   * Measurements and release samples older than this go, except those of an active release and
   * measurements that failed.
   */
  measurementsMs: number;
  /**
   * Releases ended longer ago than this go with everything of theirs, except each service's newest
   * release and its two newest successful ones. Resolved incidents go this long after they were
   * resolved, with their timelines; an open one never goes.
   */
  releasesMs: number;
  /**
   * Events and effects that belong to no release go this long after they happened, and delivered
   * or failed notifications this long after they last changed; a pending one never goes.
   */
  eventsMs: number;
}

/** Rows one prune pass removed, by table. */
export interface PruneCounts {
  releases: number;
  events: number;
  measurements: number;
  release_samples: number;
  checklist_items: number;
  effects: number;
  notifications: number;
  incident_updates: number;
  incidents: number;
}

/** How a prune pass runs. */
export interface PruneOptions {
  /** The time the retention periods count back from. */
  now: number;
  /** Rows one delete statement removes at most. */
  batchSize: number;
  /** Awaited after every delete statement, so other work gets the database in between. */
  pause: () => Promise<void>;
  /** Ends the pass between two statements (shutdown); what was deleted stays deleted. */
  signal?: AbortSignal;
}

/** The tables a pass prunes, in the order their counts are reported. */
export const PRUNED_TABLES = [
  'measurements',
  'release_samples',
  'events',
  'checklist_items',
  'effects',
  'releases',
  'notifications',
  'incident_updates',
  'incidents',
] as const;

/** Rows that hang off a release, deleted before the release itself so nothing is left orphaned. */
const RELEASE_CHILDREN = ['events', 'measurements', 'release_samples', 'effects', 'checklist_items'] as const;

/** The verdict whose measurements stay as long as their release: they explain why it was rolled back. */
const KEPT_VERDICT = 'fail';

/** A service's newest releases in this state are kept whatever their age. */
const SUCCEEDED = 'succeeded';
/** How many: the stable version's release, and the one before it that a rollback goes back to. */
const KEPT_SUCCESSES = 2;

/** Notifications in these states are done with: delivered, or given up. A pending one waits to be sent. */
const SETTLED = ['delivered', 'failed'] as const;

/** Names the advisory lock: two 32-bit keys, the first for shipcheck's retention, the second the schema. */
const LOCK_NAME = 'shipcheck.retention';

/** An empty count. */
export function noPruneCounts(): PruneCounts {
  return {
    releases: 0,
    events: 0,
    measurements: 0,
    release_samples: 0,
    checklist_items: 0,
    effects: 0,
    notifications: 0,
    incident_updates: 0,
    incidents: 0,
  };
}

/**
 * Prunes the store's releases, events, measurements, evidence, effects, notifications and incidents
 * by a RetentionPolicy.
 */
export class RetentionStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /**
   * Runs one pass: everything older than `policy` allows goes, `batchSize` rows per statement at
   * most. Returns the rows removed, or undefined when another replica is pruning this store now.
   */
  async prune(policy: RetentionPolicy, options: PruneOptions): Promise<PruneCounts | undefined> {
    return this.exclusively((db) => new PrunePass(db, policy, options).run());
  }

  /** Runs `work` on one connection holding the schema's retention lock; undefined when another holds it. */
  private async exclusively<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T | undefined> {
    if (this.dialect === 'sqlite') return work(this.db); // one file, one control plane
    return this.db.connection().execute(async (db) => {
      // Session-level, so the lock ends with the connection if the process dies mid-pass.
      const { rows } = await sql<{ locked: boolean }>`
        SELECT pg_try_advisory_lock(hashtext(${LOCK_NAME}), hashtext(current_schema())) AS locked
      `.execute(db);
      if (rows[0]?.locked !== true) return undefined;
      try {
        return await work(db);
      } finally {
        await sql`SELECT pg_advisory_unlock(hashtext(${LOCK_NAME}), hashtext(current_schema()))`
          .execute(db)
          // A connection that is gone took its lock with it.
          .catch(() => undefined);
      }
    });
  }
}

/** One pass over the tables; keeps its counts as it goes. */
class PrunePass {
  private readonly counts = noPruneCounts();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly policy: RetentionPolicy,
    private readonly options: PruneOptions,
  ) {}

  async run(): Promise<PruneCounts> {
    await this.endedReleases();
    await this.measurements();
    await this.samples();
    await this.unattached();
    await this.settledNotifications();
    await this.resolvedIncidents();
    return this.counts;
  }

  private get stopped(): boolean {
    return this.options.signal?.aborted === true;
  }

  /** Runs `remove` (one statement) until it removes fewer than a batch, pausing after each. */
  private async drain(table: keyof PruneCounts, remove: (limit: number) => Promise<number>): Promise<void> {
    const { batchSize, pause } = this.options;
    while (!this.stopped) {
      const removed = await remove(batchSize);
      this.counts[table] += removed;
      await pause();
      if (removed < batchSize) return;
    }
  }

  /** Ended releases past `releasesMs`, oldest first, a batch of them at a time with all they hold. */
  private async endedReleases(): Promise<void> {
    const cutoff = this.options.now - this.policy.releasesMs;
    while (!this.stopped) {
      const ids = (
        await this.db
          .selectFrom('releases')
          .select('id')
          .where('active', 'is', null)
          .where('ended_at', '<', cutoff)
          // A service's newest release says what it runs now; it stays whatever its age.
          .where('id', 'not in', (eb) =>
            eb
              .selectFrom('releases as newest')
              .select((e) => e.fn.max('newest.id').as('id'))
              .groupBy('service'),
          )
          // So do its newest successes: the stable version, and the one `shipcheck rollback` goes back to.
          .where('id', 'not in', (eb) =>
            eb
              .selectFrom((inner) =>
                inner
                  .selectFrom('releases as s')
                  .select((e) => [
                    's.id',
                    e.fn
                      .agg<number>('row_number', [])
                      .over((over) => over.partitionBy('s.service').orderBy('s.id', 'desc'))
                      .as('rank'),
                  ])
                  .where('s.state', '=', SUCCEEDED)
                  .as('ranked'),
              )
              .select('ranked.id')
              .where('ranked.rank', '<=', KEPT_SUCCESSES),
          )
          .orderBy('ended_at')
          .limit(this.options.batchSize)
          .execute()
      ).map((r) => Number(r.id));
      if (ids.length === 0) return;
      for (const table of RELEASE_CHILDREN) {
        await this.drain(table, (limit) => this.deleteChildren(table, ids, limit));
        if (this.stopped) return;
      }
      const deleted = await this.db.deleteFrom('releases').where('id', 'in', ids).executeTakeFirst();
      this.counts.releases += Number(deleted.numDeletedRows);
      await this.options.pause();
      if (ids.length < this.options.batchSize) return;
    }
  }

  /** Deletes at most `limit` rows of `table` that belong to the releases `ids`. */
  private async deleteChildren(
    table: (typeof RELEASE_CHILDREN)[number],
    ids: number[],
    limit: number,
  ): Promise<number> {
    const db = this.db;
    let deleted;
    if (table === 'checklist_items') {
      // Keyed by (release_id, item_id): no single column names a row.
      deleted = await db
        .deleteFrom('checklist_items')
        .where(({ eb, refTuple, selectFrom }) =>
          eb(
            refTuple('release_id', 'item_id'),
            'in',
            selectFrom('checklist_items as c')
              .select(['c.release_id', 'c.item_id'])
              .where('c.release_id', 'in', ids)
              .limit(limit)
              .$asTuple('release_id', 'item_id'),
          ),
        )
        .executeTakeFirst();
    } else if (table === 'effects') {
      deleted = await db
        .deleteFrom('effects')
        .where('key', 'in', (eb) =>
          eb.selectFrom('effects as e').select('e.key').where('e.release_id', 'in', ids).limit(limit),
        )
        .executeTakeFirst();
    } else if (table === 'events') {
      deleted = await db
        .deleteFrom('events')
        .where('id', 'in', (eb) =>
          eb.selectFrom('events as e').select('e.id').where('e.release_id', 'in', ids).limit(limit),
        )
        .executeTakeFirst();
    } else if (table === 'release_samples') {
      deleted = await db
        .deleteFrom('release_samples')
        .where('id', 'in', (eb) =>
          eb.selectFrom('release_samples as s').select('s.id').where('s.release_id', 'in', ids).limit(limit),
        )
        .executeTakeFirst();
    } else {
      deleted = await db
        .deleteFrom('measurements')
        .where('id', 'in', (eb) =>
          eb.selectFrom('measurements as m').select('m.id').where('m.release_id', 'in', ids).limit(limit),
        )
        .executeTakeFirst();
    }
    return Number(deleted.numDeletedRows);
  }

  /** Measurements past `measurementsMs`, but none that failed and none of an active release. */
  private async measurements(): Promise<void> {
    const cutoff = this.options.now - this.policy.measurementsMs;
    await this.drain('measurements', async (limit) => {
      const deleted = await this.db
        .deleteFrom('measurements')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('measurements as m')
            .select('m.id')
            .where('m.at', '<', cutoff)
            .where('m.verdict', '<>', KEPT_VERDICT)
            .where('m.release_id', 'not in', (inner) =>
              inner.selectFrom('releases').select('releases.id').where('releases.active', '=', 1),
            )
            .orderBy('m.at')
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(deleted.numDeletedRows);
    });
  }

  /**
   * Samples past `measurementsMs`, none of an active release: like measurements they are the detail
   * behind a chart, kept as long; no verdict rests on one, so none is kept longer.
   */
  private async samples(): Promise<void> {
    const cutoff = this.options.now - this.policy.measurementsMs;
    await this.drain('release_samples', async (limit) => {
      const deleted = await this.db
        .deleteFrom('release_samples')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('release_samples as s')
            .select('s.id')
            .where('s.at', '<', cutoff)
            .where('s.release_id', 'not in', (inner) =>
              inner.selectFrom('releases').select('releases.id').where('releases.active', '=', 1),
            )
            .orderBy('s.at')
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(deleted.numDeletedRows);
    });
  }

  /** Events and effects of no release (a unit's own) past `eventsMs`. */
  private async unattached(): Promise<void> {
    const cutoff = this.options.now - this.policy.eventsMs;
    await this.drain('events', async (limit) => {
      const deleted = await this.db
        .deleteFrom('events')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('events as e')
            .select('e.id')
            .where('e.release_id', 'is', null)
            .where('e.at', '<', cutoff)
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(deleted.numDeletedRows);
    });
    if (this.stopped) return;
    await this.drain('effects', async (limit) => {
      const deleted = await this.db
        .deleteFrom('effects')
        .where('key', 'in', (eb) =>
          eb
            .selectFrom('effects as e')
            .select('e.key')
            .where('e.release_id', 'is', null)
            .where('e.at', '<', cutoff)
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(deleted.numDeletedRows);
    });
  }

  /**
   * Delivered and failed notifications whose last change is older than `eventsMs`, oldest first (by
   * the index of migration 018). The delete checks the state and time again: a failed row retried
   * (`shipcheck notify retry`) after the select is pending, and stays.
   */
  private async settledNotifications(): Promise<void> {
    const cutoff = this.options.now - this.policy.eventsMs;
    for (const state of SETTLED) {
      while (!this.stopped) {
        const ids = (
          await this.db
            .selectFrom('notifications')
            .select('id')
            .where('state', '=', state)
            .where('updated_at', '<', cutoff)
            .orderBy('updated_at')
            .limit(this.options.batchSize)
            .execute()
        ).map((r) => Number(r.id));
        if (ids.length === 0) break;
        const deleted = await this.db
          .deleteFrom('notifications')
          .where('id', 'in', ids)
          .where('state', '=', state)
          .where('updated_at', '<', cutoff)
          .executeTakeFirst();
        this.counts.notifications += Number(deleted.numDeletedRows);
        await this.options.pause();
        if (ids.length < this.options.batchSize) break;
      }
    }
  }

  /**
   * Resolved incidents whose resolution is older than `releasesMs`, a batch at a time, each with its
   * timeline first (like a release's rows), so a pass that stops halfway leaves no orphaned entry. An
   * open incident (triggered or acknowledged) never goes. A status page incident that links one keeps
   * its number: the page has its own copy of what it shows, and nothing reads the link backwards.
   */
  private async resolvedIncidents(): Promise<void> {
    const db = this.db.withTables<IncidentTables>();
    const cutoff = this.options.now - this.policy.releasesMs;
    while (!this.stopped) {
      const ids = (
        await db
          .selectFrom('incidents')
          .select('id')
          .where('state', '=', 'resolved')
          .where('resolved_at', '<', cutoff)
          .orderBy('id')
          .limit(this.options.batchSize)
          .execute()
      ).map((r) => Number(r.id));
      if (ids.length === 0) return;
      await this.drain('incident_updates', async (limit) => {
        const deleted = await db
          .deleteFrom('incident_updates')
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('incident_updates as u')
              .select('u.id')
              .where('u.incident_id', 'in', ids)
              .limit(limit),
          )
          .executeTakeFirst();
        return Number(deleted.numDeletedRows);
      });
      if (this.stopped) return;
      const deleted = await db
        .deleteFrom('incidents')
        .where('id', 'in', ids)
        .where('state', '=', 'resolved')
        .executeTakeFirst();
      this.counts.incidents += Number(deleted.numDeletedRows);
      await this.options.pause();
      if (ids.length < this.options.batchSize) return;
    }
  }
}
