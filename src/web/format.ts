/** How the dashboard writes times, durations, rates and latencies: the same everywhere. */

/** `2026-12-06 12:34:56` in the browser's time zone. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `12:34:56`. */
export function formatClock(ms: number): string {
  return formatTime(ms).slice(11);
}

/** `45s`, `3m 20s`, `2h 5m`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
}

/** A fraction as a percentage: `0.214` -> `21.4%`. */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  const pct = fraction * 100;
  // `5%`, `21.4%`, `0.35%`: as many decimals as the figure needs, at most two below 10%.
  const text = pct.toFixed(pct >= 10 ? 1 : 2).replace(/\.?0+$/, '');
  return `${text}%`;
}

/** Milliseconds of latency: `3.4 ms`, `1.20 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)} ms`;
}

/** Requests per second: `45.1/s`. */
export function formatRps(rps: number | null | undefined): string {
  if (rps === null || rps === undefined || !Number.isFinite(rps)) return '—';
  return `${rps >= 100 ? rps.toFixed(0) : rps.toFixed(1)}/s`;
}

/** States that need a person to look: they sort first on the overview. */
export const ATTENTION_STATES: ReadonlySet<string> = new Set(['waiting', 'paused', 'failed']);

/** Whether a release has ended. */
export function isEnded(state: string): boolean {
  return ['succeeded', 'rolled_back', 'aborted', 'failed'].includes(state);
}
