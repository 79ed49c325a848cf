/** The baselines the API answers (docs/baselines.md), and their reads. */
import { get, query } from './client.js';

export interface BaselineFigures {
  requests: number;
  windowMs: number;
  instances: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  rps: number | null;
  errorRate: number | null;
  cpuPer1k: number | null;
  rssBytes: number | null;
  rssPer1k: number | null;
  resourcesReason: string | null;
}

export interface Baseline {
  releaseId: number;
  service: string;
  version: string;
  state: string;
  startedAt: number;
  endedAt: number | null;
  figures: BaselineFigures | null;
  reason: string | null;
}

export interface FigureComparison {
  figure: string;
  group: string;
  label: string;
  previous: number | null;
  current: number | null;
  change: number | null;
  verdict: 'pass' | 'regressed' | 'inconclusive' | 'not-judged';
  reason: string;
}

export interface BaselineComparison {
  verdict: 'pass' | 'regressed' | 'inconclusive';
  reason: string;
  comparable: boolean;
  figures: FigureComparison[];
}

export interface ReleaseBaselineView {
  baseline: Baseline | null;
  previous: Baseline | null;
  comparison: BaselineComparison | null;
}

export type HistoryEntry = Baseline & {
  verdict: BaselineComparison['verdict'] | null;
  reasonOfVerdict: string | null;
};

export function releaseBaseline(id: number): Promise<ReleaseBaselineView> {
  return get<ReleaseBaselineView>(`/api/v1/releases/${id}/baseline`);
}

export async function serviceBaselines(service: string, environment: string | null): Promise<HistoryEntry[]> {
  const path = `/api/v1/services/${encodeURIComponent(service)}/baselines${query({ environment })}`;
  return (await get<{ baselines: HistoryEntry[] }>(path)).baselines;
}

/** A figure as the tables print it. */
export function formatFigure(figure: string, value: number | null): string {
  if (value === null) return '—';
  if (figure.startsWith('latency')) return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
  if (figure === 'throughput') return `${value.toFixed(1)} rps`;
  if (figure === 'errorRate') return `${(value * 100).toFixed(2)}%`;
  if (figure === 'cpuPer1k') return `${value.toFixed(3)} s`;
  if (figure === 'memory') return `${(value / 1024 / 1024).toFixed(1)} MB`;
  return String(value);
}

/** A change as the tables print it: a percentage, or percentage points for the error rate. */
export function formatChange(figure: string, change: number | null): string {
  if (change === null) return '—';
  const sign = change >= 0 ? '+' : '';
  return figure === 'errorRate'
    ? `${sign}${(change * 100).toFixed(2)} pp`
    : `${sign}${(change * 100).toFixed(1)}%`;
}

/** `612 requests over 12s on 3 instances`. */
export function describeSample(f: BaselineFigures): string {
  const on = f.instances === null ? '' : ` on ${f.instances} instance${f.instances === 1 ? '' : 's'}`;
  return `${f.requests.toLocaleString('en-US')} requests over ${Math.round(f.windowMs / 1000)}s${on}`;
}
