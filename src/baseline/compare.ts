/**
 * Comparing two performance baselines: the pure rules behind the `baseline` check kind, `shipcheck
 * baseline compare` and the release page. Noise-aware by design (docs/baselines.md): two baselines are
 * compared only with enough requests on both sides and at comparable load, and a change smaller than a
 * metric's absolute floor (5 ms of latency, for instance) never counts as a regression.
 */
import type { BaselineSettings } from '../config/baseline-schema.js';

/** The figures of one release's baseline, each null when it could not be measured. */
export interface BaselineFigures {
  /** Requests the version answered in the window: the sample size of every request figure. */
  requests: number;
  /** Length of the window the figures cover, in milliseconds. */
  windowMs: number;
  /** Instances whose processes were read for CPU and memory; null when none could be. */
  instances: number | null;
  /** Latency quantiles in milliseconds. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Requests per second over the window. */
  rps: number | null;
  /** Errors (5xx) over requests, a fraction. */
  errorRate: number | null;
  /** CPU seconds of the version's processes per 1,000 requests. */
  cpuPer1k: number | null;
  /** Average resident memory of the version's processes over the window, in bytes. */
  rssBytes: number | null;
  /** Average RSS per 1,000 requests: megabyte-seconds of memory held per 1,000 requests. */
  rssPer1k: number | null;
  /** Why CPU and memory are null (a fleet without local processes, a window cut by a restart). */
  resourcesReason: string | null;
}

/** What a check item of the `baseline` kind judges. */
export type BaselineMetricGroup = 'latency' | 'throughput' | 'errors' | 'resources';
export const BASELINE_METRIC_GROUPS: readonly BaselineMetricGroup[] = [
  'latency',
  'throughput',
  'errors',
  'resources',
];

/** One compared figure; the tolerance keys of `baseline.tolerance`. */
export type FigureName =
  'latencyP50' | 'latencyP95' | 'latencyP99' | 'throughput' | 'errorRate' | 'cpuPer1k' | 'memory';

/** How one figure moved. `not-judged`: shown only (latencyP50/P95 without a tolerance). */
export type FigureVerdict = 'pass' | 'regressed' | 'inconclusive' | 'not-judged';

/** The verdict of a whole comparison or of one group of figures. */
export type ComparisonVerdict = 'pass' | 'regressed' | 'inconclusive';

export interface FigureComparison {
  figure: FigureName;
  group: BaselineMetricGroup;
  /** e.g. `p99 latency`. */
  label: string;
  previous: number | null;
  current: number | null;
  /** (current - previous) / previous; for the error rate, current - previous in fractions. */
  change: number | null;
  /** The tolerance applied, as configured (a fraction); undefined when the figure is not judged. */
  tolerance: number | undefined;
  verdict: FigureVerdict;
  /** Why: the breach, the floor that absorbed a change, the missing sample. */
  reason: string;
}

export interface BaselineComparison {
  verdict: ComparisonVerdict;
  /** One line: the regressions, or why the comparison is inconclusive. */
  reason: string;
  /** Whether both sides had enough requests and comparable throughput. */
  comparable: boolean;
  figures: FigureComparison[];
}

/** Latency changes smaller than this are noise whatever the percentage (2 ms -> 3 ms is not +50%). */
export const LATENCY_FLOOR_MS = 5;
/** CPU changes smaller than this per 1,000 requests are noise (the kernel counts CPU in 10 ms ticks). */
export const CPU_FLOOR_SECONDS_PER_1K = 0.05;
/** Memory changes smaller than this are noise (allocator and garbage collector churn). */
export const MEMORY_FLOOR_BYTES = 8 * 1024 * 1024;

interface FigureRule {
  figure: FigureName;
  group: BaselineMetricGroup;
  label: string;
  value: (figures: BaselineFigures) => number | null;
  /** `up`: a rise is worse (latency, CPU); `down`: a drop is worse (throughput). */
  worse: 'up' | 'down';
  /** `relative`: the change is a fraction of the previous figure; `points`: an absolute difference. */
  scale: 'relative' | 'points';
  floor: number;
  format: (value: number) => string;
}

