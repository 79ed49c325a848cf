/**
 * The release charts' data, shaped without the DOM: samples into uPlot's aligned arrays, trigger
 * thresholds from measurements, decision markers from events, and the words that describe a chart
 * to someone who cannot see it. Kept pure so it is tested in node.
 */
import type { Measurement, Sample, SampleFigures, ShipcheckEvent } from '../api/types.js';
import { formatDuration, formatMs, formatPercent, formatRps } from '../format.js';

/** The four charts, by the `data-testid` key the browser tests use. */
export type ChartKey = 'error-rate' | 'p50' | 'p99' | 'rps';

/** How a chart's values are written: its axis and its table use the same unit. */
export type ChartUnit = 'percent' | 'ms' | 'rps';

/** What one chart plots and which trigger metrics draw a threshold on it. */
export interface ChartSpec {
  key: ChartKey;
  caption: string;
  unit: ChartUnit;
  /** Trigger metric names (src/analysis/triggers.ts) whose threshold belongs on this chart. */
  metrics: readonly string[];
  /** One version's value in a sample, in the chart's unit (percent, not a fraction). */
  value: (figures: SampleFigures) => number | null;
}

const PERCENT = 100;

/** A fraction in percent, keeping null (a gap) as null. */
function percent(fraction: number | null): number | null {
  return fraction === null ? null : fraction * PERCENT;
}

/**
 * The charts in the order they are shown. Trigger metrics are `error_rate`, `latency_p50`,
 * `latency_p90` and `latency_p99`; the short `p50`/`p99` spellings are accepted too. `latency_p90`
 * and `health` have no chart of their own.
 */
export const CHARTS: readonly ChartSpec[] = [
  {
    key: 'error-rate',
    caption: 'Error rate',
    unit: 'percent',
    metrics: ['error_rate'],
    value: (f) => percent(f.errorRate),
  },
  { key: 'p50', caption: 'Latency p50', unit: 'ms', metrics: ['latency_p50', 'p50'], value: (f) => f.p50 },
  { key: 'p99', caption: 'Latency p99', unit: 'ms', metrics: ['latency_p99', 'p99'], value: (f) => f.p99 },
  { key: 'rps', caption: 'Request rate', unit: 'rps', metrics: [], value: (f) => f.rps },
];

/** uPlot's aligned data: x in epoch seconds, then the stable and the canary series; null is a gap. */
export type AlignedData = [number[], (number | null)[], (number | null)[]];

const MS_PER_SECOND = 1000;

/** Samples (oldest first) as one chart's aligned arrays. */
export function alignedData(samples: readonly Sample[], spec: ChartSpec): AlignedData {
  const sorted = isSorted(samples) ? samples : [...samples].sort((a, b) => a.at - b.at);
  const xs: number[] = [];
  const stable: (number | null)[] = [];
  const canary: (number | null)[] = [];
  for (const sample of sorted) {
    xs.push(sample.at / MS_PER_SECOND);
    stable.push(finite(sample.stable ? spec.value(sample.stable) : null));
    canary.push(finite(sample.canary ? spec.value(sample.canary) : null));
  }
  return [xs, stable, canary];
}

function isSorted(samples: readonly Sample[]): boolean {
  for (let i = 1; i < samples.length; i++) if (samples[i]!.at < samples[i - 1]!.at) return false;
  return true;
}

function finite(value: number | null | undefined): number | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : value;
}

/** A chart's trigger threshold in its unit, from the newest measurement of one of its metrics that has one. */
export function thresholdFor(measurements: readonly Measurement[], spec: ChartSpec): number | null {
  let newest: Measurement | undefined;
  for (const m of measurements)
    if (spec.metrics.includes(m.metric) && m.threshold !== null && (!newest || m.at >= newest.at)) newest = m;
  if (!newest || newest.threshold === null) return null;
  return spec.unit === 'percent' ? newest.threshold * PERCENT : newest.threshold;
}

/** A decision drawn on the time axis. */
export interface Marker {
  /** Epoch seconds, like the x values. */
  at: number;
  label: string;
  /** Whether the decision turns the release back: drawn in the threshold colour (the label says it too). */
  bad: boolean;
}

