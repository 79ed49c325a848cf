import { DDSketch } from '@datadog/sketches-js';
import { systemClock, type Clock } from '../../../util/clock.js';
import type { WindowStats } from '../types.js';

const MS_PER_SECOND = 1000;
const SECONDS_PER_MINUTE = 60;
const DEFAULT_RETENTION_SECONDS = 3600;
/**
 * The newest seconds are kept one by one; older ones only as whole minutes. Ten minutes covers the
 * windows triggers and checks read in practice; a longer window reads its older part by the minute.
 */
const FINE_SECONDS = 600;
/** 1% relative error keeps a latency quantile within a hair of the truth at a few KB per sketch. */
const SKETCH_RELATIVE_ACCURACY = 0.01;
/** A bucket keeps up to this many latencies as they are; past it, they go into a sketch (~2 KB). */
const RAW_LATENCIES = 32;
/** A cap on versions kept, so a burst of short-lived versions cannot grow memory without bound. */
const MAX_VERSIONS = 16;
/** Status classes in bucket order; a status outside 1xx-5xx is clamped to the nearest class. */
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const CLASS_COUNT = STATUS_CLASSES.length;
const SERVER_ERROR_CLASS = STATUS_CLASSES.indexOf('5xx');
const STATUS_PER_CLASS = 100;
const EMPTY_SLOT = -1;

/**
 * The latencies of one bucket: the values themselves while there are few (a quiet service's second
 * holds one or two), a sketch once there are many. Memory follows traffic instead of time.
 */
type Latencies = number[] | DDSketch;

function accept(latencies: Latencies | undefined, value: number): Latencies {
  if (latencies === undefined) return [value];
  if (Array.isArray(latencies)) {
    if (latencies.length < RAW_LATENCIES) {
      latencies.push(value);
      return latencies;
    }
    const sketch = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (const kept of latencies) sketch.accept(kept);
    sketch.accept(value);
    return sketch;
  }
  latencies.accept(value);
  return latencies;
}

/** Adds `value` `weight` times; a weight above one goes straight into a sketch. */
function acceptWeighted(latencies: Latencies | undefined, value: number, weight: number): Latencies {
  if (weight === 1) return accept(latencies, value);
  let sketch: DDSketch;
  if (latencies === undefined || Array.isArray(latencies)) {
    sketch = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (const kept of latencies ?? []) sketch.accept(kept);
  } else {
    sketch = latencies;
  }
  sketch.accept(value, weight);
  return sketch;
}

/** A bucket's latencies as `[value, weight]` pairs: the values themselves, or a sketch's bins. */
function latencyPairs(latencies: Latencies | undefined): [number, number][] {
  if (latencies === undefined) return [];
  if (Array.isArray(latencies)) return latencies.map((value) => [value, 1]);
  const pairs: [number, number][] = [];
  if (latencies.zeroCount > 0) pairs.push([0, latencies.zeroCount]);
  const { store, mapping } = latencies;
  for (let key = store.minKey; key <= store.maxKey; key++) {
    const weight = store.bins[key - store.offset] ?? 0;
    // A bin's representative value maps back to the same bin, so a sketch rebuilt from pairs is the same.
    if (weight > 0) pairs.push([mapping.value(key), weight]);
  }
  return pairs;
}

function mergeInto(merged: DDSketch, latencies: Latencies | undefined): void {
  if (latencies === undefined) return;
  if (Array.isArray(latencies)) for (const value of latencies) merged.accept(value);
  else merged.merge(latencies);
}

/** A ring of buckets (of one second or one minute), laid out in flat arrays to keep `record` cheap. */
class Ring {
  /** The bucket number (epoch second or minute) each slot holds, or EMPTY_SLOT. */
  readonly buckets: Float64Array;
  /** Counts by status class, CLASS_COUNT per slot. */
  readonly counts: Uint32Array;
  /** Latencies per slot, kept only for a bucket that saw traffic. */
  readonly latencies: (Latencies | undefined)[];

  constructor(readonly slots: number) {
    this.buckets = new Float64Array(slots).fill(EMPTY_SLOT);
    this.counts = new Uint32Array(slots * CLASS_COUNT);
    this.latencies = new Array<Latencies | undefined>(slots).fill(undefined);
  }

  record(bucket: number, statusClass: number, latencyMs: number): void {
    const slot = bucket % this.slots;
    if (this.buckets[slot] !== bucket) {
      // The slot still holds a bucket from one lap ago: reuse it for this one.
      this.buckets[slot] = bucket;
      this.counts.fill(0, slot * CLASS_COUNT, (slot + 1) * CLASS_COUNT);
      this.latencies[slot] = undefined;
    }
    this.counts[slot * CLASS_COUNT + statusClass]! += 1;
    this.latencies[slot] = accept(this.latencies[slot], latencyMs);
  }

  /** Replaces the bucket's slot with `counts` and `pairs` (from another ring's `read`). */
  put(bucket: number, counts: readonly number[], pairs: readonly (readonly [number, number])[]): void {
    const slot = bucket % this.slots;
    this.buckets[slot] = bucket;
    this.counts.fill(0, slot * CLASS_COUNT, (slot + 1) * CLASS_COUNT);
    this.latencies[slot] = undefined;
    this.add(bucket, counts, pairs);
  }

