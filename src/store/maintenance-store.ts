/**
 * Scheduled checklist items between releases: per unit and item the next due time, the claim of the
 * replica running it and the last result; and each run's history. Claims are compare-and-set updates,
 * so two replicas on one PostgreSQL store never both run a slot (docs/decisions/017).
 */
import type { Generated, Kysely, Selectable } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';
import { num } from './values.js';

/** How a run ended; `running` while it runs, `interrupted` when its replica stopped before it ended. */
export type MaintenanceRunState = 'running' | 'passed' | 'failed' | 'inconclusive' | 'error' | 'interrupted';

/** What started a run: its schedule, or a person (`by`). */
export type MaintenanceTrigger = 'schedule' | 'manual';

/** One scheduled item of a unit, as stored. */
export interface MaintenanceItemRow {
  unit: string;
  itemId: string;
  /** The schedule `nextDueAt` was computed from: `<cron> <zone>`. */
  schedule: string;
  nextDueAt: number;
  /** The run in progress, the replica running it, and until when its claim holds unless renewed. */
  runId: number | null;
  claimedBy: string | null;
  claimedUntil: number | null;
  lastRunId: number | null;
  lastState: MaintenanceRunState | null;
  lastAt: number | null;
  /** True between the notice that it failed and the one that it recovered. */
  failing: boolean;
  updatedAt: number;
}

/** What a run recorded: the check's own evidence, cut to size by the scheduler. */
export interface MaintenanceEvidence {
  output?: string;
  value?: number;
  data?: Record<string, unknown>;
}

/** One run of a scheduled item. */
export interface MaintenanceRunRow {
  id: number;
  unit: string;
  itemId: string;
  kind: string;
  state: MaintenanceRunState;
  summary: string;
  evidence: MaintenanceEvidence;
  trigger: MaintenanceTrigger;
  /** Who asked for a manual run. */
  by: string | null;
  /** The replica that ran it. */
  holder: string;
  /** The scheduled time it ran for; null for a manual run. */
  slotAt: number | null;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
}

/** A run about to start, written with its claim. */
export interface NewMaintenanceRun {
  kind: string;
  trigger: MaintenanceTrigger;
  by: string | null;
  holder: string;
  slotAt: number | null;
}

/** How a claim is taken: by whom, until when, and (for a scheduled slot) the due time seen and the next one. */
export interface MaintenanceClaim {
  holder: string;
  until: number;
  /** A scheduled run: the row must still be due at `seenDueAt`, and becomes due at `nextDueAt`. */
  slot?: { seenDueAt: number; nextDueAt: number };
}

/** A finished run's result. */
export interface MaintenanceResult {
  state: Exclude<MaintenanceRunState, 'running' | 'interrupted'>;
  summary: string;
  evidence: MaintenanceEvidence;
  /** Whether the item counts as failing after this run. */
  failing: boolean;
}

/** The store's part for scheduled items; `store.maintenance`. */
export class MaintenanceStore {
  constructor(
    private readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}

  private get tables(): Kysely<MaintenanceTables> {
    return this.db as unknown as Kysely<MaintenanceTables>;
  }

  /**
   * Makes sure the item has a row under `schedule`: a new one, or one whose schedule changed, gets
   * `firstDueAt`; an existing one keeps its due time, so a slot missed while nothing ran is still due.
   */
  async ensure(
    unit: string,
    itemId: string,
    schedule: string,
    firstDueAt: number,
    now: number,
  ): Promise<MaintenanceItemRow> {
    await this.tables
      .insertInto('maintenance_items')
      .values({
        unit,
        item_id: itemId,
        schedule,
        next_due_at: firstDueAt,
        run_id: null,
        claimed_by: null,
        claimed_until: null,
        last_run_id: null,
        last_state: null,
        last_at: null,
        failing: 0,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['unit', 'item_id']).doNothing())
      .execute();
    await this.tables
      .updateTable('maintenance_items')
      .set({ schedule, next_due_at: firstDueAt, updated_at: now })
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .where('schedule', '<>', schedule)
      .execute();
    const row = await this.item(unit, itemId);
    if (!row) throw new Error(`maintenance item ${unit} ${itemId} vanished`);
    return row;
  }

