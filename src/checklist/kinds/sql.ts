import { z } from 'zod';
import { parseDatabase, SQLITE_PREFIX } from '../../app-database/database-target.js';
import { queryPostgres, querySqlite, QueryStopped, type QueryRows } from '../../app-database/query.js';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';
import { redactUrl } from '../../util/redact.js';
import { isPostgresUrl } from '../../util/postgres-url.js';
import { errorMessage } from '../../errors.js';

/** Rows kept as evidence; the check still counts every row. */
export const SAMPLE_ROWS = 20;
/** Bytes of the rendered rows kept as output. */
const OUTPUT_BYTES = 4096;
/** Longest query text in a summary. */
const LABEL_CHARS = 80;
const NUMERIC_TEXT = /^-?\d+(\.\d+)?$/;

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

/** `sql`: a query against PostgreSQL or SQLite returns what is expected (a count, a value, some rows). */
export const sqlCheck: CheckKind<SqlParams> = {
  kind: 'sql',
  params: sqlParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const label = queryLabel(params.query);
    const database = redactUrl(params.database);
    const signal = AbortSignal.any([context.signal, AbortSignal.timeout(params.timeout)]);
    const options = { sampleRows: SAMPLE_ROWS, timeoutMs: params.timeout, signal };
    let result: QueryRows;
    try {
      if (signal.aborted) throw new QueryStopped('stopped before it started');
      const target = parseDatabase(params.database, context.configDir);
      result =
        target.kind === 'sqlite'
          ? await querySqlite(target.file, params.query, options)
          : await queryPostgres(target.url, params.query, options);
    } catch (err) {
      const why =
        err instanceof QueryStopped || signal.aborted
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
