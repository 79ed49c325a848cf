/**
 * The SQL check's session: one query against the user's PostgreSQL database or SQLite file, in a
 * read-only session, stopped when the caller's signal fires. SQLite queries run in the SQLite runner
 * (sqlite-client.ts); the check itself, with its expectations and evidence, is
 * src/checklist/kinds/sql.ts.
 */
import fs from 'node:fs/promises';
import pg from 'pg';
import { InputError, ShipcheckError } from '../errors.js';
import { abortable } from './abortable.js';
import { SqliteRunner, type QueryRows } from './sqlite-client.js';

export type { QueryRows } from './sqlite-client.js';

/** PostgreSQL's bigint, the type of count(*). */
const INT8_OID = 20;
/** A check gathers evidence; it must not change the database, even by a mistaken query. */
const READ_ONLY_SESSION = 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY';

/** Options of a query: the rows kept, the time allowed, and the caller's stop. */
export interface QueryOptions {
  /** Rows kept as evidence; every row is still counted. */
  sampleRows: number;
  /** Bounds connecting and the statement on the server (PostgreSQL) or the wait for a lock (SQLite). */
  timeoutMs: number;
  signal: AbortSignal;
}

/** Rejects a query once its signal has fired; whatever ran is stopped or left to end on its own. */
export class QueryStopped extends ShipcheckError {}

/** Runs `query` on the PostgreSQL database at `url` in a read-only session. */
export async function queryPostgres(url: string, query: string, options: QueryOptions): Promise<QueryRows> {
  const { signal } = options;
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: options.timeoutMs,
    // The server stops the statement too, rather than running on after the check gave up.
    statement_timeout: options.timeoutMs,
    types: { getTypeParser: typeParser as typeof pg.types.getTypeParser },
  });
  // Once connected, a lost connection also fails the pending query; that is where it is reported.
  client.on('error', () => {});
  const work = (async () => {
    await client.connect();
    await client.query(READ_ONLY_SESSION);
    const results = (await client.query({ text: query, rowMode: 'array' })) as
      pg.QueryArrayResult | pg.QueryArrayResult[];
    // Several statements in one query give one result each; the last one is the answer.
    const last = Array.isArray(results) ? results.at(-1) : results;
    const rows = (last?.rows ?? []) as unknown[][];
    return {
      columns: last?.fields.map((field) => field.name) ?? [],
      rowCount: rows.length,
      rows: rows.slice(0, options.sampleRows),
    };
  })();
  try {
    return await abortable(work, signal, () => new QueryStopped('stopped'));
  } finally {
    const ending = client.end().catch(() => undefined);
    // On a stop, end() closes the socket in the background; waiting could outlast the timeout.
    if (!signal.aborted) await ending;
  }
}

/** Runs `query` on the SQLite file `file`, which must exist, opened read-only in a SQLite runner. */
export async function querySqlite(file: string, query: string, options: QueryOptions): Promise<QueryRows> {
  const { signal } = options;
  try {
    await fs.access(file);
  } catch {
    throw new InputError(`database file ${file} does not exist`);
  }
  let runner: SqliteRunner | undefined;
  try {
    runner = await SqliteRunner.open(file, { readonly: true, busyTimeoutMs: options.timeoutMs, signal });
    return await runner.request({ op: 'query', sql: query, sampleRows: options.sampleRows });
  } catch (err) {
    throw signal.aborted ? new QueryStopped('stopped') : err;
  } finally {
    // After its answer the runner is done; after a stop it may be deep in a query and is killed.
    await runner?.close();
  }
}

/**
 * Reads bigint as a number when it fits, so `count(*)` shows as 42 rather than "42"; larger values
 * stay text. Per client: pg's global parsers belong to whoever else uses pg in the process.
 */
function typeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
  if (oid === INT8_OID && format !== 'binary') {
    return (text) => {
      const number = Number(text);
      return Number.isSafeInteger(number) ? number : text;
    };
  }
  return pg.types.getTypeParser(oid, format);
}
