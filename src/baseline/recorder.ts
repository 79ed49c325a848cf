/**
 * Records each release's performance baseline (docs/baselines.md, docs/decisions/019). The window
 * opens when a deploy release takes all traffic (the start of `bakeTime`, or the verify gate of a
 * first release) and runs through bakeTime and the verify and post-deploy gates. It closes when the
 * release succeeds, or, when that came sooner than `baseline.minWindow`, once the version has served
 * alone that long; the next release's canary taking traffic closes it at once. A rolled-back release's baseline is
 * discarded. Like the release samples, the engine calls {@link BaselineRecorder.observe} after each
 * pass; the reads and writes run beside the loop and never throw into it.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { TERMINAL_STATES } from '../domain/release.js';
import type { Fleet } from '../providers/fleet/types.js';
import type { MetricSource } from '../providers/metrics/types.js';
import type { BaselineRow } from '../store/baseline-store.js';
import type { ChecklistItemRow, ReleaseRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { processGroupUsage } from '../util/process-usage.js';
import type { BaselineFigures, BaselineMetricGroup } from './compare.js';
import { judgeBaseline } from './judge.js';

/** How often the memory of the version's processes is read while a window is open. */
export const RSS_SAMPLE_MS = 2000;
/** Phases in which a release at 100% is in its baseline window. */
const WINDOW_PHASES: readonly ReleaseRow['phase'][] = ['verifying', 'verify', 'post-deploy'];
const MS_PER_SECOND = 1000;
const PER_1K = 1000;
const BYTES_PER_MB = 1024 * 1024;

/** Why CPU and memory are not recorded for a fleet whose processes are not this host's. */
export const REMOTE_FLEET_REASON = "the hooks fleet's processes are not on this host; no CPU or memory read";

/** What a BaselineRecorder needs. */
export interface BaselineRecorderOptions {
  store: Pick<Store, 'baselines' | 'getRelease' | 'listChecklist' | 'updateChecklistItem'>;
  metrics: MetricSource;
  fleet: Pick<Fleet, 'type' | 'instances'>;
  config: Config;
  clock: Clock;
  logger: Logger;
  /** The unit's name (`web`, `web@staging`). */
  unit: string;
  /** Told of each checklist item the recorder updates (the engine publishes it as an event). */
  onItem?: (release: ReleaseRow, item: ChecklistItemRow) => void;
  /** Reads process groups; /proc by default (tests may point at another folder, never mock it). */
  usage?: (pids: number[]) => Map<number, { cpuSeconds: number; rssBytes: number }>;
}

/** The window being recorded, in this process's memory. */
interface Open {
  release: ReleaseRow;
  startedAt: number;
  /** When this process began reading the window: later than `startedAt` after a restart. */
  readFrom: number;
  restarted: boolean;
  cpuStart: Record<string, number>;
  rssSamples: number[];
  nextRssAt: number;
  /** Set once the release succeeded: the window closes at max(success, startedAt + minWindow). */
  succeededAt?: number;
}

/** Records the baselines of one unit's releases. */
export class BaselineRecorder {
  private open: Open | undefined;
  private resumed = false;
  /** The active release the last pass saw, to catch one that succeeded within a single pass. */
  private lastSeen: ReleaseRow | undefined;
  private queue: Promise<void> = Promise.resolve();
  private busy = false;

  constructor(private readonly options: BaselineRecorderOptions) {}

  /** The unit's `baseline` settings: tolerances and noise rules. */
  get settings(): Config['baseline'] {
    return this.options.config.baseline;
  }

  /**
   * Sees the unit's active release after a pass (undefined when none is). Never waits and never
   * throws; one piece of work at a time, a pass that finds one running skips.
   */
  observe(release: ReleaseRow | undefined): void {
    if (this.busy) return;
    this.busy = true;
    const run = this.queue
      .then(() => this.step(release))
      .catch((err: unknown) => this.options.logger.warn({ err }, 'baseline not recorded'))
      .finally(() => (this.busy = false));
    this.queue = run;
  }

  /** Forgets the open window: this replica stopped driving the unit (the next holder resumes it as restarted). */
  clear(): void {
    this.open = undefined;
    this.resumed = false;
  }

  /** Waits for the work in progress. */
  async idle(): Promise<void> {
    await this.queue;
  }

