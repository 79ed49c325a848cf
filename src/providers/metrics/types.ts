/** Counts and latency quantiles for one version over a window. */
export interface WindowStats {
  /** Requests that completed in the window. */
  requests: number;
  /** Requests answered 5xx, or that failed at the proxy (counted as 502). */
  errors: number;
  /** Requests by status class: `2xx`, `3xx`, `4xx`, `5xx` (and `1xx`). */
  byClass: Record<string, number>;
  /** Latency quantiles in milliseconds; undefined with no requests. */
  p50: number | undefined;
  p90: number | undefined;
  /** p95 in milliseconds (undefined with no requests); baselines record it. */
  p95: number | undefined;
  p99: number | undefined;
  /** Requests per second over the window. */
  rps: number;
}

/**
 * Reads per-version request metrics. Every implementation passes the contract suite in
 * `metric-source.case.ts`, fed the same real traffic: the promises below are what it checks.
 */
export interface MetricSource {
  /** Stable id used in config and logs, e.g. 'builtin'. */
  readonly type: string;
  /**
   * Stats for `version` over `[now - windowMs, now)`.
   * - The same traffic reads the same on every source: the error rate (`errors / requests`) within one
   *   percentage point, and the p99 within 10% of what the requests took (a sketch's 1% error, nginx's
   *   millisecond times, Prometheus's interpolation inside a histogram bucket). `requests` counts the
   *   traffic; Prometheus extrapolates it to the window's edges, so it may read a little more.
   * - No data is no data: for a version with no request in the window (never served, or idle) it
   *   resolves `requests: 0, errors: 0, rps: 0` with every quantile undefined, never a latency or rate
   *   that could pass a trigger; analysis reads that as inconclusive.
   * - A source that cannot reach its data (Prometheus down, the access log unreadable) throws
   *   ProviderError; analysis turns that into an inconclusive measurement too. The built-in source reads
   *   memory and always answers.
   */
  window(version: string, windowMs: number): Promise<WindowStats>;
  /**
   * Begins what the source needs before its first window (tailing a log file); called once when the
   * control plane starts. Sources that need nothing leave it out.
   */
  start?(): Promise<void>;
  /** Releases what `start` took (file handles, timers); idempotent. */
  close?(): Promise<void>;
}
