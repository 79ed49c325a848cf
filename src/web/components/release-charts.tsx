/**
 * The release's live charts: error rate, p50 and p99 latency and request rate, stable against
 * canary, with the trigger threshold and the decisions drawn over them. Each chart is created once
 * and fed new samples with setData; it is only rebuilt when the colour theme changes, since uPlot
 * takes its colours as options. Each has a table of its latest numbers beside it.
 */
import { useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Measurement, Sample, ShipcheckEvent } from '../api/types.js';
import {
  CHARTS,
  alignedData,
  describeChart,
  formatChartValue,
  formatTick,
  latestValue,
  markersFrom,
  thresholdFor,
  timeRange,
  valueRange,
  type AlignedData,
  type ChartSpec,
  type Marker,
} from './chart-data.js';

/** The plot's height in CSS pixels; its width follows the container. */
const CHART_HEIGHT = 220;
/** The narrowest plot uPlot is asked to draw, before the container has a width. */
const MIN_WIDTH = 200;
const LINE_WIDTH = 2;
const STABLE_DASH = [8, 4];
const THRESHOLD_DASH = [6, 4];
const MARKER_DASH = [2, 3];
const LABEL_FONT_PX = 11;
const LABEL_PAD_PX = 3;
/** Marker labels that would overlap go to the next row; past this many rows they are left off. */
const LABEL_ROWS = 2;
/** A band above the plot for the marker labels, so they never cover a series. */
const LABEL_BAND = LABEL_ROWS * (LABEL_FONT_PX + 2 * LABEL_PAD_PX) + LABEL_PAD_PX;

/** The charts of one release, in a grid: two by two on a wide screen, stacked on a narrow one. */
export function ReleaseCharts(props: {
  samples: Sample[];
  measurements: Measurement[];
  events: ShipcheckEvent[];
}) {
  const { samples, measurements, events } = props;
  const theme = useThemeVersion();
  const markers = useMemo(() => markersFrom(events), [events]);
  return (
    <div className="release-charts">
      {CHARTS.map((spec) => (
        <ReleaseChart
          key={spec.key}
          spec={spec}
          samples={samples}
          measurements={measurements}
          markers={markers}
          theme={theme}
        />
      ))}
    </div>
  );
}

/** What the draw hook reads at draw time: always the latest, without rebuilding the chart. */
interface Overlay {
  threshold: number | null;
  markers: readonly Marker[];
}

/** The colours a chart draws with, read from the stylesheet's tokens so dark mode applies. */
interface ChartColors {
  stable: string;
  canary: string;
  threshold: string;
  muted: string;
  border: string;
  surface: string;
}

function ReleaseChart(props: {
  spec: ChartSpec;
  samples: Sample[];
  measurements: Measurement[];
  markers: readonly Marker[];
  theme: number;
}) {
  const { spec, samples, measurements, markers, theme } = props;
  const data = useMemo(() => alignedData(samples, spec), [samples, spec]);
  const threshold = useMemo(() => thresholdFor(measurements, spec), [measurements, spec]);
  const plotRef = useRef<HTMLDivElement>(null);
  const chartRef = useRef<uPlot | null>(null);
  const dataRef = useRef<AlignedData>(data);
  const overlayRef = useRef<Overlay>({ threshold, markers });

  useEffect(() => {
    const element = plotRef.current;
    if (!element) return;
    const colors = readColors(element);
    const chart = new uPlot(
      chartOptions(spec, colors, Math.max(element.clientWidth, MIN_WIDTH), overlayRef),
      dataRef.current,
      element,
    );
    chartRef.current = chart;
    let width = chart.width;
    const resize = new ResizeObserver(() => {
      const next = Math.max(element.clientWidth, MIN_WIDTH);
      if (next === width) return;
      width = next;
      chart.setSize({ width, height: CHART_HEIGHT });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      chartRef.current = null;
    };
  }, [spec, theme]);

  useEffect(() => {
    overlayRef.current = { threshold, markers };
    dataRef.current = data;
    // setData also recomputes the scales, which follow the threshold and the markers.
    chartRef.current?.setData(data);
  }, [data, threshold, markers]);

  const latest = samples[samples.length - 1];
  const stableVersion = latest?.stable?.version;
  const canaryVersion = latest?.canary?.version;
  return (
    <figure className="release-chart" data-testid={`chart-${spec.key}`} data-points={samples.length}>
      <figcaption>{spec.caption}</figcaption>
      <div
        className="release-chart-plot"
        ref={plotRef}
        role="img"
        aria-label={describeChart(spec, data, threshold, markers)}
      />
      <table className="data chart-figures" aria-label={`${spec.caption} figures`}>
        <thead>
          <tr>
            <th scope="col">Series</th>
            <th scope="col" className="num">
              Latest
            </th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">
              <span className="chart-key chart-key-stable" aria-hidden="true" />
              Stable{stableVersion ? ` ${stableVersion}` : ''}
            </th>
            <td className="num">{formatChartValue(spec.unit, latestValue(data[1]))}</td>
          </tr>
          <tr>
            <th scope="row">
              <span className="chart-key chart-key-canary" aria-hidden="true" />
              Canary{canaryVersion ? ` ${canaryVersion}` : ''}
            </th>
            <td className="num">{formatChartValue(spec.unit, latestValue(data[2]))}</td>
          </tr>
          <tr>
            <th scope="row">
              <span className="chart-key chart-key-threshold" aria-hidden="true" />
              Threshold
            </th>
            <td className="num">{threshold === null ? 'none' : formatChartValue(spec.unit, threshold)}</td>
          </tr>
        </tbody>
      </table>
    </figure>
  );
}

function chartOptions(
  spec: ChartSpec,
  colors: ChartColors,
  width: number,
  overlay: RefObject<Overlay>,
): uPlot.Options {
  const axis = {
    stroke: colors.muted,
    grid: { stroke: colors.border, width: 1 },
    ticks: { stroke: colors.border, width: 1 },
  };
  return {
    width,
    height: CHART_HEIGHT,
    legend: { show: false },
    padding: [LABEL_BAND, null, null, null],
    // Zooming by dragging would be undone by the next sample; the table and the label carry the numbers.
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: {
        time: true,
        range: (u, min, max) => timeRange(u.data[0] as number[], overlay.current.markers) ?? [min, max],
      },
      y: { range: (_u, _min, max) => valueRange(max, overlay.current.threshold) },
    },
    axes: [axis, { ...axis, size: 64, values: (_u, splits) => splits.map((v) => formatTick(spec.unit, v)) }],
    series: [
      {},
      { label: 'stable', stroke: colors.stable, width: LINE_WIDTH, dash: STABLE_DASH, spanGaps: false },
      { label: 'canary', stroke: colors.canary, width: LINE_WIDTH, spanGaps: false },
    ],
    hooks: { draw: [(u) => drawOverlay(u, spec, colors, overlay.current)] },
  };
}

