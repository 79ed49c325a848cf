/**
 * Reads one line of nginx's JSON access log the way people write the format: values quoted or not,
 * escaped with `escape=json` or nginx's default `\xHH`, with any extra fields, and with nginx's own
 * placeholders (`-`, empty) and lists (`502, 200`) in the upstream variables.
 */

/** The `log_format` to add to nginx.conf's `http` block; the access log must use it (`access_log FILE shipcheck;`). */
export const LOG_FORMAT =
  'log_format shipcheck escape=json \'{"status":"$status","upstream_status":"$upstream_status",' +
  '"upstream_addr":"$upstream_addr","request_time":"$request_time",' +
  '"upstream_response_time":"$upstream_response_time"}\';';

/** The name LOG_FORMAT gives the format, for the `access_log FILE NAME;` line. */
export const LOG_FORMAT_NAME = 'shipcheck';

/** What to add to nginx's config so that `accessLog` is written in a format shipcheck reads. */
export function logFormatAdvice(accessLog: string): string {
  return `add to nginx's http block: ${LOG_FORMAT} and write the log with: access_log ${accessLog} ${LOG_FORMAT_NAME};`;
}

/** The JSON keys the parser reads; each holds the nginx variable of the same name. */
export const FIELDS = {
  status: 'status',
  upstreamStatus: 'upstream_status',
  upstreamAddr: 'upstream_addr',
  requestTime: 'request_time',
  upstreamResponseTime: 'upstream_response_time',
} as const;

/** A key the parser reads. */
export type AccessLogField = (typeof FIELDS)[keyof typeof FIELDS];

/**
 * What a line must carry, as alternatives in order of preference: the first one with a value wins.
 * The upstream variables time and grade the upstream itself, not the client's connection.
 */
export const REQUIRED_FIELDS: readonly (readonly AccessLogField[])[] = [
  [FIELDS.upstreamStatus, FIELDS.status],
  [FIELDS.upstreamResponseTime, FIELDS.requestTime],
  [FIELDS.upstreamAddr],
];

/** One access-log line: what analysis needs from it. */
export interface AccessLogEntry {
  status: number;
  /** The upstream that answered, the last one when nginx tried several. */
  upstreamAddr: string;
  latencyMs: number;
}

/** Why a line cannot be used: a field that is missing or holds something else, or a line that is not JSON. */
export interface LineProblem {
  /** The field at fault; when both of a pair are missing, the client-side one (`status`, `request_time`). */
  field: AccessLogField | 'line';
  problem: 'missing' | 'malformed' | 'not-json' | 'too-long';
  /** The value found, for `malformed`. */
  value?: string;
}

/**
 * A parsed line: a request to count; one to pass over because it carries no upstream (nginx answered
 * it itself) or is blank; or one that cannot be used, with why.
 */
export type ParsedLine =
  | { kind: 'request'; entry: AccessLogEntry }
  | { kind: 'ignored' }
  | { kind: 'unusable'; problem: LineProblem };

const MS_PER_SECOND = 1000;
/** nginx joins the servers it tried with `, ` and internal redirects with ` : `; the last one answered. */
const UPSTREAM_SEPARATOR = /\s*(?:,|\s:\s)\s*/;
/** What nginx writes for an upstream variable with no upstream: `-` by default, nothing with escape=json. */
const NO_VALUE = new Set(['', '-']);
const HTTP_STATUS = /^[1-5]\d\d$/;
const MIN_STATUS = 100;
const MAX_STATUS = 599;
/** Seconds with millisecond resolution, as nginx prints `$request_time`. */
const SECONDS = /^\d+(?:\.\d+)?$/;
/** nginx's default escaping writes `"` as `\x22` and `\` as `\x5C`, which JSON does not know. */
const NGINX_ESCAPE = /\\(\\|x([0-9A-Fa-f]{2}))/g;
const JSON_LITERAL = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;
/** A value longer than this is cut in a message; a field value that long is not a status or a time. */
const MAX_VALUE_CHARS = 24;

type Reading = { kind: 'value'; value: number } | { kind: 'absent' } | { kind: 'malformed'; value: string };

/** Parses one access-log line (a trailing `\r` is fine); never throws. */
export function parseAccessLogLine(line: string): ParsedLine {
  const text = line.trim();
  if (text === '') return { kind: 'ignored' };
  const fields = parseJsonObject(text);
  if (fields === undefined) return unusable({ field: 'line', problem: 'not-json' });

  const rawAddr = fields[FIELDS.upstreamAddr];
  if (rawAddr === undefined || rawAddr === null) {
    return unusable({ field: FIELDS.upstreamAddr, problem: 'missing' });
  }
  if (typeof rawAddr !== 'string') {
    return unusable({ field: FIELDS.upstreamAddr, problem: 'malformed', value: show(rawAddr) });
  }
  const upstreamAddr = lastItem(rawAddr);
  // A request nginx answered itself (a redirect, a static file, a `return`) says nothing of a version.
  if (NO_VALUE.has(upstreamAddr)) return { kind: 'ignored' };

  const status = prefer(
    readList(fields, FIELDS.upstreamStatus, readStatus, lastOf),
    readList(fields, FIELDS.status, readStatus, lastOf),
    FIELDS.upstreamStatus,
    FIELDS.status,
  );
  if ('problem' in status) return unusable(status.problem);
  // Each upstream tried took its own time; the client waited for all of them, so they add up.
  const seconds = prefer(
    readList(fields, FIELDS.upstreamResponseTime, readSeconds, sum),
    readList(fields, FIELDS.requestTime, readSeconds, sum),
    FIELDS.upstreamResponseTime,
    FIELDS.requestTime,
  );
  if ('problem' in seconds) return unusable(seconds.problem);
  return {
    kind: 'request',
    entry: { status: status.value, upstreamAddr, latencyMs: seconds.value * MS_PER_SECOND },
  };
}

