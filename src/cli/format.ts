import type { ReleaseView, StatusView, VersionFigures } from '../engine/views.js';
import { TERMINAL_STATES, type ReleasePhase } from '../domain/release.js';
import { formatTable } from './table.js';

/**
 * Exit codes. 0 to 4 are PRODUCT.md's: ok or succeeded, runtime error, usage or config error, rolled
 * back, aborted. Then `--wait`'s own: its --timeout ran out, the release is held for a person
 * (`--until-held`), the release failed; and 130 when Ctrl-C stopped the wait.
 */
export const ExitCode = {
  ok: 0,
  runtime: 1,
  usage: 2,
  rolledBack: 3,
  aborted: 4,
  timedOut: 5,
  held: 6,
  failed: 7,
  interrupted: 130,
} as const;

/** The exit code `deploy --wait` returns for a release that ended in `state`. */
export function exitCodeFor(state: string): number {
  switch (state) {
    case 'succeeded':
      return ExitCode.ok;
    case 'rolled_back':
      return ExitCode.rolledBack;
    case 'aborted':
      return ExitCode.aborted;
    case 'failed':
      return ExitCode.failed;
    default:
      return ExitCode.runtime;
  }
}

/** Phases in which a first release's instances exist and take the traffic. */
const FIRST_RELEASE_SERVING: readonly ReleasePhase[] = [
  'starting',
  'canary',
  'verifying',
  'verify',
  'post-deploy',
];

/**
 * A first release has no stable version beside it: its instances take every request as soon as
 * they are ready, although its stored canary weight stays 0.
 */
function takesAllTraffic(r: ReleaseView): boolean {
  return (
    r.fromVersion === null && !TERMINAL_STATES.includes(r.state) && FIRST_RELEASE_SERVING.includes(r.phase)
  );
}

function pct(fraction: number | null): string {
  return fraction === null ? '-' : `${(fraction * 100).toFixed(1)}%`;
}

function ms(value: number | null): string {
  return value === null
    ? '-'
    : value < 1000
      ? `${value.toFixed(value < 10 ? 1 : 0)}ms`
      : `${(value / 1000).toFixed(2)}s`;
}

/** `v2 2/3 ready, 41.0 rps, 5xx 0.0%, p99 3.1ms` */
export function formatFigures(f: VersionFigures): string {
  const ready = f.instances.filter((i) => i.state === 'ready').length;
  return `${f.version} ${ready}/${f.instances.length} ready, ${f.rps.toFixed(1)} rps, 5xx ${pct(f.errorRate)}, p99 ${ms(f.p99)}`;
}

/** Where a release is: `canary step 2/4 (pause 30s), weight 10%`; `verify, all traffic (first release)`. */
export function formatPhase(r: ReleaseView): string {
  const where =
    r.phase === 'canary'
      ? `canary step ${Math.min(r.step + 1, r.steps)}/${r.steps}${r.stepName ? ` (${r.stepName})` : ''}`
      : r.phase;
  return `${where}, ${takesAllTraffic(r) ? 'all traffic (first release)' : `weight ${r.weight}%`}`;
}

/** One line of `deploy --wait` progress. */
export function formatProgress(status: StatusView): string {
  const r = status.release;
  if (!r) return `${status.service}: no release`;
  const parts = [`#${r.id} ${r.version} ${r.state}: ${formatPhase(r)}`];
  if (status.versions.stable) parts.push(`stable ${formatFigures(status.versions.stable)}`);
  if (status.versions.canary) parts.push(`canary ${formatFigures(status.versions.canary)}`);
  return parts.join(' | ');
}

/** The human form of `status`. */
export function formatStatus(status: StatusView): string[] {
  const lines = [`service  ${status.service}`, `stable   ${status.stable ?? '(none yet)'}`];
  if (status.previous) lines.push(`previous ${status.previous} (warm, no traffic)`);
  const r = status.release;
  if (r) {
    lines.push(
      `release  #${r.id} ${r.kind} ${r.fromVersion ?? '(none)'} -> ${r.version}: ${r.state}, ${formatPhase(r)}`,
    );
    if (r.reason) lines.push(`reason   ${r.reason}`);
  }
  if (status.versions.stable) lines.push(`  stable ${formatFigures(status.versions.stable)}`);
  if (status.versions.canary) lines.push(`  canary ${formatFigures(status.versions.canary)}`);
  const replica = status.replica;
  if (replica && !replica.leading) {
    // Instances are watched by the lease holder; this replica only sees the store.
    lines.push(
      `replica  ${replica.id}; ${replica.holder ? `${replica.holder} drives ${status.service} and watches its instances` : 'no replica drives this service right now'}`,
    );
  }
  return lines;
}

/** One row of `GET /services`: a unit with its stable version and its active or last release. */
export interface ServiceSummary {
  name: string;
  stable: string | null;
  release: ReleaseView | null;
}

/** `status` of an installation with several services: one row per unit, in the installation's order. */
export function formatServicesTable(services: readonly ServiceSummary[]): string[] {
  const header = ['SERVICE', 'STABLE', 'RELEASE', 'STATE', 'WHERE', 'REASON'];
  const rows = services.map((s) => {
    const r = s.release;
    const active = r !== null && !TERMINAL_STATES.includes(r.state);
    return [
      s.name,
      s.stable ?? '-',
      r ? `#${r.id} ${r.version}` : '-',
      r ? r.state : '-',
      r && active ? formatPhase(r) : '-',
      r?.reason ? oneLine(r.reason, 60) : '',
    ];
  });
  return formatTable(header, rows);
}

/** The first line of `text`, cut to `max` characters with an ellipsis. */
function oneLine(text: string, max: number): string {
  const first = text.split('\n')[0] ?? '';
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}
