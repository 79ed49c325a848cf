import { z } from 'zod';
import { formatMetricValue, metricValue } from '../../analysis/triggers.js';
import { duration, percent } from '../../config/schema.js';
import type { WindowStats } from '../../providers/metrics/types.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckContext, CheckKind } from '../types.js';

const METRIC_NAMES = ['requests', 'error_rate', 'latency_p50', 'latency_p90', 'latency_p99', 'rps'] as const;
type MetricsMetric = (typeof METRIC_NAMES)[number];
const VERSION_ROLES = ['stable', 'canary'] as const;
/** Which version a check reads: the one being replaced, or the one being released. */
export type VersionRole = (typeof VERSION_ROLES)[number];

/** "Monitoring configured" with no bound means the metric has data: at least one request. */
const PRESENT_MIN_REQUESTS = 1;
/** Fewest requests a rate or a latency is judged on, as for rollback triggers. */
const DEFAULT_MIN_REQUESTS = 10;
const RPS_DECIMALS = 2;
/** What a person can do about an item that has no traffic to judge. */
const NO_TRAFFIC_HINT =
  '; it is checked again until traffic arrives (analysis.syntheticLoad can send some), or sign or waive it';

const bound = z
  .union([z.number(), z.string()])
  .describe(
    'A bound in the unit of the metric: a count for requests, requests per second for rps, ' +
      'a percentage (5% or 5) for error_rate, a duration (250ms, 2s) or milliseconds for latency.',
  );

/** Turns a bound as written into the metric's unit; a string is an error message. */
function normalizeBound(metric: MetricsMetric, raw: number | string): number | string {
  switch (metric) {
    case 'requests':
      return typeof raw === 'number' && Number.isInteger(raw) && raw >= 0
        ? raw
        : `a requests bound is a whole number, got ${JSON.stringify(raw)}`;
    case 'rps':
      return typeof raw === 'number' && raw >= 0
        ? raw
        : `an rps bound is a non-negative number, got ${JSON.stringify(raw)}`;
    case 'error_rate': {
      const parsed = percent.safeParse(raw);
      return parsed.success ? parsed.data : (parsed.error.issues[0]?.message ?? 'expected a percentage');
    }
    default: {
      if (typeof raw === 'number') return raw >= 0 ? raw : 'a latency bound cannot be negative';
      const parsed = duration.safeParse(raw);
      return parsed.success ? parsed.data : (parsed.error.issues[0]?.message ?? 'expected a duration');
    }
  }
}

const metricsParams = z
  .strictObject({
    version: z
      .enum(VERSION_ROLES)
      .prefault('stable')
      .describe(
        'stable: the version being replaced (or the new one on a first release); canary: the new one.',
      ),
    metric: z
      .enum(METRIC_NAMES)
      .prefault('requests')
      .describe('The metric to read: requests, error_rate, latency_p50, latency_p90, latency_p99 or rps.'),
    window: duration.prefault('5m').describe('Lookback over which the metric is computed.'),
    min: bound
      .optional()
      .describe('The metric must be at least this; requests defaults to 1 (metrics are being recorded).'),
    max: bound.optional().describe('The metric must be at most this.'),
    minRequests: z
      .number()
      .int()
      .min(1)
      .prefault(DEFAULT_MIN_REQUESTS)
      .describe(
        'error_rate and latency: below this many requests in the window the item is inconclusive, not judged.',
      ),
  })
  .transform((params, ctx) => {
    const normalized: Record<'min' | 'max', number | undefined> = { min: undefined, max: undefined };
    for (const key of ['min', 'max'] as const) {
      const raw = params[key];
      if (raw === undefined) continue;
      const value = normalizeBound(params.metric, raw);
      if (typeof value === 'string') ctx.addIssue({ code: 'custom', message: value, path: [key] });
      else normalized[key] = value;
    }
    if (normalized.min !== undefined && normalized.max !== undefined && normalized.min > normalized.max) {
      ctx.addIssue({ code: 'custom', message: 'min cannot exceed max', path: ['min'] });
    }
    if (params.metric === 'requests' && params.min === undefined && params.max === undefined) {
      normalized.min = PRESENT_MIN_REQUESTS;
    }
    return { ...params, ...normalized };
  })
  .describe('Monitoring is configured: a metric of one version has data, optionally within bounds.');

