/**
 * Runs a unit's scheduled checklist items between releases, on time, on the replica that holds the
 * unit's lease (docs/decisions/017). Each item's next due time and the claim of the run in progress
 * are stored, so a restart neither skips nor doubles a run: a slot missed while down runs once, a
 * run cut short (kill -9) is recorded as interrupted and runs again, and a slot is claimed by
 * compare-and-set, so two replicas never both run it.
 */
import type { Logger } from 'pino';
import type { CheckContext, CheckKind, CheckResult } from '../checklist/types.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type {
  MaintenanceEvidence,
  MaintenanceItemRow,
  MaintenanceResult,
  MaintenanceRunRow,
  MaintenanceTrigger,
} from '../store/maintenance-store.js';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { keepTail } from '../util/cut.js';
import { nextSlot } from './cron.js';
import type { ScheduledItem } from './scheduled-items.js';

/** How often the scheduler looks for due items. */
const DEFAULT_TICK_MS = 1000;
/** Longest a scheduled run may take before it is stopped and recorded as an error. */
const DEFAULT_TIMEOUT_MS = 15 * 60_000;
/** A claim lapses this long after its last renewal; the replica running it renews it every third of that. */
const DEFAULT_CLAIM_TTL_MS = 30_000;
/**
 * Longest a quiet scheduler goes without reading its rows: between due times it reads none, but looks
 * again this often for what another replica changed (a claim left by a replica that stopped).
 */
const REREAD_MS = 30_000;
/** Runs kept per item; older ones are pruned after each run. */
export const DEFAULT_KEEP_RUNS = 200;
/** Output kept per run (its end). */
const MAX_OUTPUT_CHARS = 8192;
/** Largest `data` kept per run, as JSON; a larger one is kept as a cut preview. */
const MAX_DATA_CHARS = 16_384;

/** The part of a lease the scheduler reads: the engine checks and renews it. */
export interface SchedulerLease {
  /** Whether this replica held the lease at the engine's last check. */
  readonly held: boolean;
  /** True when this replica surely holds it now (before an action). */
  confirm(): Promise<boolean>;
}

/** A notice that a scheduled item turned failed or recovered, for its owners. */
export interface MaintenanceNotice {
  unit: string;
  item: ScheduledItem;
  run: MaintenanceRunRow;
  state: 'failed' | 'recovered';
  summary: string;
}

export interface SchedulerOptions {
  unit: string;
  items: readonly ScheduledItem[];
  store: Store;
  kinds: ReadonlyMap<string, CheckKind<unknown>>;
  clock: Clock;
  logger: Logger;
  /** This scheduler's name in claims: unique per process and unit, so a restart's claims are told apart. */
  holder: string;
  /** The unit's lease; absent, this replica always acts (SQLite: one control plane). */
  lease?: SchedulerLease;
  /** The context a check runs in for `version` (the unit's stable version), as for a release. */
  context: (version: string) => Omit<CheckContext, 'signal'>;
  /** Tells the item's owners; absent, failures are only logged. */
  notify?: (notice: MaintenanceNotice) => Promise<void>;
  tickMs?: number;
  timeoutMs?: number;
  claimTtlMs?: number;
  keepRuns?: number;
}

/** One scheduled item as `shipcheck maintenance` lists it. */
export interface MaintenanceEntry {
  unit: string;
  itemId: string;
  section: string;
  title: string;
  kind: string;
  automated: boolean;
  /** Cron expression, or null when an override turned it off. */
  schedule: string | null;
  timezone: string;
  source: ScheduledItem['source'];
  /** Why a sign-off does not run by itself. */
  hint: string | null;
  nextRunAt: number | null;
  running: boolean;
  failing: boolean;
  last: Pick<
    MaintenanceRunRow,
    'id' | 'state' | 'summary' | 'trigger' | 'by' | 'startedAt' | 'finishedAt'
  > | null;
}

/** A run in progress on this replica. */
interface Running {
  controller: AbortController;
  task: Promise<MaintenanceRunRow>;
}

/** The scheduler of one unit; the control plane starts and stops it with the unit. */
export class Scheduler {
  private readonly running = new Map<string, Running>();
  /** Items being claimed by this replica, not yet running. */
  private readonly claiming = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  /**
   * Before this (clock time) no item is due and no other replica's claim lapses, as the last pass read
   * them: a pass before it reads nothing. Zero: read on the next pass.
   */
  private quietUntil = 0;

  constructor(private readonly options: SchedulerOptions) {}

  get unit(): string {
    return this.options.unit;
  }

