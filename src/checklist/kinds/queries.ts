import { z } from 'zod';
import { parseDatabase, SQLITE_PREFIX } from '../../app-database/database-target.js';
import {
  readStatementStats,
  StatsStopped,
  type StatsRead,
  type StatsSnapshot,
} from '../../app-database/query-stats.js';
import { duration, percent } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { isPostgresUrl } from '../../util/postgres-url.js';
import { redactUrl } from '../../util/redact.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';
import {
  compareSnapshots,
  formatMs,
  renderComparison,
  topStatements,
  type Comparison,
} from './query-compare.js';

/** Statements kept in a snapshot, most total time first; the rest are too small to matter. */
export const SNAPSHOT_STATEMENTS = 1000;
/** Characters of a statement's text kept in a snapshot. */
const QUERY_CHARS = 200;
/** Characters of a statement's text inside a one-line summary. */
const SUMMARY_QUERY_CHARS = 60;
/** Slower statements named in the summary; the evidence lists all of them. */
const SUMMARY_SLOWER = 3;
/** Slower statements kept in evidence, the costliest first; the count says how many there were. */
const EVIDENCE_SLOWER = 50;

const queriesParamsSchema = z.strictObject({
  phase: z
    .enum(['before', 'after'])
    .prefault('after')
    .describe(
      'before: record a snapshot of pg_stat_statements for this version (at the pre-deploy gate). after: compare with it; without one, record it and say so.',
    ),
  database: z
    .string()
    .refine(
      (text) => isPostgresUrl(text) || (text.startsWith(SQLITE_PREFIX) && text.length > SQLITE_PREFIX.length),
      'expected postgres://... or sqlite:PATH',
    )
    .optional()
    .describe('The PostgreSQL database to read; migrations.database when absent.'),
  top: z.number().int().min(1).max(50).prefault(10).describe('Statements in each top-by-total-time list.'),
  slowerBy: percent
    .prefault('50%')
    .describe('A statement is slower when its mean time grew by more than this since the snapshot.'),
  minCalls: z
    .number()
    .int()
    .min(1)
    .prefault(20)
    .describe('Calls a statement needs before the snapshot and since to be compared.'),
  minIncrease: duration
    .prefault('1ms')
    .describe(
      'The mean must also have grown by at least this much, so jitter of fast statements is ignored.',
    ),
  timeout: duration
    .prefault('30s')
    .describe('Connecting and reading the statistics must finish within this.'),
});

/** Validated `queries` params; durations in ms, slowerBy a fraction. */
export type QueriesParams = z.output<typeof queriesParamsSchema>;

/** The snapshot as stored: the figures and the version it was taken for. */
interface StoredSnapshot extends StatsSnapshot {
  takenAt: number;
  version: string;
}

/**
 * `queries`: the statements of the migrated PostgreSQL database that took the most time before the
 * release and since, from pg_stat_statements, and the ones that got slower. `phase: before` records
 * the snapshot a later `phase: after` run compares with; it is kept in the store per unit, version
 * and database, so it survives a restart.
 */
export const queriesCheck: CheckKind<QueriesParams> = {
  kind: 'queries',
  params: queriesParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const database = params.database ?? context.config.migrations?.database;
    if (database === undefined)
      return inconclusive('no database to read: set migrations.database, or the database param');
    const shown = redactUrl(database);
    const target = parseDatabase(database, context.configDir);
    if (target.kind === 'sqlite') {
      return inconclusive(
        `${shown} is a SQLite database, which has no pg_stat_statements; query statistics need PostgreSQL`,
        { database: shown },
      );
    }
    const snapshots = context.store?.querySnapshots;
    if (snapshots === undefined) return inconclusive('no store to keep the snapshot in', { database: shown });

    const read = await readStats(target.url, params, context);
    if (!read.ok) return inconclusive(`${shown}: ${read.reason}`, { database: shown });
    const now = context.clock.now();
    const unit = context.unit ?? context.service;
    const current: StoredSnapshot = { ...read.snapshot, takenAt: now, version: context.version };
    const record = (): Promise<void> =>
      snapshots.record({ unit, version: context.version, target: shown, takenAt: now, data: current });

    if (params.phase === 'before') {
      await record();
      const top = topStatements(current, params.top);
      return {
        ok: true,
        summary: `recorded ${statementsText(current.statements.length)} of ${current.database} before ${context.version}`,
        value: current.statements.length,
        data: { database: shown, phase: 'before', version: context.version, before: top },
        output: renderComparison({ before: top, after: [], slower: [] }),
      };
    }

    const stored = await snapshots.find(unit, context.version, shown);
    if (stored === undefined) {
      await record();
      const top = topStatements(current, params.top);
      return {
        ok: false,
        inconclusive: true,
        summary: `first snapshot recorded (${statementsText(current.statements.length)} of ${current.database}); the next run compares with it`,
        data: { database: shown, phase: 'after', version: context.version, before: top },
        output: renderComparison({ before: top, after: [], slower: [] }),
      };
    }
    const before = stored.data as StoredSnapshot;
    // The previous version's snapshot bounds "before" to that version's life, when it was recorded.
    const previous = await snapshots.previous(unit, shown, context.version, stored.takenAt);
    const options = {
      top: params.top,
      slowerBy: params.slowerBy,
      minCalls: params.minCalls,
      minIncreaseMs: params.minIncrease,
    };
    const comparison = compareSnapshots(
      before,
      current,
      options,
      previous?.data as StoredSnapshot | undefined,
    );
    return judge(comparison, params, {
      database: shown,
      version: context.version,
      snapshotAt: stored.takenAt,
      beforeFrom: previous === undefined ? 'cumulative' : `since ${previous.version}'s snapshot`,
      since: formatDuration(Math.max(0, now - stored.takenAt)),
    });
  },
};