/** Draws the threshold as a dashed horizontal line and each decision as a labelled vertical line. */
function drawOverlay(u: uPlot, spec: ChartSpec, colors: ChartColors, overlay: Overlay): void {
  const { ctx, bbox } = u;
  const px = uPlot.pxRatio;
  const left = bbox.left;
  const right = bbox.left + bbox.width;
  const top = bbox.top;
  const bottom = bbox.top + bbox.height;
  const fontPx = LABEL_FONT_PX * px;
  const pad = LABEL_PAD_PX * px;
  const band = LABEL_BAND * px;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top - band, bbox.width, bbox.height + band);
  ctx.clip();
  ctx.font = `${fontPx}px system-ui, sans-serif`;
  // uPlot leaves the alignment of its last axis labels on the context.
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.lineWidth = px;

  if (overlay.threshold !== null) {
    const y = Math.round(u.valToPos(overlay.threshold, 'y', true));
    ctx.strokeStyle = colors.threshold;
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash(THRESHOLD_DASH.map((d) => d * px));
    line(ctx, left, y, right, y);
    const text = `threshold ${formatChartValue(spec.unit, overlay.threshold)}`;
    const w = ctx.measureText(text).width;
    label(
      ctx,
      text,
      right - w - pad,
      Math.max(top, y - fontPx - 2 * pad),
      colors.threshold,
      colors.surface,
      pad,
    );
  }

  ctx.lineWidth = px;
  // Labels taken per row as [start, end]; a rollback's label is placed first so it is never the one left off.
  const rows: [number, number][][] = Array.from({ length: LABEL_ROWS }, () => []);
  const ordered = [...overlay.markers.filter((m) => m.bad), ...overlay.markers.filter((m) => !m.bad)];
  for (const marker of ordered) {
    const x = Math.round(u.valToPos(marker.at, 'x', true));
    if (x < left - 1 || x > right + 1) continue;
    const colour = marker.bad ? colors.threshold : colors.muted;
    ctx.strokeStyle = colour;
    ctx.setLineDash(MARKER_DASH.map((d) => d * px));
    line(ctx, x, top - band, x, bottom);
    const w = ctx.measureText(marker.label).width;
    // Labels sit in the band above the plot, right of their line, or left of it near the right edge.
    const at = x + pad + w + pad > right ? x - pad - w : x + pad;
    const gap = 2 * pad;
    const row = rows.findIndex((taken) => taken.every(([s, e]) => at + w + gap < s || e + gap < at));
    if (row < 0) continue;
    rows[row]!.push([at, at + w]);
    label(ctx, marker.label, at, top - band + pad + row * (fontPx + 2 * pad), colour, colors.surface, pad);
  }
  ctx.restore();
}

function line(ctx: CanvasRenderingContext2D, x0: number, y0: number, x1: number, y1: number): void {
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

/** Text on a patch of the surface colour, so it stays readable over grid lines and series. */
function label(
  ctx: CanvasRenderingContext2D,
  text: string,
  x: number,
  y: number,
  colour: string,
  background: string,
  pad: number,
): void {
  const fontPx = LABEL_FONT_PX * uPlot.pxRatio;
  ctx.fillStyle = background;
  ctx.fillRect(x - pad / 2, y - pad / 2, ctx.measureText(text).width + pad, fontPx + pad);
  ctx.fillStyle = colour;
  ctx.fillText(text, x, y);
}

function readColors(element: Element): ChartColors {
  const style = getComputedStyle(element);
  const token = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
  return {
    stable: token('--chart-stable', 'blue'),
    canary: token('--chart-canary', 'orange'),
    threshold: token('--chart-threshold', 'red'),
    muted: token('--text-muted', 'gray'),
    border: token('--border', 'silver'),
    surface: token('--surface', 'white'),
  };
}

/**
 * A number that changes whenever the colour theme may have: the system's light/dark preference, or
 * the `data-theme` attribute on the html element that overrides it.
 */
function useThemeVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const bump = (): void => setVersion((v) => v + 1);
    const media = window.matchMedia('(prefers-color-scheme: dark)');
    media.addEventListener('change', bump);
    const observer = new MutationObserver(bump);
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => {
      media.removeEventListener('change', bump);
      observer.disconnect();
    };
  }, []);
  return version;
}