  /** The items that run by themselves: automated, with a schedule. */
  private get due(): ScheduledItem[] {
    return this.options.items.filter((item) => item.automated && item.schedule !== undefined);
  }

  /** Starts looking for due items every tick; idempotent. */
  start(): void {
    if (this.timer || this.due.length === 0) return;
    this.stopped = false;
    this.timer = setInterval(() => void this.loop(), this.options.tickMs ?? DEFAULT_TICK_MS);
    this.timer.unref();
    void this.loop();
  }

  /** Stops the loop, and the runs in progress (recorded as interrupted; they run again at the next start). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true;
    await this.ticking;
    for (const run of this.running.values()) run.controller.abort();
    await Promise.allSettled([...this.running.values()].map((run) => run.task));
  }

  /** Waits for the runs in progress on this replica to end. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((run) => run.task));
  }

  private async loop(): Promise<void> {
    if (this.ticking) return;
    this.ticking = this.tick()
      .catch((err: unknown) => this.options.logger.error({ err }, 'scheduled checks: a pass failed'))
      .finally(() => (this.ticking = undefined));
    await this.ticking;
  }

  /**
   * One pass: frees the claims of runs whose replica stopped, and starts every item that is due (a
   * slot missed while nothing ran starts once, now). Only on the leaseholder. Tests call it directly.
   */
  async tick(): Promise<void> {
    const { store, lease, unit, clock } = this.options;
    if (lease && !lease.held) return;
    const start = clock.now();
    if (start < this.quietUntil) return;
    const rows = new Map((await store.maintenance.items(unit)).map((row) => [row.itemId, row]));
    // The next time anything can change: the earliest due time or claim lapse, re-read in any case.
    let quietUntil = start + REREAD_MS;
    const until = (at: number): void => {
      quietUntil = Math.min(quietUntil, at);
    };
    for (const item of this.due) {
      if (this.stopped) return;
      const now = clock.now();
      let row = rows.get(item.id);
      const key = scheduleKey(item);
      if (!row || row.schedule !== key) {
        const first = nextSlot(item.schedule ?? '', item.timezone, now);
        if (first === undefined) continue;
        row = await store.maintenance.ensure(unit, item.id, key, first, now);
      }
      if (row.claimedBy !== null) {
        // A run here ends by waking the next pass; another replica's claim may lapse.
        if (!this.running.has(row.itemId)) until(row.claimedUntil ?? now);
        await this.tend(row, now);
        continue;
      }
      if (row.nextDueAt > now) {
        until(row.nextDueAt);
        continue;
      }
      // Once per missed stretch: the next slot is the first after now, not after the one missed.
      const next = nextSlot(item.schedule ?? '', item.timezone, now);
      if (next === undefined) continue;
      if (lease && !(await lease.confirm())) return;
      await this.claim(item, row, 'schedule', null, { seenDueAt: row.nextDueAt, nextDueAt: next });
      until(next);
    }
    this.quietUntil = quietUntil;
  }

  /** A claimed row: renews this replica's live claim, or frees one whose replica stopped. */
  private async tend(row: MaintenanceItemRow, now: number): Promise<void> {
    if (this.running.has(row.itemId) || this.claiming.has(row.itemId)) return;
    // A live run renews its claim; one not renewed for a claim's lifetime lost its process.
    if ((row.claimedUntil ?? 0) > now) return;
    const interrupted = await this.options.store.maintenance.interrupt(row, now);
    if (interrupted !== undefined) {
      this.options.logger.warn(
        { item: row.itemId, run: interrupted, holder: row.claimedBy },
        `scheduled check ${row.itemId}: the run of ${row.claimedBy ?? 'a replica'} was interrupted; it runs again`,
      );
    }
  }

  /**
   * Runs an item now on this replica and waits for its result (`shipcheck checklist run`).
   * NotFoundError for an item that is not scheduled; ConflictError for a sign-off, an item turned off,
   * or one that is running.
   */
  async runNow(itemId: string, by: string): Promise<MaintenanceRunRow> {
    const item = this.find(itemId);
    if (!item.automated) {
      throw new ConflictError(
        `"${item.id}" is a sign-off on ${this.options.unit}, not an automated check; nothing to run${item.hint ? ` (${item.hint})` : ''}`,
      );
    }
    if (item.schedule === undefined) {
      throw new ConflictError(`"${item.id}" is turned off by maintenance.schedules on ${this.options.unit}`);
    }
    const { store, unit, clock } = this.options;
    const now = clock.now();
    let row = await store.maintenance.item(unit, item.id);
    if (!row || row.schedule !== scheduleKey(item)) {
      const first = nextSlot(item.schedule, item.timezone, now) ?? now;
      row = await store.maintenance.ensure(unit, item.id, scheduleKey(item), first, now);
    }
    if (row.claimedBy !== null && !this.running.has(item.id)) await this.tend(row, now);
    const running = await this.claim(item, row, 'manual', by, undefined);
    if (!running) throw new ConflictError(`"${item.id}" is running on ${unit} now; wait for its result`);
    return running.task;
  }