/** One line a person can read, such as `"status" is missing` or `"request_time" "abc" is not a number`. */
export function describeLineProblem(problem: LineProblem): string {
  switch (problem.problem) {
    case 'not-json':
      return 'the line is not a JSON object (the access log uses another log_format)';
    case 'too-long':
      return 'the line is longer than any JSON line shipcheck reads';
    case 'missing':
      return `no "${problem.field}" field${alternativeOf(problem.field)}`;
    case 'malformed':
      return `"${problem.field}" ${problem.value ?? ''} is not ${expectedOf(problem.field)}`;
  }
}

function unusable(problem: LineProblem): ParsedLine {
  return { kind: 'unusable', problem };
}

function alternativeOf(field: AccessLogField | 'line'): string {
  const group = REQUIRED_FIELDS.find((fields) => (fields as readonly string[]).includes(field));
  const others = (group ?? []).filter((other) => other !== field);
  return others.length === 0 ? '' : ` (nor ${others.map((other) => `"${other}"`).join(', ')})`;
}

function expectedOf(field: AccessLogField | 'line'): string {
  switch (field) {
    case FIELDS.status:
    case FIELDS.upstreamStatus:
      return 'an HTTP status';
    case FIELDS.requestTime:
    case FIELDS.upstreamResponseTime:
      return 'a number of seconds';
    default:
      return 'text';
  }
}

/** The JSON object on the line, repaired for nginx's default escaping and unquoted variables if need be. */
function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    try {
      parsed = JSON.parse(quoteBareValues(text.replace(NGINX_ESCAPE, unescapeNginx)));
    } catch {
      return undefined;
    }
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

function unescapeNginx(match: string, _escaped: string, hex: string | undefined): string {
  return hex === undefined ? match : `\\u00${hex}`;
}

/**
 * Quotes values written without quotes that are not JSON literals: `"t":$upstream_response_time`
 * comes out as `"t":-`, `"t":` or `"t":0.002, 0.004`. A bare value runs up to the `}` or the `,` that
 * starts the next key, so a list stays one value.
 */
function quoteBareValues(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') {
        out += char + (text[i + 1] ?? '');
        i++;
        continue;
      }
      if (char === '"') inString = false;
      out += char;
      continue;
    }
    if (char === '"') inString = true;
    out += char;
    if (char !== ':') continue;
    let start = i + 1;
    while (start < text.length && /\s/.test(text[start] ?? '')) start++;
    const first = text[start];
    if (first === '"' || first === '{' || first === '[') continue;
    let end = start;
    while (end < text.length && text[end] !== '}' && !(text[end] === ',' && nextKeyFollows(text, end))) end++;
    const bare = text.slice(start, end).trim();
    out += JSON_LITERAL.test(bare) ? bare : JSON.stringify(bare);
    i = end - 1;
  }
  return out;
}

function nextKeyFollows(text: string, comma: number): boolean {
  let next = comma + 1;
  while (next < text.length && /\s/.test(text[next] ?? '')) next++;
  return text[next] === '"';
}

/**
 * Reads a field that nginx may write as a list (one item per upstream tried) item by item, `-` (an
 * upstream that gave no answer) as undefined, and combines the items.
 */
function readList(
  fields: Record<string, unknown>,
  field: AccessLogField,
  readItem: (item: string) => number | undefined,
  combine: (values: (number | undefined)[]) => number | undefined,
): Reading {
  const raw = fields[field];
  if (raw === undefined || raw === null) return { kind: 'absent' };
  if (typeof raw !== 'string' && typeof raw !== 'number') return { kind: 'malformed', value: show(raw) };
  const values: (number | undefined)[] = [];
  for (const item of String(raw).trim().split(UPSTREAM_SEPARATOR)) {
    if (NO_VALUE.has(item)) {
      values.push(undefined);
      continue;
    }
    const value = readItem(item);
    if (value === undefined) return { kind: 'malformed', value: show(raw) };
    values.push(value);
  }
  const value = combine(values);
  return value === undefined ? { kind: 'absent' } : { kind: 'value', value };
}

function readStatus(item: string): number | undefined {
  if (!HTTP_STATUS.test(item)) return undefined;
  const status = Number(item);
  return status >= MIN_STATUS && status <= MAX_STATUS ? status : undefined;
}

function readSeconds(item: string): number | undefined {
  return SECONDS.test(item) ? Number(item) : undefined;
}

/** The status of the last upstream tried: the answer the client got, unless that one gave none. */
function lastOf(values: (number | undefined)[]): number | undefined {
  return values[values.length - 1];
}

function sum(values: (number | undefined)[]): number | undefined {
  const known = values.filter((value): value is number => value !== undefined);
  return known.length === 0 ? undefined : known.reduce((total, value) => total + value, 0);
}

/** The preferred field's value, else the fallback's; else why neither can be used. */
function prefer(
  preferred: Reading,
  fallback: Reading,
  preferredField: AccessLogField,
  fallbackField: AccessLogField,
): { value: number } | { problem: LineProblem } {
  if (preferred.kind === 'value') return { value: preferred.value };
  if (fallback.kind === 'value') return { value: fallback.value };
  if (fallback.kind === 'malformed') {
    return { problem: { field: fallbackField, problem: 'malformed', value: fallback.value } };
  }
  if (preferred.kind === 'malformed') {
    return { problem: { field: preferredField, problem: 'malformed', value: preferred.value } };
  }
  return { problem: { field: fallbackField, problem: 'missing' } };
}

function lastItem(value: string): string {
  return value.trim().split(UPSTREAM_SEPARATOR).pop()?.trim() ?? '';
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}..."` : text;
}
