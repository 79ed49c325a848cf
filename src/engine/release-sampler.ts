/**
 * Release samples: while a release is active, the replica that drives its unit stores the stable and
 * canary figures every {@link SAMPLE_INTERVAL_MS}, and once more when the release ends, for the
 * release page's charts (docs/decisions/014). A pass of the reconcile loop only compares the clock;
 * the metric reads and the write run beside the loop, one sample at a time.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { MetricSource } from '../providers/metrics/types.js';
import type { ReleaseRow, ReleaseSampleRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { readFigures } from './views.js';

/** Time between two samples of an active release; each covers the interval before it. */
export const SAMPLE_INTERVAL_MS = 2000;

/** The versions a sample of one release reads: the one it replaces and the one it brings. */
interface Sampled {
  release: ReleaseRow;
  stable: string | null;
  canary: string | null;
}

/** What a ReleaseSampler needs. */
export interface ReleaseSamplerOptions {
  store: Store;
  metrics: MetricSource;
  clock: Clock;
  logger: Logger;
  /** Emits `sample` with each ReleaseSampleRow stored, for this replica's event stream. */
  events: EventEmitter;
}

/** Takes the samples of one unit's releases; the engine calls {@link ReleaseSampler.observe} each pass. */
export class ReleaseSampler {
  /** The release sampled last, until its final sample is taken. */
  private current: Sampled | undefined;
  private nextAt = 0;
  /** The sample being taken; another periodic one waits for the next interval instead of queueing. */
  private taking: Promise<void> | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: ReleaseSamplerOptions) {}

  /**
   * Sees the unit's active release after a pass (undefined when none is). Samples it when an interval
   * has passed since the last sample, and takes the final sample of a release that is no longer the
   * active one. Never waits for the sample and never throws.
   */
  observe(release: ReleaseRow | undefined, stableVersion: string | null): void {
    const now = this.options.clock.now();
    const current = this.current;
    if (current && current.release.id === release?.id && now < this.nextAt) return;
    if (current && current.release.id !== release?.id) {
      // The release ended (or another took its place): its last interval is sampled once more.
      this.current = undefined;
      void this.take(current, now, true);
    }
    if (!release || release.phase === 'completed') return;
    const stable = release.fromVersion ?? stableVersion;
    this.current = { release, stable, canary: release.version !== stable ? release.version : null };
    this.nextAt = now + SAMPLE_INTERVAL_MS;
    void this.take(this.current, now, false);
  }

  /**
   * Forgets the release being sampled without a final sample: this replica stopped driving the unit,
   * and the one that drives it now samples it.
   */
  clear(): void {
    this.current = undefined;
    this.nextAt = 0;
  }

  /** Waits for the samples being taken. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** Reads and stores one sample; a periodic one is skipped while another is still being taken. */
  private take(sampled: Sampled, at: number, final: boolean): Promise<void> {
    if (!final && this.taking) return this.taking;
    const run = this.queue.then(() => this.record(sampled, at));
    this.queue = run;
    if (!final) {
      this.taking = run;
      void run.finally(() => {
        if (this.taking === run) this.taking = undefined;
      });
    }
    return run;
  }

  private async record({ release, stable, canary }: Sampled, at: number): Promise<void> {
    const { store, metrics, logger, events } = this.options;
    try {
      // A source that cannot be read leaves that side null; the sample is still kept, a gap in the chart.
      const [stableFigures, canaryFigures] = await Promise.all([
        stable === null ? undefined : readFigures(metrics, stable, SAMPLE_INTERVAL_MS),
        canary === null ? undefined : readFigures(metrics, canary, SAMPLE_INTERVAL_MS),
      ]);
      const sample: ReleaseSampleRow = await store.addSample({
        releaseId: release.id,
        service: release.service,
        at,
        stable: stableFigures ?? null,
        canary: canaryFigures ?? null,
      });
      events.emit('sample', sample);
    } catch (err) {
      // A lost sample is a gap in a chart, never a reason to stop the reconcile loop.
      logger.debug({ err, releaseId: release.id }, 'release sample not stored');
    }
  }
}