  /** The unit's scheduled items with their last result and next run. */
  async list(): Promise<MaintenanceEntry[]> {
    const { store, unit } = this.options;
    const rows = new Map((await store.maintenance.items(unit)).map((row) => [row.itemId, row]));
    const entries: MaintenanceEntry[] = [];
    for (const item of this.options.items) {
      const row = rows.get(item.id);
      const current = row !== undefined && row.schedule === scheduleKey(item);
      const last = row?.lastRunId ? await store.maintenance.run(row.lastRunId) : undefined;
      const runsByItself = item.automated && item.schedule !== undefined;
      entries.push({
        unit,
        itemId: item.id,
        section: item.section,
        title: item.title,
        kind: item.kind,
        automated: item.automated,
        schedule: item.schedule ?? null,
        timezone: item.timezone,
        source: item.source,
        hint: item.automated ? null : (item.hint ?? null),
        nextRunAt: !runsByItself
          ? null
          : current
            ? row.nextDueAt
            : (nextSlot(item.schedule ?? '', item.timezone, this.options.clock.now()) ?? null),
        running: row !== undefined && row.claimedBy !== null,
        failing: row?.failing ?? false,
        last: last
          ? {
              id: last.id,
              state: last.state,
              summary: last.summary,
              trigger: last.trigger,
              by: last.by,
              startedAt: last.startedAt,
              finishedAt: last.finishedAt,
            }
          : null,
      });
    }
    return entries;
  }

  /** How many of the unit's scheduled items are failing now. */
  async failingCount(): Promise<number> {
    const ids = new Set(this.options.items.map((item) => item.id));
    const rows = await this.options.store.maintenance.items(this.options.unit);
    return rows.filter((row) => ids.has(row.itemId) && row.failing).length;
  }

  /** An item's runs, newest first; NotFoundError when it is not scheduled. */
  async runs(itemId: string, limit: number): Promise<MaintenanceRunRow[]> {
    const item = this.find(itemId);
    return this.options.store.maintenance.runs(this.options.unit, item.id, limit);
  }

  /** A scheduled item by id, or by the end of its id (`backup-verification`). */
  find(itemId: string): ScheduledItem {
    const items = this.options.items;
    const item = items.find((i) => i.id === itemId) ?? items.find((i) => i.id.endsWith(`/${itemId}`));
    if (!item) {
      throw new NotFoundError(
        `no scheduled item "${itemId}" on ${this.options.unit}; "shipcheck maintenance" lists them`,
      );
    }
    return item;
  }

  /**
   * Claims the item and starts its run; undefined when another claim holds it. The item counts as
   * running here from before the claim, so a pass in between does not take the claim for a stale one.
   */
  private async claim(
    item: ScheduledItem,
    row: MaintenanceItemRow,
    trigger: MaintenanceTrigger,
    by: string | null,
    slot: { seenDueAt: number; nextDueAt: number } | undefined,
  ): Promise<Running | undefined> {
    const { store, unit, clock, holder } = this.options;
    if (this.claiming.has(item.id) || this.running.has(item.id)) return undefined;
    this.claiming.add(item.id);
    try {
      const now = clock.now();
      const run = await store.maintenance.claim(
        unit,
        row.itemId,
        { holder, until: now + this.claimTtl, ...(slot ? { slot } : {}) },
        { kind: item.kind, trigger, by, holder, slotAt: slot ? slot.seenDueAt : null },
        now,
      );
      return run ? this.begin(item, run) : undefined;
    } finally {
      this.claiming.delete(item.id);
    }
  }

  private get claimTtl(): number {
    return this.options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  }

  /** Runs a claimed item in the background, renewing its claim, and records the result. */
  private begin(item: ScheduledItem, run: MaintenanceRunRow): Running {
    const controller = new AbortController();
    const { store, unit, clock, holder, logger } = this.options;
    const renewal = setInterval(() => {
      store.maintenance
        .renew(unit, item.id, holder, clock.now() + this.claimTtl, clock.now())
        .catch((err: unknown) => logger.warn({ err, item: item.id }, 'renewing a scheduled run failed'));
    }, this.claimTtl / 3);
    renewal.unref();
    const task = this.execute(item, run, controller.signal).finally(() => {
      clearInterval(renewal);
      this.running.delete(item.id);
      this.quietUntil = 0;
    });
    const running = { controller, task };
    this.running.set(item.id, running);
    return running;
  }