/** The event types that are decisions, with how each is labelled on a chart. */
const MARKER_LABELS: Record<string, (event: ShipcheckEvent) => string> = {
  'release.weight': (e) => (typeof e.data.weight === 'number' ? `${e.data.weight}%` : 'weight'),
  'release.step': () => 'step',
  'release.paused': () => 'paused',
  'release.resumed': () => 'resumed',
  'release.promoted': () => 'promoted',
  'release.rolling_back': () => 'rolling back',
  'release.rolled_back': () => 'rolled back',
  'release.succeeded': () => 'succeeded',
  'release.aborted': () => 'aborted',
};

const BAD_MARKERS: ReadonlySet<string> = new Set([
  'release.rolling_back',
  'release.rolled_back',
  'release.aborted',
]);

/** The decisions among `events`, oldest first. */
export function markersFrom(events: readonly ShipcheckEvent[]): Marker[] {
  const markers: Marker[] = [];
  for (const event of events) {
    const label = MARKER_LABELS[event.type];
    if (label)
      markers.push({ at: event.at / MS_PER_SECOND, label: label(event), bad: BAD_MARKERS.has(event.type) });
  }
  return markers.sort((a, b) => a.at - b.at);
}

/** The last non-null value of a series, or null when it has none. */
export function latestValue(series: readonly (number | null)[]): number | null {
  for (let i = series.length - 1; i >= 0; i--) {
    const value = series[i];
    if (value !== null && value !== undefined) return value;
  }
  return null;
}

/** A value in a chart's unit as text: `2.5%`, `3.4 ms`, `45.1/s`. */
export function formatChartValue(unit: ChartUnit, value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (unit === 'percent') return formatPercent(value / PERCENT);
  if (unit === 'ms') return formatMs(value);
  return formatRps(value);
}

/** A short axis tick in a chart's unit: `2.5%`, `12 ms`, `40/s`. */
export function formatTick(unit: ChartUnit, value: number): string {
  const text = String(Number(value.toPrecision(3)));
  if (unit === 'percent') return `${text}%`;
  if (unit === 'ms') return `${text} ms`;
  return `${text}/s`;
}

/** A chart in words, for its aria-label: what it shows, over how long, its latest values and decisions. */
export function describeChart(
  spec: ChartSpec,
  data: AlignedData,
  threshold: number | null,
  markers: readonly Marker[],
): string {
  const [xs, stable, canary] = data;
  if (xs.length === 0) return `${spec.caption} of stable and canary: no samples yet.`;
  const span = formatDuration((xs[xs.length - 1]! - xs[0]!) * MS_PER_SECOND);
  const parts = [
    `${spec.caption} of stable and canary over ${span} (${xs.length} samples)`,
    `latest stable ${formatChartValue(spec.unit, latestValue(stable))}`,
    `latest canary ${formatChartValue(spec.unit, latestValue(canary))}`,
  ];
  if (threshold !== null) parts.push(`threshold ${formatChartValue(spec.unit, threshold)}`);
  if (markers.length > 0) parts.push(`decisions marked: ${markers.map((m) => m.label).join(', ')}`);
  return `${parts.join('; ')}.`;
}

/** A measured value as its metric is written: percent for error rate, time for latency, a count for health. */
export function formatMeasured(metric: string, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (metric === 'error_rate') return formatPercent(value);
  if (metric.startsWith('latency_') || /^p\d+$/.test(metric)) return formatMs(value);
  if (metric === 'health') return `${value} failing`;
  return String(value);
}

/** Half a minute in seconds: the time axis around a lone sample. */
const HALF_MINUTE = 30;
/** Headroom above the highest value or threshold, so neither sits on the chart's top edge. */
const HEADROOM = 1.15;

/**
 * The value axis: from zero (every plotted figure is a rate or a time) to above both the data and the
 * threshold, so the threshold line is always in view.
 */
export function valueRange(dataMax: number | null, threshold: number | null): [number, number] {
  const top = Math.max(dataMax ?? 0, threshold ?? 0);
  return [0, top > 0 ? top * HEADROOM : 1];
}

/** The time axis: the samples' span, widened to take in every decision marker. Null without samples. */
export function timeRange(xs: readonly number[], markers: readonly Marker[]): [number, number] | null {
  if (xs.length === 0) return null;
  let min = xs[0]!;
  let max = xs[xs.length - 1]!;
  for (const m of markers) {
    min = Math.min(min, m.at);
    max = Math.max(max, m.at);
  }
  // One sample and no marker: a minute around it, so the point is not squeezed onto an edge.
  if (min === max) return [min - HALF_MINUTE, max + HALF_MINUTE];
  return [min, max];
}
