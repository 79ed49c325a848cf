import { DDSketch } from '@datadog/sketches-js';
import { systemClock, type Clock } from '../../../util/clock.js';
import type { WindowStats } from '../types.js';

const MS_PER_SECOND = 1000;
const DEFAULT_RETENTION_SECONDS = 3600;
/** 1% relative error keeps a latency quantile within a hair of the truth at a few KB per sketch. */
const SKETCH_RELATIVE_ACCURACY = 0.01;
/** A cap on versions kept, so a burst of short-lived versions cannot grow memory without bound. */
const MAX_VERSIONS = 16;
/** Status classes in bucket order; a status outside 1xx-5xx is clamped to the nearest class. */
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const CLASS_COUNT = STATUS_CLASSES.length;
const SERVER_ERROR_CLASS = STATUS_CLASSES.indexOf('5xx');
const STATUS_PER_CLASS = 100;
const EMPTY_SLOT = -1;

/** The ring of one-second buckets of one version, laid out in flat arrays to keep `record` cheap. */
class VersionSeries {
  /** The epoch second each slot holds, or EMPTY_SLOT. */
  readonly seconds: Float64Array;
  /** Counts by status class, CLASS_COUNT per slot. */
  readonly counts: Uint32Array;
  /** Latency sketch per slot, allocated only for a second that saw traffic. */
  readonly sketches: (DDSketch | undefined)[];
  /** The latest second with traffic; drives forgetting and LRU eviction. */
  lastSecond: number;

  constructor(slots: number, second: number) {
    this.seconds = new Float64Array(slots).fill(EMPTY_SLOT);
    this.counts = new Uint32Array(slots * CLASS_COUNT);
    this.sketches = new Array<DDSketch | undefined>(slots).fill(undefined);
    this.lastSecond = second;
  }
}

/** Per-version request counts and latency sketches in one-second buckets over a bounded retention. */
export class RequestMetrics {
  private readonly clock: Clock;
  private readonly retentionSeconds: number;
  /** One more slot than retention so a window of exactly `retention` still has its oldest second. */
  private readonly slots: number;
  private readonly series = new Map<string, VersionSeries>();

  constructor(options: { clock?: Clock; retentionSeconds?: number } = {}) {
    this.clock = options.clock ?? systemClock;
    this.retentionSeconds = Math.max(1, Math.ceil(options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS));
    this.slots = this.retentionSeconds + 1;
  }

  /** Counts one completed request of `version`; a proxy-side failure is recorded as status 502. */
  record(version: string, status: number, latencyMs: number): void {
    let second = Math.floor(this.clock.now() / MS_PER_SECOND);
    let series = this.series.get(version);
    if (series === undefined) series = this.addVersion(version, second);
    // A clock that steps back must not wipe newer buckets: count the sample in the latest second.
    if (second < series.lastSecond) second = series.lastSecond;
    else series.lastSecond = second;

    const slot = second % this.slots;
    if (series.seconds[slot] !== second) {
      // The slot still holds a second from one lap ago: reuse it for this second.
      series.seconds[slot] = second;
      series.counts.fill(0, slot * CLASS_COUNT, (slot + 1) * CLASS_COUNT);
      series.sketches[slot] = undefined;
    }

    let statusClass = Math.floor(status / STATUS_PER_CLASS) - 1;
    if (statusClass < 0) statusClass = 0;
    else if (statusClass >= CLASS_COUNT) statusClass = CLASS_COUNT - 1;
    series.counts[slot * CLASS_COUNT + statusClass]! += 1;

    let sketch = series.sketches[slot];
    if (sketch === undefined) {
      sketch = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
      series.sketches[slot] = sketch;
    }
    sketch.accept(latencyMs > 0 ? latencyMs : 0);
  }

  /**
   * Stats of `version` over the whole one-second buckets inside `[now - windowMs, now]`, the current
   * partial second included; a window longer than retention is cut to retention.
   */
  window(version: string, windowMs: number): WindowStats {
    const now = this.clock.now();
    const nowSecond = Math.floor(now / MS_PER_SECOND);
    this.forgetIdle(nowSecond);
    const series = this.series.get(version);
    const firstSecond = Math.max(
      Math.ceil((now - windowMs) / MS_PER_SECOND),
      nowSecond - this.retentionSeconds,
      0,
    );
    const byClass: Record<string, number> = {};
    for (const name of STATUS_CLASSES) byClass[name] = 0;
    if (series === undefined || windowMs <= 0) return emptyStats(byClass);

    const classTotals = new Array<number>(CLASS_COUNT).fill(0);
    const merged = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (let second = firstSecond; second <= nowSecond; second++) {
      const slot = second % this.slots;
      if (series.seconds[slot] !== second) continue;
      for (let c = 0; c < CLASS_COUNT; c++) classTotals[c]! += series.counts[slot * CLASS_COUNT + c]!;
      const sketch = series.sketches[slot];
      if (sketch !== undefined) merged.merge(sketch);
    }

    let requests = 0;
    for (let c = 0; c < CLASS_COUNT; c++) {
      requests += classTotals[c]!;
      byClass[STATUS_CLASSES[c]!] = classTotals[c]!;
    }
    if (requests === 0) return emptyStats(byClass);
    const spanMs = now - firstSecond * MS_PER_SECOND;
    return {
      requests,
      errors: classTotals[SERVER_ERROR_CLASS]!,
      byClass,
      p50: merged.getValueAtQuantile(0.5),
      p90: merged.getValueAtQuantile(0.9),
      p99: merged.getValueAtQuantile(0.99),
      rps: spanMs > 0 ? requests / (spanMs / MS_PER_SECOND) : 0,
    };
  }

  /** Versions that had traffic within retention, at most MAX_VERSIONS of them. */
  versions(): string[] {
    this.forgetIdle(Math.floor(this.clock.now() / MS_PER_SECOND));
    return [...this.series.keys()];
  }

  private addVersion(version: string, second: number): VersionSeries {
    this.forgetIdle(second);
    if (this.series.size >= MAX_VERSIONS) {
      let oldest: string | undefined;
      let oldestSecond = Infinity;
      for (const [name, candidate] of this.series) {
        if (candidate.lastSecond < oldestSecond) {
          oldest = name;
          oldestSecond = candidate.lastSecond;
        }
      }
      if (oldest !== undefined) this.series.delete(oldest);
    }
    const series = new VersionSeries(this.slots, second);
    this.series.set(version, series);
    return series;
  }

  private forgetIdle(nowSecond: number): void {
    for (const [name, series] of this.series) {
      if (nowSecond - series.lastSecond > this.retentionSeconds) this.series.delete(name);
    }
  }
}

function emptyStats(byClass: Record<string, number>): WindowStats {
  return { requests: 0, errors: 0, byClass, p50: undefined, p90: undefined, p99: undefined, rps: 0 };
}
