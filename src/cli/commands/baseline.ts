/**
 * `shipcheck baseline show [RELEASE_OR_VERSION]` and `shipcheck baseline compare A B`: the performance
 * baselines a unit's releases recorded, through the API (docs/baselines.md).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { BaselineHistory, BaselineView } from '../../baseline/views.js';
import {
  type BaselineComparison,
  type BaselineFigures,
  describeSample,
  formatChange,
  formatFigure,
} from '../../baseline/compare.js';
import type { BaselineRow } from '../../store/baseline-store.js';
import type { ApiShape } from '../api-shapes.js';
import { ExitCode } from '../format.js';
import { formatTable, formatTime } from '../table.js';
import { type CommandDeps, type GlobalOptions, type Io, resolveTarget } from '../target.js';

const row = z.looseObject({
  releaseId: z.number().int().positive(),
  service: z.string(),
  version: z.string(),
  state: z.string(),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  figures: z.looseObject({ requests: z.number() }).nullable(),
  reason: z.string().nullable(),
});
const comparison = z.looseObject({
  verdict: z.string(),
  reason: z.string(),
  figures: z.array(z.looseObject({})),
});
const historyShape: ApiShape<{ unit: string; baselines: BaselineHistory }> = {
  what: 'the baselines',
  schema: z.looseObject({ unit: z.string(), baselines: z.array(row) }),
};
const viewShape: ApiShape<BaselineView> = {
  what: 'a baseline',
  schema: z.looseObject({
    baseline: row.nullable(),
    previous: row.nullable(),
    comparison: comparison.nullable(),
  }),
};
const compareShape: ApiShape<{
  unit: string;
  a: BaselineRow;
  b: BaselineRow;
  comparison: BaselineComparison;
}> = {
  what: 'a baseline comparison',
  schema: z.looseObject({ unit: z.string(), a: row, b: row, comparison }),
};

/** The exit code of a comparison: 0 passed, 7 (failed) regressed, 0 inconclusive with its reason printed. */
function exitFor(verdict: string): number {
  return verdict === 'regressed' ? ExitCode.failed : ExitCode.ok;
}

function figureCells(f: BaselineFigures | null): string[] {
  if (!f) return ['-', '-', '-', '-', '-', '-', '-'];
  return [
    String(f.requests),
    formatFigure('latencyP50', f.p50),
    formatFigure('latencyP95', f.p95),
    formatFigure('latencyP99', f.p99),
    formatFigure('throughput', f.rps),
    formatFigure('errorRate', f.errorRate),
    formatFigure('cpuPer1k', f.cpuPer1k),
  ];
}

/** The comparison as a table: each figure's two values, the change and the verdict. */
export function comparisonLines(a: BaselineRow, b: BaselineRow, result: BaselineComparison): string[] {
  const lines = formatTable(
    ['METRIC', `${a.version} (#${a.releaseId})`, `${b.version} (#${b.releaseId})`, 'CHANGE', 'VERDICT'],
    result.figures.map((f) => [
      f.label,
      formatFigure(f.figure, f.previous),
      formatFigure(f.figure, f.current),
      formatChange(f.figure, f.change),
      f.verdict,
    ]),
  );
  const sample = (r: BaselineRow): string =>
    `${r.version} (#${r.releaseId}, ${r.state}): ${r.figures ? describeSample(r.figures) : 'no figures'}${r.reason ? ` - ${r.reason}` : ''}`;
  return [
    ...lines,
    '',
    `sample: ${sample(a)}`,
    `sample: ${sample(b)}`,
    `verdict: ${result.verdict}: ${result.reason}`,
  ];
}