const ms = (value: number): string => `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
const pct = (fraction: number): string => `${(fraction * 100).toFixed(fraction < 0.1 ? 2 : 1)}%`;

const RULES: readonly FigureRule[] = [
  {
    figure: 'latencyP50',
    group: 'latency',
    label: 'p50 latency',
    value: (f) => f.p50,
    worse: 'up',
    scale: 'relative',
    floor: LATENCY_FLOOR_MS,
    format: ms,
  },
  {
    figure: 'latencyP95',
    group: 'latency',
    label: 'p95 latency',
    value: (f) => f.p95,
    worse: 'up',
    scale: 'relative',
    floor: LATENCY_FLOOR_MS,
    format: ms,
  },
  {
    figure: 'latencyP99',
    group: 'latency',
    label: 'p99 latency',
    value: (f) => f.p99,
    worse: 'up',
    scale: 'relative',
    floor: LATENCY_FLOOR_MS,
    format: ms,
  },
  {
    figure: 'throughput',
    group: 'throughput',
    label: 'throughput',
    value: (f) => f.rps,
    worse: 'down',
    scale: 'relative',
    floor: 0,
    format: (v) => `${v.toFixed(1)} rps`,
  },
  {
    figure: 'errorRate',
    group: 'errors',
    label: 'error rate',
    value: (f) => f.errorRate,
    worse: 'up',
    scale: 'points',
    floor: 0,
    format: pct,
  },
  {
    figure: 'cpuPer1k',
    group: 'resources',
    label: 'CPU per 1,000 requests',
    value: (f) => f.cpuPer1k,
    worse: 'up',
    scale: 'relative',
    floor: CPU_FLOOR_SECONDS_PER_1K,
    format: (v) => `${v.toFixed(3)} s`,
  },
  {
    figure: 'memory',
    group: 'resources',
    label: 'average RSS',
    value: (f) => f.rssBytes,
    worse: 'up',
    scale: 'relative',
    floor: MEMORY_FLOOR_BYTES,
    format: (v) => `${(v / 1024 / 1024).toFixed(1)} MB`,
  },
];

/** Formats a figure's value the way summaries and tables print it. */
export function formatFigure(figure: FigureName, value: number | null): string {
  if (value === null) return '-';
  const rule = RULES.find((r) => r.figure === figure);
  return rule ? rule.format(value) : String(value);
}

/** Formats a figure's change: `+23.5%`, or percentage points for the error rate. */
export function formatChange(figure: FigureName, change: number | null): string {
  if (change === null) return '-';
  const sign = change >= 0 ? '+' : '';
  if (figure === 'errorRate') return `${sign}${(change * 100).toFixed(2)} pp`;
  return `${sign}${(change * 100).toFixed(1)}%`;
}

/** The sample size of a baseline, as summaries print it: `1,204 requests over 24s on 2 instances`. */
export function describeSample(figures: BaselineFigures): string {
  const seconds = Math.round(figures.windowMs / 1000);
  const on =
    figures.instances === null
      ? ''
      : ` on ${figures.instances} instance${figures.instances === 1 ? '' : 's'}`;
  return `${figures.requests.toLocaleString('en-US')} requests over ${seconds}s${on}`;
}

function judge(
  rule: FigureRule,
  previous: BaselineFigures,
  current: BaselineFigures,
  tolerance: number | undefined,
  blocked: string | undefined,
): FigureComparison {
  const before = rule.value(previous);
  const after = rule.value(current);
  const change =
    before === null || after === null
      ? null
      : rule.scale === 'points'
        ? after - before
        : before === 0
          ? after === 0
            ? 0
            : null
          : (after - before) / before;
  const base = {
    figure: rule.figure,
    group: rule.group,
    label: rule.label,
    previous: before,
    current: after,
    change,
    tolerance,
  };
  if (tolerance === undefined)
    return {
      ...base,
      verdict: 'not-judged',
      reason: `${rule.label} is shown, not judged (no tolerance set)`,
    };
  if (blocked) return { ...base, verdict: 'inconclusive', reason: blocked };
  if (before === null || after === null) {
    const missing = before === null ? 'the previous baseline' : 'this baseline';
    const why = rule.group === 'resources' ? (before === null ? previous : current).resourcesReason : null;
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `${missing} has no ${rule.label}${why ? ` (${why})` : ''}`,
    };
  }
  const both = `${rule.format(before)} -> ${rule.format(after)}`;
  if (Math.abs(after - before) < rule.floor) {
    return {
      ...base,
      verdict: 'pass',
      reason: `${rule.label} ${both}: within the ${rule.format(rule.floor)} noise floor`,
    };
  }
  if (change === null) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `${rule.label} ${both}: no change can be computed from zero`,
    };
  }
  const limit =
    rule.figure === 'errorRate' ? pct(tolerance) + ' points' : formatChange(rule.figure, tolerance);
  const breached = rule.worse === 'up' ? change > tolerance : change < tolerance;
  if (breached) {
    return {
      ...base,
      verdict: 'regressed',
      reason: `${rule.label} ${both} (${formatChange(rule.figure, change)}, tolerance ${limit})`,
    };
  }
  return {
    ...base,
    verdict: 'pass',
    reason: `${rule.label} ${both} (${formatChange(rule.figure, change)}, within ${limit})`,
  };
}

/**
 * Compares `current` with `previous` under `settings`. Every figure is listed; the verdict is
 * `regressed` when a judged figure breached its tolerance, `inconclusive` when none did but one could
 * not be judged (too few requests, incomparable load, a missing figure), `pass` otherwise.
 */
export function compareBaselines(
  previous: BaselineFigures,
  current: BaselineFigures,
  settings: BaselineSettings,
): BaselineComparison {
  const { tolerance, minRequests, comparableLoad } = settings;
  let blocked: string | undefined;
  const fewest = Math.min(previous.requests, current.requests);
  if (fewest < minRequests) {
    const side = previous.requests < minRequests ? 'the previous baseline' : 'this baseline';
    blocked = `too few requests: ${side} has ${fewest.toLocaleString('en-US')}, ${minRequests.toLocaleString('en-US')} needed`;
  } else if (previous.rps === null || current.rps === null || previous.rps <= 0) {
    blocked = 'no throughput to compare the load with';
  } else {
    const loadChange = (current.rps - previous.rps) / previous.rps;
    if (Math.abs(loadChange) > comparableLoad) {
      blocked = `load not comparable: ${previous.rps.toFixed(1)} rps -> ${current.rps.toFixed(1)} rps (${formatChange('throughput', loadChange)}, comparable within ±${Math.round(comparableLoad * 100)}%)`;
    }
  }
  const figures = RULES.map((rule) => judge(rule, previous, current, tolerance[rule.figure], blocked));
  return { ...summarise(figures), comparable: blocked === undefined, figures };
}

/** The verdict and reason of some of a comparison's figures (one group, or all). */
export function summarise(figures: readonly FigureComparison[]): {
  verdict: ComparisonVerdict;
  reason: string;
} {
  const judged = figures.filter((f) => f.verdict !== 'not-judged');
  const regressed = judged.filter((f) => f.verdict === 'regressed');
  if (regressed.length > 0)
    return { verdict: 'regressed', reason: regressed.map((f) => f.reason).join('; ') };
  const inconclusive = judged.filter((f) => f.verdict === 'inconclusive');
  if (inconclusive.length > 0 || judged.length === 0) {
    const reasons = [...new Set(inconclusive.map((f) => f.reason))];
    return { verdict: 'inconclusive', reason: reasons.join('; ') || 'nothing to judge' };
  }
  return { verdict: 'pass', reason: judged.map((f) => f.reason).join('; ') };
}

/** A comparison's figures of one group, with that group's verdict. */
export function groupOf(
  comparison: BaselineComparison,
  group: BaselineMetricGroup,
): { verdict: ComparisonVerdict; reason: string; figures: FigureComparison[] } {
  const figures = comparison.figures.filter((f) => f.group === group);
  return { ...summarise(figures), figures };
}
