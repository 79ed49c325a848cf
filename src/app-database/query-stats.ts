/**
 * Reads the per-statement figures of PostgreSQL's pg_stat_statements for the database a URL names,
 * in a read-only session: calls and total execution time per query, summed over users. The
 * `queries` check (src/checklist/kinds/queries.ts) snapshots and compares them.
 */
import pg from 'pg';
import { errorMessage, ShipcheckError } from '../errors.js';
import { abortable } from './abortable.js';

/** The extension's name, as in CREATE EXTENSION and shared_preload_libraries. */
export const EXTENSION = 'pg_stat_statements';
/** PostgreSQL 13 renamed total_time to total_exec_time. */
const EXEC_TIME_RENAMED_IN = 130_000;
/** pg_stat_statements_info (with stats_reset) arrived in PostgreSQL 14. */
const INFO_VIEW_SINCE = 140_000;
/** SQLSTATE of "pg_stat_statements must be loaded via shared_preload_libraries". */
const NOT_LOADED = '55000';

/** One normalised statement's cumulative figures. */
export interface StatementStat {
  /** pg_stat_statements' queryid, as text (it is a bigint). */
  queryid: string;
  /** The normalised query text, cut to the reader's limit. */
  query: string;
  calls: number;
  totalMs: number;
}

/** The figures of one database at one moment. */
export interface StatsSnapshot {
  /** current_database() */
  database: string;
  /** server_version_num, e.g. 150004. */
  serverVersion: number;
  /** When the figures were last reset (ms since the epoch); null when unknown (PostgreSQL before 14). */
  statsReset: number | null;
  /** The statements with the most total time first, at most the reader's limit. */
  statements: StatementStat[];
}

/** The figures, or why the database cannot give them (the extension missing or not loaded). */
export type StatsRead = { ok: true; snapshot: StatsSnapshot } | { ok: false; reason: string };

/** Options of a read: how many statements, how much query text, the time allowed, the caller's stop. */
export interface StatsOptions {
  limit: number;
  queryChars: number;
  timeoutMs: number;
  signal: AbortSignal;
}

/** Rejects a read once its signal has fired. */
export class StatsStopped extends ShipcheckError {}

interface Probe {
  database: string;
  version: number;
  preload: string;
  schema: string | null;
}

/** The pg_stat_statements figures of the database at `url`; connection failures throw. */
export async function readStatementStats(url: string, options: StatsOptions): Promise<StatsRead> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: options.timeoutMs,
    statement_timeout: options.timeoutMs,
  });
  // Once connected, a lost connection fails the pending query; that is where it is reported.
  client.on('error', () => {});
  const work = (async (): Promise<StatsRead> => {
    await client.connect();
    await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    const probe = (
      await client.query<Probe>(
        `SELECT current_database() AS database,
                current_setting('server_version_num')::int AS version,
                current_setting('shared_preload_libraries') AS preload,
                (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                  WHERE e.extname = $1) AS schema`,
        [EXTENSION],
      )
    ).rows[0];
    if (probe === undefined) throw new Error('the server sent no row for its settings');
    if (probe.schema === null)
      return { ok: false, reason: missingReason(probe.database, preloads(probe.preload)) };
    // Whether it is loaded, the server says best: reading the view fails with NOT_LOADED otherwise.
    const view = `${quoteIdent(probe.schema)}.${EXTENSION}`;
    const timeColumn = probe.version >= EXEC_TIME_RENAMED_IN ? 'total_exec_time' : 'total_time';
    let rows: { queryid: string; query: string; calls: number; total_ms: number }[];
    try {
      rows = (
        await client.query<{ queryid: string; query: string; calls: number; total_ms: number }>(
          // Summed over users and top-level flags: one line per normalised statement of this database.
          // The check's own reads mention the view, and are left out.
          `SELECT queryid::text AS queryid, left(min(query), $1) AS query,
                  sum(calls)::float8 AS calls, sum(${timeColumn})::float8 AS total_ms
             FROM ${view}
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND queryid IS NOT NULL AND query NOT LIKE '%${EXTENSION}%'
            GROUP BY queryid
            ORDER BY total_ms DESC
            LIMIT $2`,
          [options.queryChars, options.limit],
        )
      ).rows;
    } catch (err) {
      if ((err as { code?: string }).code === NOT_LOADED)
        return { ok: false, reason: notLoadedReason(probe.database) };
      throw err;
    }
    let statsReset: number | null = null;
    if (probe.version >= INFO_VIEW_SINCE) {
      const info = await client.query<{ reset: Date | null }>(
        `SELECT stats_reset AS reset FROM ${quoteIdent(probe.schema)}.pg_stat_statements_info`,
      );
      statsReset = info.rows[0]?.reset?.getTime() ?? null;
    }
    return {
      ok: true,
      snapshot: {
        database: probe.database,
        serverVersion: probe.version,
        statsReset,
        statements: rows.map((row) => ({
          queryid: row.queryid,
          query: row.query.replace(/\s+/g, ' ').trim(),
          calls: Number(row.calls),
          totalMs: Number(row.total_ms),
        })),
      },
    };
  })();
  try {
    return await abortable(work, options.signal, () => new StatsStopped('stopped'));
  } catch (err) {
    if (err instanceof StatsStopped) throw err;
    throw new ShipcheckError(errorMessage(err), { cause: err });
  } finally {
    const ending = client.end().catch(() => undefined);
    // On a stop, end() closes the socket in the background; waiting could outlast the timeout.
    if (!options.signal.aborted) await ending;
  }
}

/** Whether shared_preload_libraries names the extension (a list of names, maybe quoted). */
function preloads(setting: string): boolean {
  return setting
    .split(',')
    .map((name) => name.trim().replace(/^"|"$/g, ''))
    .includes(EXTENSION);
}

function notLoadedReason(database: string): string {
  return (
    `${EXTENSION} is not loaded on this server: add it to shared_preload_libraries in postgresql.conf ` +
    `(shared_preload_libraries = '${EXTENSION}') and restart PostgreSQL (database ${database})`
  );
}

function missingReason(database: string, loaded: boolean): string {
  const create = `run CREATE EXTENSION ${EXTENSION}; in database ${database}`;
  return loaded
    ? `${EXTENSION} is not installed in database ${database}: ${create}`
    : `${EXTENSION} is not set up: add it to shared_preload_libraries in postgresql.conf ` +
        `(shared_preload_libraries = '${EXTENSION}'), restart PostgreSQL, then ${create}`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