/** `shipcheck baseline show [REF]`: every baseline of the unit, or one with its comparison. */
export async function baselineShowCommand(
  ref: string | undefined,
  opts: GlobalOptions,
  io: Io,
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const name = service.split('@')[0] ?? service;
  const { baselines } = await client.get(
    `/api/v1/services/${encodeURIComponent(name)}/baselines${envQuery(service)}`,
    historyShape,
  );
  if (ref === undefined) {
    if (opts.json) {
      io.out(JSON.stringify({ baselines }, null, 2));
      return ExitCode.ok;
    }
    if (baselines.length === 0) {
      io.out(`no baseline recorded for ${service} yet`);
      return ExitCode.ok;
    }
    const header = [
      'RELEASE',
      'VERSION',
      'STATE',
      'ENDED',
      'REQUESTS',
      'P50',
      'P95',
      'P99',
      'RPS',
      'ERRORS',
      'CPU/1K',
      'VS PREVIOUS',
    ];
    const rows = baselines.map((b) => [
      `#${b.releaseId}`,
      b.version,
      b.state,
      formatTime(b.endedAt),
      ...figureCells(b.figures),
      b.verdict ?? '-',
    ]);
    formatTable(header, rows).forEach((line) => io.out(line));
    return ExitCode.ok;
  }
  const text = ref.replace(/^#/, '');
  const found =
    baselines.find((b) => b.version === text) ?? baselines.find((b) => String(b.releaseId) === text);
  if (!found) {
    io.err(`no baseline of ${service} for "${ref}"`);
    return ExitCode.runtime;
  }
  const view = await client.get(`/api/v1/releases/${found.releaseId}/baseline`, viewShape);
  if (opts.json) {
    io.out(JSON.stringify(view, null, 2));
    return ExitCode.ok;
  }
  const b = view.baseline!;
  io.out(`${service} ${b.version} (release #${b.releaseId}): ${b.state}${b.reason ? ` - ${b.reason}` : ''}`);
  if (b.figures)
    io.out(`window: ${formatTime(b.startedAt)} to ${formatTime(b.endedAt)}, ${describeSample(b.figures)}`);
  if (b.figures?.resourcesReason) io.out(`CPU and memory: ${b.figures.resourcesReason}`);
  if (!view.previous || !view.comparison) {
    io.out('no previous baseline to compare with');
    return ExitCode.ok;
  }
  comparisonLines(view.previous, b, view.comparison).forEach((line) => io.out(line));
  return exitFor(view.comparison.verdict);
}

function envQuery(unit: string): string {
  const at = unit.indexOf('@');
  return at < 0 ? '' : `?environment=${encodeURIComponent(unit.slice(at + 1))}`;
}

/** `shipcheck baseline compare A B`: two baselines side by side; exit 7 when B regressed against A. */
export async function baselineCompareCommand(
  a: string,
  b: string,
  opts: GlobalOptions,
  io: Io,
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const query = new URLSearchParams({ a, b });
  const at = service.indexOf('@');
  if (at >= 0) query.set('environment', service.slice(at + 1));
  const name = at < 0 ? service : service.slice(0, at);
  const answer = await client.get(
    `/api/v1/services/${encodeURIComponent(name)}/baselines/compare?${query.toString()}`,
    compareShape,
  );
  if (opts.json) {
    io.out(JSON.stringify(answer, null, 2));
    return exitFor(answer.comparison.verdict);
  }
  comparisonLines(answer.a, answer.b, answer.comparison).forEach((line) => io.out(line));
  return exitFor(answer.comparison.verdict);
}

/** Registers `shipcheck baseline show|compare`. */
export function registerBaselineCommands(program: Command, { io, globals, run }: CommandDeps): void {
  const baseline = program
    .command('baseline')
    .description('performance baselines per release: show, compare');
  baseline
    .command('show [release]')
    .description("the unit's baselines, or one release's (id or version) compared with the previous one")
    .action(run(async (ref: string | undefined) => baselineShowCommand(ref, globals(), io)));
  baseline
    .command('compare <a> <b>')
    .description('two baselines (release ids or versions) side by side; exit 7 when b regressed against a')
    .action(run(async (a: string, b: string) => baselineCompareCommand(a, b, globals(), io)));
}