  private async execute(
    item: ScheduledItem,
    run: MaintenanceRunRow,
    stop: AbortSignal,
  ): Promise<MaintenanceRunRow> {
    const { store, unit, clock, logger } = this.options;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([stop, timeout]);
    const outcome = await this.check(item, signal);
    const now = clock.now();
    if (stop.aborted) {
      // The control plane stops: the run is not judged, and runs again at the next start.
      const row = await store.maintenance.item(unit, item.id);
      if (row && row.runId === run.id) await store.maintenance.interrupt(row, now);
      return (await store.maintenance.run(run.id)) ?? run;
    }
    const result: Omit<MaintenanceResult, 'failing'> = timeout.aborted
      ? { state: 'error', summary: `timed out after ${Math.round(timeoutMs / 1000)}s`, evidence: {} }
      : outcome;
    const before = (await store.maintenance.item(unit, item.id))?.failing ?? false;
    const failing =
      result.state === 'failed' || result.state === 'error'
        ? true
        : result.state === 'passed'
          ? false
          : before;
    const ours = await store.maintenance.finish(unit, item.id, run, { ...result, failing }, now);
    const finished = (await store.maintenance.run(run.id)) ?? run;
    const log = { item: item.id, run: run.id, state: result.state, trigger: run.trigger };
    if (result.state === 'passed') logger.info(log, `scheduled check ${item.id} passed: ${result.summary}`);
    else logger.warn(log, `scheduled check ${item.id} ${result.state}: ${result.summary}`);
    if (ours && failing !== before) {
      await this.options
        .notify?.({
          unit,
          item,
          run: finished,
          state: failing ? 'failed' : 'recovered',
          summary: result.summary,
        })
        .catch((err: unknown) =>
          logger.error({ err, item: item.id }, 'queueing a maintenance notice failed'),
        );
    }
    await store.maintenance
      .prune(unit, item.id, this.options.keepRuns ?? DEFAULT_KEEP_RUNS)
      .catch((err: unknown) => logger.warn({ err, item: item.id }, 'pruning scheduled runs failed'));
    return finished;
  }

  /** Runs the item's check kind; a crash or bad params is an `error`, never an exception. */
  private async check(item: ScheduledItem, signal: AbortSignal): Promise<Omit<MaintenanceResult, 'failing'>> {
    const kind = this.options.kinds.get(item.kind);
    if (!kind) {
      return {
        state: 'error',
        summary: `no check kind "${item.kind}" in this version of shipcheck`,
        evidence: {},
      };
    }
    const params = kind.params.safeParse(item.params);
    if (!params.success) {
      return {
        state: 'error',
        summary: `bad params: ${params.error.issues[0]?.message ?? 'invalid'}`,
        evidence: {},
      };
    }
    try {
      const service = await this.options.store.getService(this.options.unit);
      const version = service?.stableVersion ?? '';
      const result = await kind.run(params.data, { ...this.options.context(version), signal });
      return {
        state: result.ok ? 'passed' : result.inconclusive ? 'inconclusive' : 'failed',
        summary: result.summary,
        evidence: evidenceOf(result),
      };
    } catch (err) {
      this.options.logger.error({ err, item: item.id }, 'scheduled check crashed');
      return {
        state: 'error',
        summary: `${item.kind} check crashed: ${(err as Error).message}`,
        evidence: {},
      };
    }
  }
}

/** What the store keeps of a schedule, so a changed one is noticed: `<cron> <zone>`. */
export function scheduleKey(item: Pick<ScheduledItem, 'schedule' | 'timezone'>): string {
  return `${item.schedule ?? 'off'} ${item.timezone}`;
}

/** A check's evidence, cut to size. */
function evidenceOf(result: CheckResult): MaintenanceEvidence {
  const evidence: MaintenanceEvidence = {};
  if (result.output !== undefined) evidence.output = keepTail(result.output, MAX_OUTPUT_CHARS);
  if (result.value !== undefined) evidence.value = result.value;
  if (result.data !== undefined) {
    const text = JSON.stringify(result.data);
    evidence.data =
      text.length <= MAX_DATA_CHARS ? result.data : { cut: true, preview: text.slice(0, MAX_DATA_CHARS) };
  }
  return evidence;
}