  async item(unit: string, itemId: string): Promise<MaintenanceItemRow | undefined> {
    const row = await this.tables
      .selectFrom('maintenance_items')
      .selectAll()
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .executeTakeFirst();
    return row ? toItem(row) : undefined;
  }

  /** The items of one unit, or of every unit; by unit and item id. */
  async items(unit?: string): Promise<MaintenanceItemRow[]> {
    let query = this.tables.selectFrom('maintenance_items').selectAll();
    if (unit !== undefined) query = query.where('unit', '=', unit);
    const rows = await query.orderBy('unit').orderBy('item_id').execute();
    return rows.map(toItem);
  }

  /**
   * Claims the item for a run and writes the run's row; undefined when another claim holds it or (for
   * a slot) the row is no longer due at the time seen: someone else took that slot.
   */
  async claim(
    unit: string,
    itemId: string,
    claim: MaintenanceClaim,
    run: NewMaintenanceRun,
    now: number,
  ): Promise<MaintenanceRunRow | undefined> {
    let update = this.tables
      .updateTable('maintenance_items')
      .set({
        claimed_by: claim.holder,
        claimed_until: claim.until,
        run_id: null,
        updated_at: now,
        ...(claim.slot ? { next_due_at: claim.slot.nextDueAt } : {}),
      })
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .where('claimed_by', 'is', null);
    if (claim.slot) update = update.where('next_due_at', '=', claim.slot.seenDueAt);
    const result = await update.executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return undefined;
    const row = await this.tables
      .insertInto('maintenance_runs')
      .values({
        unit,
        item_id: itemId,
        kind: run.kind,
        state: 'running',
        summary: 'running',
        evidence: '{}',
        trigger: run.trigger,
        by: run.by,
        holder: run.holder,
        slot_at: run.slotAt,
        started_at: now,
        finished_at: null,
        duration_ms: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.tables
      .updateTable('maintenance_items')
      .set({ run_id: Number(row.id) })
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .where('claimed_by', '=', claim.holder)
      .execute();
    return toRun(row);
  }

  /** Extends a claim this holder still has; false when it lost it. */
  async renew(unit: string, itemId: string, holder: string, until: number, now: number): Promise<boolean> {
    const result = await this.tables
      .updateTable('maintenance_items')
      .set({ claimed_until: until, updated_at: now })
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .where('claimed_by', '=', holder)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Records a run's result and frees the item. The item's last result and failing flag change only
   * while the claim is still this run's; returns whether it was.
   */
  async finish(
    unit: string,
    itemId: string,
    run: MaintenanceRunRow,
    result: MaintenanceResult,
    now: number,
  ): Promise<boolean> {
    await this.tables
      .updateTable('maintenance_runs')
      .set({
        state: result.state,
        summary: result.summary,
        evidence: JSON.stringify(result.evidence),
        finished_at: now,
        duration_ms: now - run.startedAt,
      })
      .where('id', '=', run.id)
      .where('state', '=', 'running')
      .execute();
    const freed = await this.tables
      .updateTable('maintenance_items')
      .set({
        claimed_by: null,
        claimed_until: null,
        run_id: null,
        last_run_id: run.id,
        last_state: result.state,
        last_at: now,
        failing: result.failing ? 1 : 0,
        updated_at: now,
      })
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .where('claimed_by', '=', run.holder)
      .where('run_id', '=', run.id)
      .executeTakeFirst();
    return Number(freed.numUpdatedRows) === 1;
  }

  /**
   * Frees a claim whose holder stopped (its claim lapsed, or it restarted under the same name): its
   * run is recorded as interrupted and the item is due again at once. Compare-and-set on the claim
   * seen, so only one replica does it; returns the interrupted run's id, or undefined when none was freed.
   */
  async interrupt(item: MaintenanceItemRow, now: number): Promise<number | null | undefined> {
    if (item.claimedBy === null || item.claimedUntil === null) return undefined;
    const freed = await this.tables
      .updateTable('maintenance_items')
      .set({
        claimed_by: null,
        claimed_until: null,
        run_id: null,
        next_due_at: Math.min(item.nextDueAt, now),
        updated_at: now,
      })
      .where('unit', '=', item.unit)
      .where('item_id', '=', item.itemId)
      .where('claimed_by', '=', item.claimedBy)
      .where('claimed_until', '=', item.claimedUntil)
      .executeTakeFirst();
    if (Number(freed.numUpdatedRows) !== 1) return undefined;
    if (item.runId === null) return null;
    await this.tables
      .updateTable('maintenance_runs')
      .set({
        state: 'interrupted',
        summary: `interrupted: ${item.claimedBy} stopped before the run ended; it runs again`,
        finished_at: now,
        duration_ms: null,
      })
      .where('id', '=', item.runId)
      .where('state', '=', 'running')
      .execute();
    return item.runId;
  }

  /** An item's runs, newest first. */
  async runs(unit: string, itemId: string, limit: number): Promise<MaintenanceRunRow[]> {
    const rows = await this.tables
      .selectFrom('maintenance_runs')
      .selectAll()
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toRun);
  }

  async run(id: number): Promise<MaintenanceRunRow | undefined> {
    const row = await this.tables
      .selectFrom('maintenance_runs')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRun(row) : undefined;
  }

  /** Deletes an item's runs but the newest `keep`; returns how many went. */
  async prune(unit: string, itemId: string, keep: number): Promise<number> {
    const edge = await this.tables
      .selectFrom('maintenance_runs')
      .select('id')
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .orderBy('id', 'desc')
      .offset(keep)
      .limit(1)
      .executeTakeFirst();
    if (!edge) return 0;
    const result = await this.tables
      .deleteFrom('maintenance_runs')
      .where('unit', '=', unit)
      .where('item_id', '=', itemId)
      .where('id', '<=', Number(edge.id))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/** The tables of migration 014, beside the rest of the schema (schema.ts). */
export interface MaintenanceTables {
  maintenance_items: {
    unit: string;
    item_id: string;
    schedule: string;
    next_due_at: number;
    run_id: number | null;
    claimed_by: string | null;
    claimed_until: number | null;
    last_run_id: number | null;
    last_state: string | null;
    last_at: number | null;
    failing: number;
    updated_at: number;
  };
  maintenance_runs: {
    id: Generated<number>;
    unit: string;
    item_id: string;
    kind: string;
    state: string;
    summary: string;
    evidence: string;
    trigger: string;
    by: string | null;
    holder: string;
    slot_at: number | null;
    started_at: number;
    finished_at: number | null;
    duration_ms: number | null;
  };
}

function toItem(row: Selectable<MaintenanceTables['maintenance_items']>): MaintenanceItemRow {
  return {
    unit: row.unit,
    itemId: row.item_id,
    schedule: row.schedule,
    nextDueAt: Number(row.next_due_at),
    runId: num(row.run_id),
    claimedBy: row.claimed_by,
    claimedUntil: num(row.claimed_until),
    lastRunId: num(row.last_run_id),
    lastState: row.last_state as MaintenanceRunState | null,
    lastAt: num(row.last_at),
    failing: Number(row.failing) === 1,
    updatedAt: Number(row.updated_at),
  };
}

function toRun(row: Selectable<MaintenanceTables['maintenance_runs']>): MaintenanceRunRow {
  return {
    id: Number(row.id),
    unit: row.unit,
    itemId: row.item_id,
    kind: row.kind,
    state: row.state as MaintenanceRunState,
    summary: row.summary,
    evidence: JSON.parse(row.evidence) as MaintenanceEvidence,
    trigger: row.trigger as MaintenanceTrigger,
    by: row.by,
    holder: row.holder,
    slotAt: num(row.slot_at),
    startedAt: Number(row.started_at),
    finishedAt: num(row.finished_at),
    durationMs: num(row.duration_ms),
  };
}