async function readStats(url: string, params: QueriesParams, context: CheckContext): Promise<StatsRead> {
  const signal = AbortSignal.any([context.signal, AbortSignal.timeout(params.timeout)]);
  try {
    if (signal.aborted) throw new StatsStopped('stopped before it started');
    return await readStatementStats(url, {
      limit: SNAPSHOT_STATEMENTS,
      queryChars: QUERY_CHARS,
      timeoutMs: params.timeout,
      signal,
    });
  } catch (err) {
    const why =
      err instanceof StatsStopped || signal.aborted
        ? context.signal.aborted
          ? 'aborted'
          : `no answer within ${formatDuration(params.timeout)}`
        : errorMessage(err);
    return { ok: false, reason: why };
  }
}

/** Fails on any slower statement; inconclusive when no statement had the calls to compare. */
function judge(
  comparison: Comparison,
  params: QueriesParams,
  about: { database: string; version: string; snapshotAt: number; beforeFrom: string; since: string },
): CheckResult {
  const data = {
    ...about,
    phase: 'after',
    reset: comparison.reset,
    compared: comparison.compared,
    slowerBy: params.slowerBy,
    minCalls: params.minCalls,
    before: comparison.before,
    after: comparison.after,
    slowerCount: comparison.slower.length,
    slower: comparison.slower.slice(0, EVIDENCE_SLOWER),
  };
  const output = renderComparison({ ...comparison, slower: data.slower });
  const resetNote = comparison.reset ? ' (statistics were reset since the snapshot)' : '';
  const bound = `${Math.round(params.slowerBy * 100)}%`;
  if (comparison.slower.length > 0) {
    const named = comparison.slower
      .slice(0, SUMMARY_SLOWER)
      .map(
        (s) =>
          `${label(s.query)} ${formatMs(s.before.meanMs)} -> ${formatMs(s.after.meanMs)} mean (${s.after.calls} calls)`,
      );
    const more = comparison.slower.length - named.length;
    const count = comparison.slower.length === 1 ? '1 query' : `${comparison.slower.length} queries`;
    return {
      ok: false,
      summary: `${count} slower by more than ${bound} in the ${about.since} since ${about.version}'s snapshot${resetNote}: ${named.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      value: comparison.slower.length,
      data,
      output,
    };
  }
  if (comparison.compared === 0) {
    return {
      ok: false,
      inconclusive: true,
      summary: `too few calls to compare: no query ran ${params.minCalls} times both before the snapshot and in the ${about.since} since${resetNote}`,
      value: 0,
      data,
      output,
    };
  }
  const busiest = comparison.after[0];
  return {
    ok: true,
    summary:
      `no query slower by more than ${bound} (${statementsText(comparison.compared)} compared over ${about.since}${resetNote})` +
      (busiest === undefined
        ? ''
        : `; most time since: ${label(busiest.query)} ${formatMs(busiest.totalMs)}`),
    value: 0,
    data,
    output,
  };
}

function inconclusive(summary: string, data?: Record<string, unknown>): CheckResult {
  return { ok: false, inconclusive: true, summary, ...(data === undefined ? {} : { data }) };
}

function statementsText(count: number): string {
  return count === 1 ? '1 statement' : `${count} statements`;
}

function label(query: string): string {
  return query.length > SUMMARY_QUERY_CHARS ? `${query.slice(0, SUMMARY_QUERY_CHARS - 1)}…` : query;
}
