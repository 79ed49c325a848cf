/**
 * The `queries` check's part of the store (migration 017): the pg_stat_statements snapshot a release
 * is compared against, kept per unit, version and database so it survives a restart and is shared
 * by every replica.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';

/** Snapshots kept per unit; older ones are dropped when a new one is recorded. */
export const KEPT_SNAPSHOTS = 20;

/** The query_snapshots table (migration 017). */
export type QuerySnapshotTables = {
  query_snapshots: {
    unit: string;
    version: string;
    /** The database, its password redacted: a snapshot of one database is never compared with another's. */
    target: string;
    taken_at: number;
    /** JSON: the snapshot, as the queries check writes it. */
    data: string;
  };
};

/** One stored snapshot; `data` is whatever the check recorded. */
export interface QuerySnapshotRow {
  unit: string;
  version: string;
  target: string;
  takenAt: number;
  data: unknown;
}

/** pg_stat_statements snapshots for the `queries` check. */
export class QuerySnapshotStore {
  private readonly db: Kysely<Database & QuerySnapshotTables>;

  constructor(db: Kysely<Database>, _dialect: Dialect) {
    // The table's type lives here, beside its queries, rather than in schema.ts.
    this.db = db.withTables<QuerySnapshotTables>();
  }

  /** Records (or replaces) the snapshot of `unit`'s `version` on `target`, keeping the unit's newest few. */
  async record(row: QuerySnapshotRow): Promise<void> {
    const values = {
      unit: row.unit,
      version: row.version,
      target: row.target,
      taken_at: row.takenAt,
      data: JSON.stringify(row.data),
    };
    await this.db
      .insertInto('query_snapshots')
      .values(values)
      .onConflict((oc) =>
        oc
          .columns(['unit', 'version', 'target'])
          .doUpdateSet({ taken_at: values.taken_at, data: values.data }),
      )
      .execute();
    const kept = await this.db
      .selectFrom('query_snapshots')
      .select('taken_at')
      .where('unit', '=', row.unit)
      .orderBy('taken_at', 'desc')
      .offset(KEPT_SNAPSHOTS - 1)
      .limit(1)
      .executeTakeFirst();
    if (kept !== undefined) {
      await this.db
        .deleteFrom('query_snapshots')
        .where('unit', '=', row.unit)
        .where('taken_at', '<', Number(kept.taken_at))
        .execute();
    }
  }

  /** The snapshot of `unit`'s `version` on `target`, or undefined when none was recorded. */
  async find(unit: string, version: string, target: string): Promise<QuerySnapshotRow | undefined> {
    const row = await this.db
      .selectFrom('query_snapshots')
      .selectAll()
      .where('unit', '=', unit)
      .where('version', '=', version)
      .where('target', '=', target)
      .executeTakeFirst();
    return row === undefined ? undefined : toRow(row);
  }

  /** The newest snapshot of `unit` on `target` of another version than `version`, taken before `before`. */
  async previous(
    unit: string,
    target: string,
    version: string,
    before: number,
  ): Promise<QuerySnapshotRow | undefined> {
    const row = await this.db
      .selectFrom('query_snapshots')
      .selectAll()
      .where('unit', '=', unit)
      .where('target', '=', target)
      .where('version', '!=', version)
      .where('taken_at', '<', before)
      .orderBy('taken_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toRow(row);
  }
}

function toRow(row: Selectable<QuerySnapshotTables['query_snapshots']>): QuerySnapshotRow {
  return {
    unit: row.unit,
    version: row.version,
    target: row.target,
    takenAt: Number(row.taken_at),
    data: JSON.parse(row.data) as unknown,
  };
}
