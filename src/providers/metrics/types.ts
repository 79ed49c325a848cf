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
  p99: number | undefined;
  /** Requests per second over the window. */
  rps: number;
}

/** Reads per-version request metrics. */
export interface MetricSource {
  /** Stable id used in config and logs, e.g. 'builtin'. */
  readonly type: string;
  /**
   * Stats for `version` over `[now - windowMs, now)`. Throws ProviderError when the source cannot
   * answer; analysis turns that into an inconclusive measurement.
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
