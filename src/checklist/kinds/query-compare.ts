/**
 * The arithmetic of the `queries` check: which statements took the most time before a release and
 * since, and which got slower. Pure functions over two pg_stat_statements snapshots.
 */
import type { StatementStat, StatsSnapshot } from '../../app-database/query-stats.js';

/** A statement's figures over a span: cumulative before the release, or the delta since. */
export interface StatementFigures {
  queryid: string;
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
}

/** A statement whose mean time grew beyond the bound, with both figures. */
export interface SlowerStatement {
  queryid: string;
  query: string;
  before: { calls: number; meanMs: number };
  after: { calls: number; meanMs: number };
  /** (after mean / before mean) - 1: 0.5 is 50% slower. */
  growth: number;
  /** Time the slowdown cost over the after span: (after mean - before mean) x after calls. */
  extraMs: number;
}

/** What makes a statement count as slower. */
export interface CompareOptions {
  /** How many statements each top list keeps. */
  top: number;
  /** The growth of the mean beyond which a statement is slower (0.5 = 50%). */
  slowerBy: number;
  /** Calls a statement needs in both spans to be compared at all. */
  minCalls: number;
  /** The mean must also have grown by at least this many ms, so microsecond jitter is not a slowdown. */
  minIncreaseMs: number;
}

/** The comparison: both top lists, the slower statements, and how many statements could be compared. */
export interface Comparison {
  before: StatementFigures[];
  after: StatementFigures[];
  slower: SlowerStatement[];
  /** Statements with at least minCalls calls in both spans. */
  compared: number;
  /** The figures were reset between the snapshots: the after span counts from the reset. */
  reset: boolean;
}

/**
 * The figures of the span between an earlier snapshot and a later one: what ran under the previous
 * version when `earlier` is that version's own snapshot. A statement the earlier one lacks, or whose
 * counters went back, keeps its cumulative figures; after a reset of everything, all of them do.
 */
export function spanBetween(earlier: StatsSnapshot, later: StatsSnapshot): StatsSnapshot {
  if (earlier.statsReset !== later.statsReset) return later;
  const byId = new Map(earlier.statements.map((s) => [s.queryid, s]));
  const statements = later.statements.map((statement) => {
    const start = byId.get(statement.queryid);
    return start === undefined ? statement : { ...statement, ...delta(statement, start) };
  });
  return { ...later, statements: statements.filter((s) => s.calls > 0) };
}

/**
 * Compares the snapshot taken before the release (`before`) with one taken now (`now`): the span
 * since `before` is "after". "Before" is the span between the previous version's snapshot
 * (`previous`) and `before` when there is one, so each version is judged on its own life; without
 * it, the cumulative figures in `before`.
 */
export function compareSnapshots(
  before: StatsSnapshot,
  now: StatsSnapshot,
  options: CompareOptions,
  previous?: StatsSnapshot,
): Comparison {
  const beforeSpan = previous === undefined ? before : spanBetween(previous, before);
  const start = matcher(before);
  const baseline = matcher(beforeSpan);
  // Reset since the snapshot: every counter started again, so today's figures are the after span.
  const reset = before.statsReset !== now.statsReset && now.statsReset !== null;
  const after: StatementFigures[] = [];
  const slower: SlowerStatement[] = [];
  let compared = 0;
  for (const current of now.statements) {
    const earlier = start(current);
    const span = reset || earlier === undefined ? current : delta(current, earlier);
    if (span.calls > 0) after.push(figures(current, span.calls, span.totalMs));
    const base = baseline(current);
    if (base === undefined || base.calls < options.minCalls || span.calls < options.minCalls) continue;
    compared += 1;
    const beforeMean = base.totalMs / base.calls;
    const afterMean = span.totalMs / span.calls;
    const growth = beforeMean > 0 ? afterMean / beforeMean - 1 : Number.POSITIVE_INFINITY;
    if (growth > options.slowerBy && afterMean - beforeMean >= options.minIncreaseMs) {
      slower.push({
        queryid: current.queryid,
        query: current.query,
        before: { calls: base.calls, meanMs: beforeMean },
        after: { calls: span.calls, meanMs: afterMean },
        growth,
        extraMs: (afterMean - beforeMean) * span.calls,
      });
    }
  }
  after.sort((a, b) => b.totalMs - a.totalMs);
  slower.sort((a, b) => b.extraMs - a.extraMs);
  return {
    before: topStatements(beforeSpan, options.top),
    after: after.slice(0, options.top),
    slower,
    compared,
    reset,
  };
}

/**
 * Finds a statement of `snapshot` by queryid, else by text: a statement keeps its queryid while the
 * objects it names keep their oids, and a table rebuilt by a migration gives it a new one.
 */
function matcher(snapshot: StatsSnapshot): (statement: StatementStat) => StatementStat | undefined {
  const byId = new Map(snapshot.statements.map((s) => [s.queryid, s]));
  const byText = new Map(snapshot.statements.map((s) => [s.query, s]));
  return (statement) => byId.get(statement.queryid) ?? byText.get(statement.query);
}

/** The top statements of one snapshot by total time (a first snapshot's evidence). */
export function topStatements(snapshot: StatsSnapshot, top: number): StatementFigures[] {
  return [...snapshot.statements]
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, top)
    .map((s) => figures(s, s.calls, s.totalMs));
}

/** Calls and time between two readings; a statement whose counters went back was reset or evicted. */
function delta(current: StatementStat, earlier: StatementStat): { calls: number; totalMs: number } {
  if (current.calls < earlier.calls) return current;
  return { calls: current.calls - earlier.calls, totalMs: Math.max(0, current.totalMs - earlier.totalMs) };
}

function figures(statement: StatementStat, calls: number, totalMs: number): StatementFigures {
  return {
    queryid: statement.queryid,
    query: statement.query,
    calls,
    totalMs,
    meanMs: calls > 0 ? totalMs / calls : 0,
  };
}

/** A time in ms for a summary: 0.042ms, 5.1ms, 1.2s. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(1))}s`;
  if (ms >= 10) return `${Math.round(ms)}ms`;
  if (ms >= 1) return `${Number(ms.toFixed(1))}ms`;
  return `${Number(ms.toPrecision(2))}ms`;
}

/** The lists as text for the evidence output. */
export function renderComparison(comparison: Pick<Comparison, 'before' | 'after' | 'slower'>): string {
  const lines: string[] = [];
  const list = (title: string, rows: StatementFigures[]): void => {
    lines.push(title);
    if (rows.length === 0) lines.push('  (none)');
    for (const row of rows) {
      lines.push(
        `  ${formatMs(row.totalMs).padStart(8)} total  ${String(row.calls).padStart(8)} calls  ` +
          `${formatMs(row.meanMs).padStart(8)} mean  ${row.query}`,
      );
    }
  };
  if (comparison.slower.length > 0) {
    lines.push('Slower');
    for (const row of comparison.slower) {
      lines.push(
        `  ${formatMs(row.before.meanMs)} -> ${formatMs(row.after.meanMs)} mean ` +
          `(+${Math.round(row.growth * 100)}%; ${row.before.calls} calls before, ${row.after.calls} since)  ${row.query}`,
      );
    }
  }
  list('Top by total time before the release', comparison.before);
  if (comparison.after.length > 0 || comparison.slower.length > 0)
    list('Top by total time since', comparison.after);
  return lines.join('\n');
}