  /** Adds `counts` and `pairs` to the bucket, starting it afresh when its slot held an older one. */
  add(bucket: number, counts: readonly number[], pairs: readonly (readonly [number, number])[]): void {
    const slot = bucket % this.slots;
    if (this.buckets[slot] !== bucket) {
      this.buckets[slot] = bucket;
      this.counts.fill(0, slot * CLASS_COUNT, (slot + 1) * CLASS_COUNT);
      this.latencies[slot] = undefined;
    }
    for (let c = 0; c < CLASS_COUNT; c++) this.counts[slot * CLASS_COUNT + c]! += counts[c] ?? 0;
    for (const [value, weight] of pairs) {
      if (weight > 0) this.latencies[slot] = acceptWeighted(this.latencies[slot], value, weight);
    }
  }

  /** The bucket's counts and latency pairs, or undefined when the ring no longer holds it. */
  read(bucket: number): { counts: number[]; latencies: [number, number][] } | undefined {
    const slot = bucket % this.slots;
    if (this.buckets[slot] !== bucket) return undefined;
    const counts = Array.from(this.counts.subarray(slot * CLASS_COUNT, (slot + 1) * CLASS_COUNT));
    return { counts, latencies: latencyPairs(this.latencies[slot]) };
  }

  /** Adds buckets `first..last` (those the ring still holds) to the totals and the sketch. */
  addTo(first: number, last: number, classTotals: number[], merged: DDSketch): void {
    for (let bucket = first; bucket <= last; bucket++) {
      const slot = bucket % this.slots;
      if (this.buckets[slot] !== bucket) continue;
      for (let c = 0; c < CLASS_COUNT; c++) classTotals[c]! += this.counts[slot * CLASS_COUNT + c]!;
      mergeInto(merged, this.latencies[slot]);
    }
  }
}

/** One version's requests: by the second for the newest ones, by the minute over all of retention. */
class VersionSeries {
  readonly seconds: Ring;
  readonly minutes: Ring;
  /** The latest second with traffic; drives forgetting and LRU eviction. */
  lastSecond: number;

  constructor(fineSlots: number, minuteSlots: number, second: number) {
    this.seconds = new Ring(fineSlots);
    this.minutes = new Ring(minuteSlots);
    this.lastSecond = second;
  }
}

/**
 * One second of one version's requests, as `secondsSince` gives it and `importSecond` takes it: how the
 * built-in proxy's process hands what it recorded to the control plane.
 */
export interface SecondBucket {
  version: string;
  /** Epoch second. */
  second: number;
  /** Requests by status class, 1xx to 5xx. */
  counts: number[];
  /** Latencies in milliseconds as `[value, weight]` pairs. */
  latencies: [number, number][];
  /** Requests forced to the version, which analysis never reads; absent for the others. */
  forced?: boolean;
}

/**
 * Per-version request counts and latencies over a bounded retention: the last ten minutes in
 * one-second buckets, all of retention in one-minute buckets. Each request is recorded in both.
 * Requests sent to a version on purpose (forced with the version header) are kept in series of
 * their own: `window()`, which analysis reads, never sees them; `forcedWindow()` does.
 */
export class RequestMetrics {
  private readonly clock: Clock;
  private readonly retentionSeconds: number;
  /** Seconds kept one by one: ten minutes, or all of retention when it is shorter. */
  private readonly fineSeconds: number;
  private readonly series = new Map<string, VersionSeries>();
  private readonly forced = new Map<string, VersionSeries>();

  constructor(options: { clock?: Clock; retentionSeconds?: number } = {}) {
    this.clock = options.clock ?? systemClock;
    this.retentionSeconds = Math.max(1, Math.ceil(options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS));
    this.fineSeconds = Math.min(FINE_SECONDS, this.retentionSeconds);
  }

  /**
   * Counts one completed request of `version`; a proxy-side failure is recorded as status 502.
   * `forced` requests were sent to the version on purpose and go to the series apart.
   */
  record(version: string, status: number, latencyMs: number, forced = false): void {
    const map = forced ? this.forced : this.series;
    let second = Math.floor(this.clock.now() / MS_PER_SECOND);
    let series = map.get(version);
    if (series === undefined) series = this.addVersion(map, version, second);
    // A clock that steps back must not wipe newer buckets: count the sample in the latest second.
    if (second < series.lastSecond) second = series.lastSecond;
    else series.lastSecond = second;

    let statusClass = Math.floor(status / STATUS_PER_CLASS) - 1;
    if (statusClass < 0) statusClass = 0;
    else if (statusClass >= CLASS_COUNT) statusClass = CLASS_COUNT - 1;
    const latency = latencyMs > 0 ? latencyMs : 0;
    series.seconds.record(second, statusClass, latency);
    if (this.fineSeconds < this.retentionSeconds)
      series.minutes.record(Math.floor(second / SECONDS_PER_MINUTE), statusClass, latency);
  }