  private async step(release: ReleaseRow | undefined): Promise<void> {
    const now = this.options.clock.now();
    if (!this.resumed) {
      this.resumed = true;
      await this.resume(now);
    }
    const seen = this.lastSeen;
    this.lastSeen = release;
    const open = this.open;
    if (open) {
      const other = release !== undefined && release.id !== open.release.id ? release : undefined;
      // A next release in its gates leaves the version alone at 100%; its canary's traffic ends the window.
      if (other && other.weight > 0)
        return this.close(open, now, `release #${other.id} (${other.version}) took traffic`);
      const mine = other ? undefined : release;
      if (open.succeededAt !== undefined) {
        // Succeeded: measured at 100% until the window is long enough.
      } else if (!mine || mine.phase === 'completed') {
        const ended = mine ?? (await this.options.store.getRelease(open.release.id));
        if (!ended || ended.state !== 'succeeded') return this.discard(open, now, ended);
        open.succeededAt = ended.endedAt ?? now;
      } else if (mine.weight < 100 || !WINDOW_PHASES.includes(mine.phase)) {
        return this.discard(open, now, mine);
      }
      const minWindow = this.options.config.baseline.minWindow;
      if (open.succeededAt !== undefined && now >= Math.max(open.succeededAt, open.startedAt + minWindow))
        return this.close(open, now, undefined);
      if (now >= open.nextRssAt) this.sampleRss(open, now);
      return;
    }
    if (seen && seen.id !== release?.id && seen.kind === 'deploy' && !(release && release.weight > 0)) {
      // A release whose gates all passed within one pass succeeded before a pass saw it at 100%:
      // its version is measured now, alone at 100% after its success, for `minWindow`.
      const ended = await this.options.store.getRelease(seen.id);
      if (ended?.state === 'succeeded' && !(await this.options.store.baselines.get(seen.id))) {
        await this.begin(ended, now);
        if (this.open) this.open.succeededAt = now;
        return;
      }
    }
    if (!release || release.kind !== 'deploy' || release.weight < 100) return;
    if (!WINDOW_PHASES.includes(release.phase) || release.state === 'paused') return;
    await this.begin(release, now);
  }

  /** Opens `release`'s window now, or carries on the one a previous process opened. */
  private async begin(release: ReleaseRow, now: number): Promise<void> {
    const cpuStart = this.readCpu(release.version);
    const row = await this.options.store.baselines.open(
      {
        releaseId: release.id,
        service: this.options.unit,
        version: release.version,
        startedAt: now,
        resourcesStart: cpuStart ?? {},
      },
      now,
    );
    if (row.state !== 'recording') return; // finished before (this replica restarted after closing it)
    this.open = this.fromRow(release, row, now, row.startedAt !== now);
    this.sampleRss(this.open, now);
  }

  /** After a start: a window left open by the last process is carried on, marked restarted. */
  private async resume(now: number): Promise<void> {
    const [latest] = await this.options.store.baselines.list(this.options.unit, 1);
    if (!latest || latest.state !== 'recording') return;
    const release = await this.options.store.getRelease(latest.releaseId);
    if (!release) return;
    this.open = this.fromRow(release, latest, now, true);
  }

  private fromRow(release: ReleaseRow, row: BaselineRow, now: number, restarted: boolean): Open {
    return {
      release,
      startedAt: row.startedAt,
      readFrom: restarted ? now : row.startedAt,
      restarted,
      cpuStart: row.resourcesStart,
      rssSamples: [],
      nextRssAt: now,
    };
  }

  private pids(version: string): number[] {
    return this.options.fleet
      .instances(version)
      .map((i) => i.pid)
      .filter((pid): pid is number => pid !== undefined);
  }

  private usage(pids: number[]): Map<number, { cpuSeconds: number; rssBytes: number }> {
    return (this.options.usage ?? processGroupUsage)(pids);
  }

  /** CPU seconds of each instance's process group now, by pid; undefined for a remote fleet. */
  private readCpu(version: string): Record<string, number> | undefined {
    if (this.options.fleet.type !== 'local') return undefined;
    const readings: Record<string, number> = {};
    for (const [pid, usage] of this.usage(this.pids(version))) readings[String(pid)] = usage.cpuSeconds;
    return readings;
  }

  private sampleRss(open: Open, now: number): void {
    open.nextRssAt = now + RSS_SAMPLE_MS;
    if (this.options.fleet.type !== 'local') return;
    const usage = this.usage(this.pids(open.release.version));
    if (usage.size === 0) return;
    let total = 0;
    for (const reading of usage.values()) total += reading.rssBytes;
    open.rssSamples.push(total);
  }

  private async discard(open: Open, now: number, release: ReleaseRow | undefined): Promise<void> {
    this.open = undefined;
    const why = release
      ? `release #${release.id} ${TERMINAL_STATES.includes(release.state) ? release.state.replace('_', ' ') : release.phase.replace('-', ' ')} before its window closed`
      : 'the release is gone';
    await this.options.store.baselines.finish(
      open.release.id,
      { state: 'discarded', endedAt: now, figures: null, reason: why },
      now,
    );
  }

