import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';
import { redactUrl } from '../../util/redact.js';
import { isPostgresUrl } from '../../util/postgres-url.js';
import { errorMessage } from '../../errors.js';

const SQLITE_PREFIX = 'sqlite:';
/** Rows kept as evidence; the check still counts every row. */
export const SAMPLE_ROWS = 20;
/** Bytes of the rendered rows kept as output. */
const OUTPUT_BYTES = 4096;
/** Longest query text in a summary. */
const LABEL_CHARS = 80;
/** Bytes of the SQLite runner's stderr kept to explain a crash. */
const STDERR_BYTES = 4096;
const NUMERIC_TEXT = /^-?\d+(\.\d+)?$/;
/** PostgreSQL's bigint, the type of count(*). */
const INT8_OID = 20;
/** A check gathers evidence; it must not change the database, even by a mistaken query. */
const READ_ONLY_SESSION = 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY';

/**
 * Runs one SQLite query in a child process. better-sqlite3 is synchronous: on the main thread a slow
 * query would stall the control plane (and its proxy), and a worker thread cannot be stopped while it
 * is inside SQLite; a process can be killed at once on timeout or abort. CommonJS because `node -e`
 * runs a script; the job arrives over IPC so the query never appears in a process list.
 */
const SQLITE_RUNNER = `
process.once('message', (job) => {
  let db;
  let reply;
  try {
    const Database = require(job.driver);
    db = new Database(job.file, { readonly: true, fileMustExist: true, timeout: job.busyTimeoutMs });
    const statement = db.prepare(job.query);
    if (!statement.reader) {
      statement.run();
      reply = { ok: true, columns: [], rowCount: 0, rows: [] };
    } else {
      statement.raw(true);
      const rows = [];
      let rowCount = 0;
      for (const row of statement.iterate()) {
        if (rowCount < job.sampleRows) rows.push(row);
        rowCount++;
      }
      reply = { ok: true, columns: statement.columns().map((column) => column.name), rowCount, rows };
    }
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (db !== undefined) db.close();
  }
  process.send(reply, () => process.disconnect());
});
`;

const sqlParamsSchema = z
  .strictObject({
    database: z
      .string()
      .refine(
        (text) =>
          isPostgresUrl(text) || (text.startsWith(SQLITE_PREFIX) && text.length > SQLITE_PREFIX.length),
        'expected postgres://... or sqlite:PATH',
      )
      .describe(
        'postgres://user:pass@host/db, or sqlite:PATH (relative to the config file; opened read-only).',
      ),
    query: z.string().trim().min(1).describe('The query; it runs in a read-only session.'),
    expectRows: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Passes when the query returns exactly this many rows.'),
    expect: z
      .union([z.string(), z.number(), z.boolean(), z.null()])
      .optional()
      .describe('Passes when the first column of the first row equals this (numbers compare by value).'),
    expectNonEmpty: z.literal(true).optional().describe('Passes when the query returns at least one row.'),
    timeout: duration.prefault('10s').describe('Connecting and running the query must finish within this.'),
  })
  .superRefine((params, ctx) => {
    const given = ['expectRows', 'expect', 'expectNonEmpty'].filter((key) => Object.hasOwn(params, key));
    if (given.length > 1) {
      ctx.addIssue({ code: 'custom', path: [given[1]!], message: `give one of ${given.join(', ')}` });
    }
  });

/** Validated `sql` params; durations in ms. Without an expectation the query only has to succeed. */
export type SqlParams = z.output<typeof sqlParamsSchema>;

/** What a query returned: every row counted, the first SAMPLE_ROWS kept (each an array of column values). */
interface QueryRows {
  columns: string[];
  rowCount: number;
  rows: unknown[][];
}

/** Thrown inside the check when its signal fires; turned into a summary, never out of run(). */
class Stopped extends Error {}