  /**
   * Stats of `version` over the whole one-second buckets inside `[now - windowMs, now]`, the current
   * partial second included; a window longer than retention is cut to retention. The part of a window
   * older than ten minutes is read by the minute: whole minutes inside it count, a partial one does not.
   */
  window(version: string, windowMs: number): WindowStats {
    return this.read(this.series, version, windowMs);
  }

  /** Like window(), over the forced requests of `version` only: those kept out of analysis. */
  forcedWindow(version: string, windowMs: number): WindowStats {
    return this.read(this.forced, version, windowMs);
  }

  /** Versions that had traffic within retention, at most MAX_VERSIONS of them; forced requests aside. */
  versions(): string[] {
    this.forgetIdle(this.series, Math.floor(this.clock.now() / MS_PER_SECOND));
    return [...this.series.keys()];
  }

  private read(map: Map<string, VersionSeries>, version: string, windowMs: number): WindowStats {
    const now = this.clock.now();
    const nowSecond = Math.floor(now / MS_PER_SECOND);
    this.forgetIdle(map, nowSecond);
    const series = map.get(version);
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
    const fineFirst = Math.max(firstSecond, nowSecond - this.fineSeconds);
    series.seconds.addTo(fineFirst, nowSecond, classTotals, merged);
    if (firstSecond < fineFirst) {
      const firstMinute = Math.ceil(firstSecond / SECONDS_PER_MINUTE);
      const lastMinute = Math.floor(fineFirst / SECONDS_PER_MINUTE) - 1;
      series.minutes.addTo(firstMinute, lastMinute, classTotals, merged);
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
      p95: merged.getValueAtQuantile(0.95),
      p99: merged.getValueAtQuantile(0.99),
      rps: spanMs > 0 ? requests / (spanMs / MS_PER_SECOND) : 0,
    };
  }

  /**
   * The one-second buckets with traffic from `sinceSecond` (at most ten minutes back) through the
   * current second, which is still under way, and that current second (`now`). A reader that asks again
   * from `now` gets every second once as finished, and the unfinished one again each time. Forced
   * requests' buckets come with `forced: true`.
   */
  secondsSince(sinceSecond: number): { now: number; buckets: SecondBucket[] } {
    const now = Math.floor(this.clock.now() / MS_PER_SECOND);
    const first = Math.max(sinceSecond, now - this.fineSeconds + 1);
    const buckets: SecondBucket[] = [];
    for (const [map, forced] of [
      [this.series, false],
      [this.forced, true],
    ] as const) {
      this.forgetIdle(map, now);
      for (const [version, series] of map) {
        for (let second = first; second <= Math.min(now, series.lastSecond); second++) {
          const bucket = series.seconds.read(second);
          if (bucket) buckets.push({ version, second, ...bucket, ...(forced ? { forced } : {}) });
        }
      }
    }
    return { now, buckets };
  }

  /**
   * Puts `bucket` (from another RequestMetrics' `secondsSince`) in place of this one's second. Only a
   * `finished` second is also added to the minute buckets, so a second read while under way and again
   * once over counts once.
   */
  importSecond(bucket: SecondBucket, finished: boolean): void {
    const map = bucket.forced === true ? this.forced : this.series;
    let series = map.get(bucket.version);
    if (series === undefined) series = this.addVersion(map, bucket.version, bucket.second);
    if (bucket.second > series.lastSecond) series.lastSecond = bucket.second;
    series.seconds.put(bucket.second, bucket.counts, bucket.latencies);
    if (finished && this.fineSeconds < this.retentionSeconds)
      series.minutes.add(Math.floor(bucket.second / SECONDS_PER_MINUTE), bucket.counts, bucket.latencies);
  }

  private addVersion(map: Map<string, VersionSeries>, version: string, second: number): VersionSeries {
    this.forgetIdle(map, second);
    if (map.size >= MAX_VERSIONS) {
      let oldest: string | undefined;
      let oldestSecond = Infinity;
      for (const [name, candidate] of map) {
        if (candidate.lastSecond < oldestSecond) {
          oldest = name;
          oldestSecond = candidate.lastSecond;
        }
      }
      if (oldest !== undefined) map.delete(oldest);
    }
    // One more slot than kept so a window of exactly that length still has its oldest bucket.
    const minuteSlots = Math.ceil(this.retentionSeconds / SECONDS_PER_MINUTE) + 2;
    const series = new VersionSeries(this.fineSeconds + 1, minuteSlots, second);
    map.set(version, series);
    return series;
  }

  private forgetIdle(map: Map<string, VersionSeries>, nowSecond: number): void {
    for (const [name, series] of map) {
      if (nowSecond - series.lastSecond > this.retentionSeconds) map.delete(name);
    }
  }
}

function emptyStats(byClass: Record<string, number>): WindowStats {
  return {
    requests: 0,
    errors: 0,
    byClass,
    p50: undefined,
    p90: undefined,
    p95: undefined,
    p99: undefined,
    rps: 0,
  };
}