  /** Reads the window's figures and stores them; `cut` says why it closed early. */
  private async close(open: Open, now: number, cut: string | undefined): Promise<void> {
    this.open = undefined;
    const { store, metrics, logger } = this.options;
    const version = open.release.version;
    const windowMs = Math.max(1, now - open.readFrom);
    if (now >= open.nextRssAt || open.rssSamples.length === 0) this.sampleRss(open, now);
    let stats;
    try {
      stats = await metrics.window(version, windowMs);
    } catch (err) {
      logger.warn({ err, releaseId: open.release.id }, 'baseline window unreadable');
      const reason = `the metric source could not be read: ${(err as Error).message}`;
      await store.baselines.finish(
        open.release.id,
        { state: 'discarded', endedAt: now, figures: null, reason },
        now,
      );
      return;
    }
    const requests = stats.requests;
    const figures: BaselineFigures = {
      requests,
      windowMs,
      instances: null,
      p50: stats.p50 ?? null,
      p95: stats.p95 ?? null,
      p99: stats.p99 ?? null,
      rps: requests > 0 || windowMs > 0 ? requests / (windowMs / MS_PER_SECOND) : null,
      errorRate: requests > 0 ? stats.errors / requests : null,
      cpuPer1k: null,
      rssBytes: null,
      rssPer1k: null,
      resourcesReason: null,
    };
    this.resources(open, figures, now);
    const reasons = [
      open.restarted
        ? `the control plane restarted during the window: the figures cover the last ${Math.round(windowMs / MS_PER_SECOND)}s of ${Math.round((now - open.startedAt) / MS_PER_SECOND)}s`
        : undefined,
      cut ? `the window closed early: ${cut}` : undefined,
    ].filter((r): r is string => r !== undefined);
    const state = open.restarted ? 'restarted' : 'complete';
    const closed = await store.baselines.finish(
      open.release.id,
      { state, endedAt: now, figures, reason: reasons.length > 0 ? reasons.join('; ') : null },
      now,
    );
    if (closed) await this.updateItems(open.release);
  }

  /** CPU seconds and RSS per 1,000 requests of the version's process groups, or why not. */
  private resources(open: Open, figures: BaselineFigures, now: number): void {
    if (this.options.fleet.type !== 'local') {
      figures.resourcesReason = REMOTE_FLEET_REASON;
      return;
    }
    const pids = this.pids(open.release.version);
    const usage = this.usage(pids);
    figures.instances = usage.size;
    if (open.rssSamples.length > 0) {
      const average = open.rssSamples.reduce((a, b) => a + b, 0) / open.rssSamples.length;
      figures.rssBytes = Math.round(average);
      if (figures.requests > 0) {
        const seconds = (now - open.readFrom) / MS_PER_SECOND;
        figures.rssPer1k = ((average / BYTES_PER_MB) * seconds) / (figures.requests / PER_1K);
      }
    }
    if (open.restarted) {
      figures.resourcesReason =
        'the control plane restarted during the window: the requests before it are not known';
      return;
    }
    const started = Object.keys(open.cpuStart);
    const same = started.length === usage.size && started.every((pid) => usage.has(Number(pid)));
    if (!same) {
      figures.resourcesReason = 'instances were replaced during the window';
      return;
    }
    if (figures.requests === 0) {
      figures.resourcesReason = 'no requests in the window';
      return;
    }
    let cpu = 0;
    for (const [pid, reading] of usage) cpu += reading.cpuSeconds - (open.cpuStart[String(pid)] ?? 0);
    figures.cpuPer1k = cpu / (figures.requests / PER_1K);
  }

  /**
   * Runs the release's `baseline` items now that its baseline is stored, so a regression shows on the
   * release whose baseline regressed; other items are left to the checklist runner and the scheduler.
   */
  private async updateItems(release: ReleaseRow): Promise<void> {
    const { store, clock, config, onItem } = this.options;
    const items = (await store.listChecklist(release.id)).filter((i) => i.kind === 'baseline' && i.automated);
    if (items.length === 0) return;
    const baseline = await store.baselines.get(release.id);
    for (const item of items) {
      const metric = (item.params as { metric?: BaselineMetricGroup }).metric ?? 'latency';
      const result = await judgeBaseline(store.baselines, baseline, metric, config.baseline);
      const at = clock.now();
      const state = result.ok ? 'passed' : result.inconclusive ? 'inconclusive' : 'failed';
      const evidence = {
        at,
        summary: result.summary,
        by: 'shipcheck',
        ...(result.output !== undefined ? { output: result.output } : {}),
        ...(result.value !== undefined ? { value: result.value } : {}),
        ...(result.data !== undefined ? { data: result.data } : {}),
      };
      const updated = await store.updateChecklistItem(release.id, item.id, { state, evidence }, at);
      onItem?.(release, updated);
    }
  }
}