/** `sql`: a query against PostgreSQL or SQLite returns what is expected (a count, a value, some rows). */
export const sqlCheck: CheckKind<SqlParams> = {
  kind: 'sql',
  params: sqlParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const label = queryLabel(params.query);
    const database = redactUrl(params.database);
    const signal = AbortSignal.any([context.signal, AbortSignal.timeout(params.timeout)]);
    let result: QueryRows;
    try {
      if (signal.aborted) throw new Stopped();
      result = params.database.startsWith(SQLITE_PREFIX)
        ? await querySqlite(
            path.resolve(context.configDir, params.database.slice(SQLITE_PREFIX.length)),
            params,
            signal,
          )
        : await queryPostgres(params.database, params, signal);
    } catch (err) {
      const why =
        err instanceof Stopped || signal.aborted
          ? context.signal.aborted
            ? 'aborted'
            : `no result within ${formatDuration(params.timeout)}`
          : errorMessage(err);
      return { ok: false, summary: `${label}: ${why}`, data: { database } };
    }

    const first = result.rows[0]?.[0];
    const evidence = {
      data: {
        database,
        columns: result.columns,
        rowCount: result.rowCount,
        ...(result.rowCount > 0 ? { firstValue: jsonSafe(first) } : {}),
        rows: result.rows.map((row) => row.map(jsonSafe)),
      },
      output: renderRows(result),
    };
    const count = rowsText(result.rowCount);

    if (params.expectRows !== undefined) {
      const ok = result.rowCount === params.expectRows;
      const summary = ok
        ? `${count} (expected ${params.expectRows})`
        : `${count}, expected ${params.expectRows}`;
      return { ok, summary: `${label}: ${summary}`, value: result.rowCount, ...evidence };
    }
    if (Object.hasOwn(params, 'expect')) {
      const expected = params.expect ?? null;
      const wanted = formatValue(expected);
      if (result.rowCount === 0)
        return { ok: false, summary: `${label}: no rows, expected ${wanted}`, ...evidence };
      const ok = matches(first, expected);
      const got = formatValue(first);
      const value = numericValue(first);
      return {
        ok,
        summary: `${label}: ${got}${ok ? ` (expected ${wanted})` : `, expected ${wanted}`}`,
        ...(value === undefined ? {} : { value }),
        ...evidence,
      };
    }
    if (params.expectNonEmpty) {
      const ok = result.rowCount > 0;
      const summary = ok ? `${count} (expected at least 1)` : 'no rows, expected at least 1';
      return { ok, summary: `${label}: ${summary}`, value: result.rowCount, ...evidence };
    }
    return { ok: true, summary: `${label}: ${count}`, value: result.rowCount, ...evidence };
  },
};

