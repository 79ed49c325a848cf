/**
 * A service's baselines across releases (docs/baselines.md): p50, p95 and p99 latency and throughput
 * per release in one uPlot chart, and a table of every baseline with its verdict against the one
 * before it, in words.
 */
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type HistoryEntry, describeSample, formatFigure, serviceBaselines } from '../api/baselines.js';
import { Link } from '../router.js';

const CHART_HEIGHT = 260;
const MIN_WIDTH = 280;
const VERDICTS = { pass: 'within tolerance', regressed: 'regressed', inconclusive: 'inconclusive' } as const;

/** One line of the chart: a figure on its scale, shown in the legend as the table shows it. */
function line(label: string, scale: string, stroke: string, figure: string, dash?: number[]): uPlot.Series {
  return {
    label,
    scale,
    stroke,
    width: 2,
    ...(dash ? { dash } : {}),
    value: (_u, v) => formatFigure(figure, v),
  };
}

/** The chart's columns: release ids, then p50, p95, p99 (ms) and throughput (rps), oldest first. */
function chartData(entries: readonly HistoryEntry[]): uPlot.AlignedData {
  const shown = entries.filter((e) => e.figures !== null).reverse();
  const column = (read: (e: HistoryEntry) => number | null): (number | null)[] => shown.map(read);
  return [
    shown.map((e) => e.releaseId),
    column((e) => e.figures!.p50),
    column((e) => e.figures!.p95),
    column((e) => e.figures!.p99),
    column((e) => e.figures!.rps),
  ];
}

function BaselineChart({ entries }: { entries: readonly HistoryEntry[] }) {
  const plotRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = plotRef.current;
    if (!element) return;
    const style = getComputedStyle(element);
    const token = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
    const muted = token('--text-muted', 'gray');
    const border = token('--border', 'silver');
    const versions = new Map(entries.map((e) => [e.releaseId, e.version]));
    const axis = { stroke: muted, grid: { stroke: border, width: 1 }, ticks: { stroke: border, width: 1 } };
    const chart = new uPlot(
      {
        width: Math.max(element.clientWidth, MIN_WIDTH),
        height: CHART_HEIGHT,
        scales: { x: { time: false }, ms: {}, rps: {} },
        series: [
          { label: 'Release', value: (_u, v) => (v === null ? '—' : `#${v} ${versions.get(v) ?? ''}`) },
          line('p50', 'ms', token('--chart-stable', 'blue'), 'latency'),
          line('p95', 'ms', token('--chart-canary', 'orange'), 'latency', [8, 4]),
          line('p99', 'ms', token('--chart-threshold', 'red'), 'latency', [2, 3]),
          line('Throughput', 'rps', muted, 'throughput'),
        ],
        axes: [
          { ...axis, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? `#${t}` : '')) },
          { ...axis, scale: 'ms', values: (_u, ticks) => ticks.map((t) => `${t} ms`) },
          {
            ...axis,
            scale: 'rps',
            side: 1,
            grid: { show: false },
            values: (_u, ticks) => ticks.map((t) => `${t} rps`),
          },
        ],
      },
      chartData(entries),
      element,
    );
    const resize = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(element.clientWidth, MIN_WIDTH), height: CHART_HEIGHT }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [entries]);
  const points = entries.filter((e) => e.figures !== null).length;
  return (
    <figure className="release-chart" data-testid="baseline-chart" data-points={points}>
      <figcaption>Latency (p50, p95, p99) and throughput per release</figcaption>
      <div
        className="release-chart-plot"
        ref={plotRef}
        role="img"
        aria-label={`p50, p95 and p99 latency and throughput of ${points} release baselines; the table below lists them`}
      />
    </figure>
  );
}

/** `/services/:service/baselines[?environment=E]`. */
export function BaselinesPage({ service, environment }: { service: string; environment: string | null }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setEntries(null);
    serviceBaselines(service, environment).then(
      (list) => live && setEntries(list),
      (err: unknown) => live && setProblem(err instanceof Error ? err.message : String(err)),
    );
    return () => {
      live = false;
    };
  }, [service, environment]);
  const unit = environment ? `${service}@${environment}` : service;
  return (
    <section className="baselines-page">
      <h1>Baselines of {unit}</h1>
      {problem && (
        <p className="error" role="alert">
          Could not read the baselines: {problem}
        </p>
      )}
      {!entries && !problem && <p className="loading">Loading…</p>}
      {entries && entries.length === 0 && (
        <p className="muted">No baseline recorded yet: each release records one while it runs at 100%.</p>
      )}
      {entries && entries.length > 0 && (
        <>
          <BaselineChart entries={entries} />
          <table className="data" aria-label="Baselines">
            <thead>
              <tr>
                <th scope="col">Release</th>
                <th scope="col">State</th>
                <th scope="col" className="num">
                  p50
                </th>
                <th scope="col" className="num">
                  p95
                </th>
                <th scope="col" className="num">
                  p99
                </th>
                <th scope="col" className="num">
                  Throughput
                </th>
                <th scope="col" className="num">
                  Errors
                </th>
                <th scope="col">Sample</th>
                <th scope="col">Against the previous</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.releaseId}>
                  <th scope="row">
                    <Link to={`/releases/${e.releaseId}`}>
                      #{e.releaseId} {e.version}
                    </Link>
                  </th>
                  <td>{e.state}</td>
                  <td className="num">{formatFigure('latencyP50', e.figures?.p50 ?? null)}</td>
                  <td className="num">{formatFigure('latencyP95', e.figures?.p95 ?? null)}</td>
                  <td className="num">{formatFigure('latencyP99', e.figures?.p99 ?? null)}</td>
                  <td className="num">{formatFigure('throughput', e.figures?.rps ?? null)}</td>
                  <td className="num">{formatFigure('errorRate', e.figures?.errorRate ?? null)}</td>
                  <td>{e.figures ? describeSample(e.figures) : (e.reason ?? '—')}</td>
                  <td>
                    {e.verdict === null ? (
                      <span className="muted">nothing to compare with</span>
                    ) : e.verdict === 'regressed' ? (
                      <strong>Regressed: {e.reasonOfVerdict}</strong>
                    ) : (
                      <span title={e.reasonOfVerdict ?? ''}>{VERDICTS[e.verdict]}</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
