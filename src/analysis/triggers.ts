import type { MetricTriggerConfig, TriggerConfig } from '../config/schema.js';
import type { Instance } from '../providers/fleet/types.js';
import type { MetricSource, WindowStats } from '../providers/metrics/types.js';
import type { MeasurementRow } from '../store/types.js';
import type { Verdict } from '../domain/release.js';
import { formatDuration } from '../util/duration.js';
import type { SyntheticCounts } from './synthetic-load.js';

/** One evaluation of one trigger, with the inputs that produced it; the store adds where and when. */
export type Measurement = Omit<MeasurementRow, 'id' | 'releaseId' | 'service' | 'at'>;

/** Formats a metric value the way its threshold is written: percent for error_rate, time for latency. */
export function formatMetricValue(metric: string, value: number): string {
  if (metric === 'error_rate') return `${Number((value * 100).toFixed(1))}%`;
  return value < 1000 ? `${Number(value.toFixed(1))}ms` : `${Number((value / 1000).toFixed(2))}s`;
}

/** The rule as a user reads it: `error_rate > 5% over 1m for 5s`. */
export function describeTrigger(trigger: TriggerConfig): string {
  if ('health' in trigger) return 'health failed';
  const forPart = trigger.for > 0 ? ` for ${formatDuration(trigger.for)}` : '';
  return `${trigger.metric} > ${formatMetricValue(trigger.metric, trigger.above)} over ${formatDuration(trigger.window)}${forPart}`;
}

/** A trigger metric's value in a window: a fraction for error_rate, milliseconds for latency. */
export function metricValue(metric: MetricTriggerConfig['metric'], stats: WindowStats): number | undefined {
  switch (metric) {
    case 'error_rate':
      return stats.requests > 0 ? stats.errors / stats.requests : undefined;
    case 'latency_p50':
      return stats.p50;
    case 'latency_p90':
      return stats.p90;
    case 'latency_p99':
      return stats.p99;
  }
}

/**
 * A source that asks the underlying one once per version and window: the triggers of one analysis
 * pass share a window's figures (one round of PromQL queries instead of one per trigger).
 */
export function sharedWindows(source: MetricSource): MetricSource {
  const asked = new Map<string, Promise<WindowStats>>();
  return {
    type: source.type,
    window(version, windowMs) {
      const key = `${version}\u0000${windowMs}`;
      let stats = asked.get(key);
      if (!stats) {
        stats = source.window(version, windowMs);
        asked.set(key, stats);
      }
      return stats;
    },
  };
}

/**
 * Evaluates a metric trigger on `version`'s own metrics. Never throws: a source failure or too few
 * requests is an inconclusive measurement with a message. `synthetic`, when synthetic load runs, says
 * how many of the window's requests it sent; they count, and the evidence says so.
 */
export async function measureMetric(
  trigger: MetricTriggerConfig,
  source: MetricSource,
  version: string,
  synthetic?: (windowMs: number) => SyntheticCounts,
): Promise<Measurement> {
  const base = {
    trigger: describeTrigger(trigger),
    metric: trigger.metric,
    version,
    threshold: trigger.above,
    windowMs: trigger.window,
  };
  let stats: WindowStats;
  try {
    stats = await source.window(version, trigger.window);
  } catch (err) {
    const message = `${source.type} metrics unavailable: ${(err as Error).message}`;
    return { ...base, value: null, verdict: 'inconclusive', requests: 0, message, inputs: {} };
  }
  const counts = synthetic?.(trigger.window);
  const inputs = {
    source: source.type,
    requests: stats.requests,
    errors: stats.errors,
    byClass: stats.byClass,
    rps: stats.rps,
    ...(counts ? { synthetic: counts } : {}),
  };
  const of = counts && counts.requests > 0 ? `, ${counts.requests.toLocaleString('en-US')} synthetic` : '';
  const value = metricValue(trigger.metric, stats);
  if (stats.requests < trigger.minRequests || value === undefined) {
    const message =
      `${trigger.metric} on ${version}: ${stats.requests} requests${of} in ${formatDuration(trigger.window)}, ` +
      `fewer than minRequests ${trigger.minRequests}`;
    return {
      ...base,
      value: value ?? null,
      verdict: 'inconclusive',
      requests: stats.requests,
      message,
      inputs,
    };
  }
  const verdict: Verdict = value > trigger.above ? 'fail' : 'pass';
  const op = verdict === 'fail' ? '>' : '<=';
  const message =
    `${trigger.metric} ${formatMetricValue(trigger.metric, value)} ${op} ${formatMetricValue(trigger.metric, trigger.above)} ` +
    `over ${formatDuration(trigger.window)} on ${version} (${stats.requests.toLocaleString('en-US')} requests${of})`;
  return { ...base, value, verdict, requests: stats.requests, message, inputs };
}

/** Evaluates `{health: failed}` on the canary's instances: any unhealthy or exited instance fails it. */
export function measureHealth(version: string, instances: readonly Instance[]): Measurement {
  const failing = instances.filter((i) => i.state === 'unhealthy' || i.state === 'exited');
  const checked = instances.filter((i) => i.state !== 'starting');
  const base = {
    trigger: 'health failed',
    metric: 'health',
    version,
    threshold: null,
    windowMs: 0,
    requests: 0,
    inputs: {
      instances: instances.map((i) => ({
        id: i.id,
        state: i.state,
        healthFailures: i.healthFailures,
        failedChecks: i.failedChecks,
        lastError: i.lastError ?? null,
      })),
    },
  };
  const first = failing[0];
  if (first) {
    const what =
      first.state === 'exited'
        ? `exited (${first.lastError ?? 'no detail'})`
        : `failed ${first.healthFailures} health checks in a row (${first.lastError ?? 'no detail'})`;
    return {
      ...base,
      value: failing.length,
      verdict: 'fail',
      message: `health: ${failing.length} of ${instances.length} ${version} instances failing; ${first.id} ${what}`,
    };
  }
  if (checked.length === 0) {
    return {
      ...base,
      value: null,
      verdict: 'inconclusive',
      message: `health: no ${version} instance checked yet`,
    };
  }
  return {
    ...base,
    value: 0,
    verdict: 'pass',
    message: `health: ${instances.length} ${version} instances healthy`,
  };
}

/**
 * Applies each trigger's `for`: a failing verdict fires only once it has held continuously that
 * long, like a Prometheus alert. A pass or an inconclusive measurement resets the clock.
 */
export class ForTracker {
  private readonly failingSince = new Map<string, number>();

  /** Records a verdict at `at`; returns how long the condition has held, or undefined when it does not. */
  observe(key: string, verdict: Verdict, at: number): number | undefined {
    if (verdict !== 'fail') {
      this.failingSince.delete(key);
      return undefined;
    }
    const since = this.failingSince.get(key) ?? at;
    this.failingSince.set(key, since);
    return at - since;
  }

  reset(): void {
    this.failingSince.clear();
  }
}