async function queryPostgres(url: string, params: SqlParams, signal: AbortSignal): Promise<QueryRows> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: params.timeout,
    // The server stops the statement too, rather than running on after the check gave up.
    statement_timeout: params.timeout,
    types: { getTypeParser: typeParser as typeof pg.types.getTypeParser },
  });
  // Once connected, a lost connection also fails the pending query; that is where it is reported.
  client.on('error', () => {});
  const work = (async () => {
    await client.connect();
    await client.query(READ_ONLY_SESSION);
    const results = (await client.query({ text: params.query, rowMode: 'array' })) as
      pg.QueryArrayResult | pg.QueryArrayResult[];
    // Several statements in one query give one result each; the last one is the answer.
    const last = Array.isArray(results) ? results.at(-1) : results;
    const rows = (last?.rows ?? []) as unknown[][];
    return {
      columns: last?.fields.map((field) => field.name) ?? [],
      rowCount: rows.length,
      rows: rows.slice(0, SAMPLE_ROWS),
    };
  })();
  try {
    return await untilStopped(work, signal);
  } finally {
    const ending = client.end().catch(() => undefined);
    // On a stop, end() closes the socket in the background; waiting could outlast the timeout.
    if (!signal.aborted) await ending;
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

async function querySqlite(file: string, params: SqlParams, signal: AbortSignal): Promise<QueryRows> {
  try {
    await fs.access(file);
  } catch {
    throw new Error(`database file ${file} does not exist`);
  }
  const child = spawn(process.execPath, ['-e', SQLITE_RUNNER], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    // Keeps bigints and byte arrays intact on their way back.
    serialization: 'advanced',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_BYTES) stderr += chunk.toString();
  });
  const answer = new Promise<QueryRows>((resolve, reject) => {
    child.once('message', (reply: ({ ok: true } & QueryRows) | { ok: false; error: string }) => {
      if (reply.ok) resolve({ columns: reply.columns, rowCount: reply.rowCount, rows: reply.rows });
      else reject(new Error(reply.error));
    });
    child.once('error', reject);
    // 'close', not 'exit': a reply sent just before exiting may still be queued on the IPC channel when
    // 'exit' fires; 'close' comes after every message has been delivered.
    child.once('close', (code, signal) => {
      const last = stderr.trim().split('\n').at(-1);
      reject(new Error(`the SQLite runner exited (${signal ?? code})${last ? `: ${last}` : ''}`));
    });
  });
  child.send({
    // Resolved here: `node -e` would resolve from the process's cwd, not from shipcheck.
    driver: createRequire(import.meta.url).resolve('better-sqlite3'),
    file,
    query: params.query,
    busyTimeoutMs: params.timeout,
    sampleRows: SAMPLE_ROWS,
  });
  try {
    return await untilStopped(answer, signal);
  } finally {
    // After its answer the runner is done; after a stop it may be deep in a query. Either way, end it.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** `work`'s result, or a Stopped rejection as soon as `signal` fires; `work` failing later is ignored. */
function untilStopped<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Stopped());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Whether a database value equals what the config says; numbers compare by value across types. */
function matches(actual: unknown, expected: string | number | boolean | null): boolean {
  if (expected === null) return actual === null || actual === undefined;
  if (typeof expected === 'number') {
    if (typeof actual === 'number' || typeof actual === 'bigint') return Number(actual) === expected;
    // PostgreSQL sends bigint (count(*)) and numeric as text to keep their precision.
    return typeof actual === 'string' && actual.trim() !== '' && Number(actual) === expected;
  }
  if (typeof expected === 'boolean') {
    // SQLite has no boolean type: it stores 1 and 0.
    return (
      actual === expected ||
      ((typeof actual === 'number' || typeof actual === 'bigint') && Number(actual) === Number(expected))
    );
  }
  if (actual instanceof Date) return actual.toISOString() === expected;
  if (typeof actual === 'number' || typeof actual === 'bigint') return String(actual) === expected;
  return actual === expected;
}

/** The value as a number when it is one (PostgreSQL numeric arrives as text); else undefined. */
function numericValue(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && NUMERIC_TEXT.test(value)) return Number(value);
  return undefined;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value === undefined) return 'nothing';
  return String(value);
}

/** A value that survives JSON: dates as ISO text, bigints and bytes as text. */
function jsonSafe(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return value;
}

function renderRows(result: QueryRows): string {
  const lines = [
    result.columns.join('\t'),
    ...result.rows.map((row) => row.map((v) => formatValue(jsonSafe(v))).join('\t')),
  ];
  if (result.rowCount > result.rows.length)
    lines.push(`[... ${result.rowCount - result.rows.length} more rows]`);
  const text = lines.join('\n');
  return text.length > OUTPUT_BYTES ? `${text.slice(0, OUTPUT_BYTES)}\n[... cut]` : text;
}

function rowsText(count: number): string {
  if (count === 0) return 'no rows';
  return count === 1 ? '1 row' : `${count} rows`;
}

function queryLabel(query: string): string {
  const text = query.replace(/\s+/g, ' ').trim();
  return text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
}