/** Params of a `metrics` item after validation: window in ms, bounds in the metric's unit (fraction, ms). */
export type MetricsParams = z.output<typeof metricsParams>;

/** The version a role names: stable is the replaced version, or the released one when there is none. */
export function versionFor(role: VersionRole, context: CheckContext): string {
  return role === 'stable' ? (context.fromVersion ?? context.version) : context.version;
}

function valueOf(metric: MetricsMetric, stats: WindowStats): number | undefined {
  if (metric === 'requests') return stats.requests;
  if (metric === 'rps') return stats.rps;
  return metricValue(metric, stats);
}

function format(metric: MetricsMetric, value: number): string {
  if (metric === 'requests') return value.toLocaleString('en-US');
  if (metric === 'rps') return `${Number(value.toFixed(RPS_DECIMALS))}/s`;
  return formatMetricValue(metric, value);
}

/**
 * `metrics`: reads one version's metric over a window. Only a measured breach fails it. No data (no
 * requests, too few to judge, a source that did not answer) is inconclusive, and so is traffic below
 * a `requests` or `rps` minimum: nobody calling a version says nothing about the version.
 */
export const metricsCheck: CheckKind<MetricsParams> = {
  kind: 'metrics',
  params: metricsParams,
  async run(params, context) {
    const version = versionFor(params.version, context);
    const where = `over ${formatDuration(params.window)} on ${version} (${params.version})`;
    let stats: WindowStats;
    try {
      stats = await context.metrics.window(version, params.window);
    } catch (err) {
      return {
        ok: false,
        inconclusive: true,
        summary: `${context.metrics.type} metrics unavailable for ${version}: ${(err as Error).message}`,
      };
    }
    const synthetic = context.synthetic?.(version, params.window);
    const data = {
      version,
      role: params.version,
      metric: params.metric,
      windowMs: params.window,
      ...stats,
      ...(synthetic ? { synthetic } : {}),
    };
    const counted = `${stats.requests.toLocaleString('en-US')} requests${synthetic && synthetic.requests > 0 ? `, ${synthetic.requests.toLocaleString('en-US')} of them synthetic` : ''}`;
    const requests = params.metric === 'requests' ? '' : ` (${counted})`;
    const traffic = params.metric === 'requests' || params.metric === 'rps';
    if (!traffic && stats.requests < params.minRequests) {
      const summary =
        stats.requests === 0
          ? `${params.metric} has no value ${where}: no requests recorded`
          : `${params.metric} not judged ${where}: ${counted}, fewer than minRequests ${params.minRequests}`;
      return { ok: false, inconclusive: true, summary: summary + NO_TRAFFIC_HINT, data };
    }
    const value = valueOf(params.metric, stats);
    if (value === undefined) {
      return {
        ok: false,
        inconclusive: true,
        summary: `${params.metric} has no value ${where}${requests}`,
        data,
      };
    }
    const shown = `${params.metric} ${format(params.metric, value)}`;
    if (params.min !== undefined && value < params.min) {
      const summary = `${shown} < min ${format(params.metric, params.min)} ${where}${requests}`;
      // Too little traffic cannot be held against the version; a rate or latency below a floor can.
      return traffic
        ? { ok: false, inconclusive: true, summary: summary + NO_TRAFFIC_HINT, value, data }
        : { ok: false, summary, value, data };
    }
    if (params.max !== undefined && value > params.max) {
      const summary = `${shown} > max ${format(params.metric, params.max)} ${where}${requests}`;
      return { ok: false, summary, value, data };
    }
    if (params.min === undefined && params.max === undefined && stats.requests < PRESENT_MIN_REQUESTS) {
      return {
        ok: false,
        inconclusive: true,
        summary: `${shown} ${where}: no requests recorded${NO_TRAFFIC_HINT}`,
        value,
        data,
      };
    }
    const bounds = [
      params.min === undefined ? undefined : `>= ${format(params.metric, params.min)}`,
      params.max === undefined ? undefined : `<= ${format(params.metric, params.max)}`,
    ].filter((part) => part !== undefined);
    const summary = `${[shown, bounds.join(' and ')].filter(Boolean).join(' ')} ${where}${requests}`;
    return { ok: true, summary, value, data };
  },
};
