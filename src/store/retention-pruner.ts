/**
 * The background pruner `shipcheck up` runs when `store.retention` is on: a pass of
 * RetentionStore.prune shortly after start and then every interval, never two at once. It counts
 * what it removed in `shipcheck_store_pruned_rows_total` and logs one line per pass that removed
 * something. On PostgreSQL only one replica's pass runs at a time (the store's advisory lock).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../util/clock.js';
import { formatDuration } from '../util/duration.js';
import { PRUNED_TABLES, type PruneCounts, type RetentionPolicy } from './retention.js';
import type { Store } from './types.js';

/** The first pass waits this long after start (or the interval, when shorter), so it does not compete with starting the units. */
const FIRST_PASS_DELAY_MS = 60_000;
/** The pause after each delete statement: the reconcile loops and the API get the database in between. */
const PAUSE_MS = 50;

/** What a RetentionPruner needs. */
export interface RetentionPrunerOptions {
  store: Store;
  policy: RetentionPolicy;
  /** Time between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Rows one delete statement removes at most. */
  batchSize: number;
  /** The time retention periods count back from. */
  clock: Clock;
  logger: Logger;
  /** Where `shipcheck_store_pruned_rows_total` is registered. */
  registry: Registry;
  /** The pause after each statement; PAUSE_MS when omitted. */
  pauseMs?: number;
  /** The wait before the first pass; FIRST_PASS_DELAY_MS or the interval, the shorter, when omitted. */
  firstDelayMs?: number;
}

/** Prunes the store in the background, one pass at a time. */
export class RetentionPruner {
  private readonly pruned: Counter<'table'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneCounts | undefined> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: RetentionPrunerOptions) {
    this.pruned = new Counter({
      name: 'shipcheck_store_pruned_rows_total',
      help: 'Rows store retention removed, by table.',
      labelNames: ['table'],
      registers: [options.registry],
    });
    // Every table shows from the start, at 0, so a rate can be taken before the first prune.
    for (const table of PRUNED_TABLES) this.pruned.inc({ table }, 0);
  }

  /** Schedules the first pass; each later one follows the end of the last by the interval. */
  start(): void {
    const { firstDelayMs, intervalMs } = this.options;
    this.schedule(firstDelayMs ?? Math.min(FIRST_PASS_DELAY_MS, intervalMs));
  }

  /**
   * Runs one pass now. Resolves to the rows removed, or undefined when no pass ran: one is running
   * already, another replica's pass holds the store, or the pruner is stopped. A failed pass is
   * logged, not thrown.
   */
  async runOnce(): Promise<PruneCounts | undefined> {
    if (this.running || this.abort.signal.aborted) return undefined;
    this.running = this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops the schedule and ends a running pass at its next statement. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      void this.runOnce().finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<PruneCounts | undefined> {
    const { store, policy, batchSize, clock, logger } = this.options;
    const pauseMs = this.options.pauseMs ?? PAUSE_MS;
    const started = performance.now();
    try {
      const counts = await store.retention.prune(policy, {
        now: clock.now(),
        batchSize,
        pause: () => new Promise((resolve) => setTimeout(resolve, pauseMs)),
        signal: this.abort.signal,
      });
      if (!counts) return undefined;
      for (const table of PRUNED_TABLES) this.pruned.inc({ table }, counts[table]);
      const total = PRUNED_TABLES.reduce((sum, table) => sum + counts[table], 0);
      if (total > 0) {
        const took = formatDuration(performance.now() - started);
        logger.info({ pruned: counts }, `store retention: pruned ${describeCounts(counts)} in ${took}`);
      }
      return counts;
    } catch (err) {
      logger.warn(
        { err },
        `store retention: the pass failed (${(err as Error).message}); the next one tries again`,
      );
      return undefined;
    }
  }
}

/** `1,204 measurements, 3 releases with 412 events, ...`: the tables that lost rows, for the log. */
export function describeCounts(counts: PruneCounts): string {
  const words: Record<keyof PruneCounts, string> = {
    measurements: 'measurements',
    release_samples: 'release samples',
    events: 'events',
    checklist_items: 'checklist items',
    effects: 'effects',
    releases: 'releases',
    notifications: 'notifications',
    incident_updates: 'incident timeline entries',
    incidents: 'incidents',
  };
  return PRUNED_TABLES.filter((table) => counts[table] > 0)
    .map((table) => `${counts[table].toLocaleString('en-US')} ${words[table]}`)
    .join(', ');
}
