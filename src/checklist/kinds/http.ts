import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { VERSION_HEADER } from '../../providers/traffic/proxy/proxy-router.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';
import { redactUrl } from '../../util/redact.js';

/** Bytes of a response body kept in evidence; the start, where error messages and JSON keys are. */
export const BODY_EXCERPT_BYTES = 4096;
/** Bytes of a response body read at most; the rest is cut so a huge response cannot exhaust memory. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The range of statuses that pass when `expectStatus` is absent: success and redirects. */
const DEFAULT_STATUS_MIN = 200;
const DEFAULT_STATUS_MAX = 399;
const STATUS_MIN = 100;
const STATUS_MAX = 599;
/** Longest rendering of a JSON value inside a summary. */
const VALUE_PREVIEW_CHARS = 60;
/** Response headers copied into evidence data; others are noise for a person reading it. */
const EVIDENCE_HEADERS = [
  'content-type',
  'content-length',
  'location',
  'cache-control',
  'server',
  'x-shipcheck-served-by',
];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const REGEX_LITERAL = /^\/(.+)\/([dgimsuy]*)$/;
const JSON_PATH_STEP = /\.([^.[\]]+)|\[(\d+)\]/y;

/** Which version a request is forced to through the proxy. */
export type Target = 'canary' | 'stable';

/** One step of a JSON path: an object key or an array index. */
export type JsonPathSegment = string | number;

/** Parses the supported JSON-path subset (`$`, `.key`, `[n]`); undefined when the path is outside it. */
export function parseJsonPath(path: string): JsonPathSegment[] | undefined {
  if (!path.startsWith('$')) return undefined;
  const segments: JsonPathSegment[] = [];
  let index = 1;
  while (index < path.length) {
    JSON_PATH_STEP.lastIndex = index;
    const match = JSON_PATH_STEP.exec(path);
    if (!match) return undefined;
    segments.push(match[1] ?? Number(match[2]));
    index = JSON_PATH_STEP.lastIndex;
  }
  return segments;
}

/** The value at `path` in `document`; `found: false` when any step is missing or the path is invalid. */
export function readJsonPath(
  document: unknown,
  path: string,
): { found: true; value: unknown } | { found: false } {
  const segments = parseJsonPath(path);
  if (segments === undefined) return { found: false };
  let current = document;
  for (const segment of segments) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current) || segment >= current.length) return { found: false };
      current = current[segment];
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return { found: false };
      if (!Object.hasOwn(current, segment)) return { found: false };
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return { found: true, value: current };
}

/** A JSON path in the supported subset, e.g. `$.items[0].id`. */
export const jsonPath = z
  .string()
  .refine((path) => parseJsonPath(path) !== undefined, 'expected a JSON path such as $.items[0].id')
  .describe('A JSON path: $ then .key and [n] steps, e.g. $.items[0].id.');

const statusCode = z
  .number()
  .int()
  .min(STATUS_MIN, `a status is ${STATUS_MIN}-${STATUS_MAX}`)
  .max(STATUS_MAX, `a status is ${STATUS_MIN}-${STATUS_MAX}`);

/** Accepted response status: one code or a list; absent means 200-399. */
export const expectStatusSchema = z
  .union([statusCode, z.array(statusCode).min(1)])
  .optional()
  .describe('Accepted status code, or a list of them; when absent any 200-399 passes.');

/** A substring the body must contain, or `/regex/flags` it must match. */
export const expectBodySchema = z
  .string()
  .min(1)
  .refine((text) => {
    const literal = REGEX_LITERAL.exec(text);
    if (!literal) return true;
    try {
      new RegExp(literal[1] ?? '', literal[2]);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression')
  .optional()
  .describe('Text the body must contain, or /regex/ (with optional flags) it must match.');

const jsonExpectation = z.strictObject({
  path: jsonPath,
  equals: z.unknown().optional().describe('The value at path must deep-equal this.'),
  exists: z
    .boolean()
    .optional()
    .describe('true: the path must be present (the default without equals); false: it must be absent.'),
});

/** Assertions on the JSON body; each passes or names what it found. */
export const expectJsonSchema = z
  .array(jsonExpectation)
  .optional()
  .describe('Assertions on the JSON body: [{path, equals?, exists?}].');

/** An assertion on a JSON body. */
export type JsonExpectation = z.output<typeof jsonExpectation>;

/** The HTTP methods a check may send. */
export const methodSchema = z.enum(METHODS).prefault('GET').describe('HTTP method.');

/** Request headers, name to value. */
export const headersSchema = z
  .record(z.string(), z.string())
  .prefault({})
  .describe('Request headers, name to value.');

/** Forces the version that serves the request through the proxy. */
export const targetSchema = z
  .enum(['canary', 'stable'])
  .optional()
  .describe(
    `Send through the built-in proxy with ${VERSION_HEADER} so the canary or the stable version answers, whatever the weight. Needs a path url.`,
  );

/** True for an absolute http(s) URL. */
export function isAbsoluteHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

const httpParamsSchema = z
  .strictObject({
    url: z
      .string()
      .refine(
        (url) => url.startsWith('/') || isAbsoluteHttpUrl(url),
        'expected an absolute http(s) URL or a path starting with /',
      )
      .describe("Absolute http(s) URL, or a path starting with / sent to the service's proxy."),
    method: methodSchema,
    headers: headersSchema,
    body: z.string().optional().describe('Request body, sent as is.'),
    target: targetSchema,
    expectStatus: expectStatusSchema,
    expectBody: expectBodySchema,
    expectJson: expectJsonSchema,
    maxLatency: duration.optional().describe('Fails when the whole response takes longer than this.'),
    timeout: duration.prefault('10s').describe('Gives up on the request after this long.'),
  })
  .superRefine((params, ctx) => {
    if (params.target !== undefined && !params.url.startsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'target needs a path url such as /healthz' });
    }
  });

/** Validated `http` params; durations in ms. */
export type HttpParams = z.output<typeof httpParamsSchema>;

/** A request as sent: absolute URL, upper-case method. */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

/** A response as read; `body` is at most MAX_BODY_BYTES (`truncated` says when it was cut). */
export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  truncated: boolean;
  latencyMs: number;
}

/** What came of a request: a reply, or a one-line reason there is none. */
export type HttpOutcome = ({ ok: true } & HttpReply) | { ok: false; error: string; latencyMs: number };

/** The expectations a reply is held to. */
export interface ReplyExpectations {
  expectStatus?: number | number[] | undefined;
  expectBody?: string | undefined;
  expectJson?: JsonExpectation[] | undefined;
}

/**
 * Resolves a path against the proxy and adds the headers that force `target` (the version header
 * and, for the proxy only, the force token); absolute URLs pass through.
 */
export function prepareRequest(
  request: { method: string; url: string; headers: Record<string, string>; body?: string | undefined },
  target: Target | undefined,
  context: CheckContext,
): HttpRequest {
  const url = request.url.startsWith('/') ? new URL(request.url, context.proxyUrl).href : request.url;
  let headers = request.headers;
  if (target !== undefined) {
    // The token goes only to the proxy: an absolute URL gets the version header alone.
    const force =
      request.url.startsWith('/') && context.proxyForceHeaders !== undefined
        ? context.proxyForceHeaders(target)
        : { [VERSION_HEADER]: target };
    headers = { ...request.headers, ...force };
  }
  return { method: request.method, url, headers, body: request.body };
}

/**
 * Sends one request on a fresh connection and reads the body (up to MAX_BODY_BYTES). Never rejects:
 * connection errors and an abort of `signal` come back as `ok: false` with a one-line reason, where
 * `abortReason()` words the abort (a timeout or the release moving on).
 */
export function sendHttpRequest(
  request: HttpRequest,
  signal: AbortSignal,
  abortReason: () => string,
): Promise<HttpOutcome> {
  const startedAt = performance.now();
  const elapsed = (): number => Math.round(performance.now() - startedAt);
  return new Promise<HttpOutcome>((resolve) => {
    const fail = (err: unknown): void => {
      resolve({
        ok: false,
        error: signal.aborted ? abortReason() : errorMessage(err),
        latencyMs: elapsed(),
      });
    };
    if (signal.aborted) return fail(undefined);
    const url = new URL(request.url);
    const headers = { ...request.headers };
    if (request.body !== undefined && !hasHeader(headers, 'content-length')) {
      headers['Content-Length'] = String(Buffer.byteLength(request.body));
    }
    // A fresh connection per check: pooled sockets would outlive the check and hide connect failures.
    const client = url.protocol === 'https:' ? https : http;
    let req: http.ClientRequest;
    try {
      req = client.request(url, { method: request.method, headers, signal, agent: false });
    } catch (err) {
      // Invalid header names or values are refused before anything is sent.
      return fail(err);
    }
    req.on('error', fail);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const done = (): void =>
        resolve({
          ok: true,
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          truncated,
          latencyMs: elapsed(),
        });
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        const room = MAX_BODY_BYTES - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          truncated = true;
          // Resolve before destroying: destroy() reports the cut as an abort, which is not a failure here.
          done();
          res.destroy();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', done);
      res.on('error', fail);
      res.on('aborted', () => fail(new Error('response cut short')));
    });
    req.end(request.body);
  });
}

/** The first expectation `reply` breaks, worded for a summary (`expected 201, got 500`); undefined when all pass. */
export function checkReply(reply: HttpReply, expectations: ReplyExpectations): string | undefined {
  const statusProblem = checkStatus(reply.status, expectations.expectStatus);
  if (statusProblem !== undefined) return statusProblem;
  if (expectations.expectBody !== undefined) {
    const literal = REGEX_LITERAL.exec(expectations.expectBody);
    if (literal) {
      if (!new RegExp(literal[1] ?? '', literal[2]).test(reply.body)) {
        return `got ${reply.status} but the body does not match ${expectations.expectBody}`;
      }
    } else if (!reply.body.includes(expectations.expectBody)) {
      return `got ${reply.status} but the body does not contain ${JSON.stringify(expectations.expectBody)}`;
    }
  }
  if (expectations.expectJson !== undefined && expectations.expectJson.length > 0) {
    const parsed = parseJsonBody(reply);
    if (!parsed.ok) return `got ${reply.status} but ${parsed.error}`;
    for (const expectation of expectations.expectJson) {
      const problem = checkJson(parsed.value, expectation);
      if (problem !== undefined) return `got ${reply.status} but ${problem}`;
    }
  }
  return undefined;
}

/** The reply's body as JSON, or why it is not JSON. */
export function parseJsonBody(reply: HttpReply): { ok: true; value: unknown } | { ok: false; error: string } {
  if (reply.truncated)
    return { ok: false, error: `the body is over ${MAX_BODY_BYTES} bytes, too big to parse` };
  try {
    return { ok: true, value: JSON.parse(reply.body) as unknown };
  } catch {
    return { ok: false, error: 'the body is not JSON' };
  }
}

/** The first `BODY_EXCERPT_BYTES` of a body, marked when cut. */
export function bodyExcerpt(body: string): string {
  const bytes = Buffer.from(body, 'utf8');
  if (bytes.length <= BODY_EXCERPT_BYTES) return body;
  return `${bytes.subarray(0, BODY_EXCERPT_BYTES).toString('utf8')}\n[... ${bytes.length - BODY_EXCERPT_BYTES} more bytes]`;
}

/** The evidence-worthy subset of response headers, single-valued. */
export function headerSubset(headers: IncomingHttpHeaders): Record<string, string> {
  const subset: Record<string, string> = {};
  for (const name of EVIDENCE_HEADERS) {
    const value = headers[name];
    if (value !== undefined) subset[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return subset;
}

/** A JSON value shortened for a summary. */
export function previewValue(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > VALUE_PREVIEW_CHARS ? `${text.slice(0, VALUE_PREVIEW_CHARS - 1)}…` : text;
}

/** Combines the release's signal with a timeout, and words why the result was aborted. */
export function deadline(
  signal: AbortSignal,
  timeoutMs: number,
): { signal: AbortSignal; reason: (what: string) => string } {
  return {
    signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    // The caller's signal wins: when both fired, the release moved on and the timeout is beside the point.
    reason: (what) => (signal.aborted ? 'aborted' : `${what} within ${formatDuration(timeoutMs)}`),
  };
}

function checkStatus(status: number, expected: number | number[] | undefined): string | undefined {
  if (expected === undefined) {
    return status >= DEFAULT_STATUS_MIN && status <= DEFAULT_STATUS_MAX
      ? undefined
      : `expected ${DEFAULT_STATUS_MIN}-${DEFAULT_STATUS_MAX}, got ${status}`;
  }
  const accepted = Array.isArray(expected) ? expected : [expected];
  if (accepted.includes(status)) return undefined;
  const wording =
    accepted.length === 1 ? String(accepted[0]) : `${accepted.slice(0, -1).join(', ')} or ${accepted.at(-1)}`;
  return `expected ${wording}, got ${status}`;
}

function checkJson(document: unknown, expectation: JsonExpectation): string | undefined {
  const found = readJsonPath(document, expectation.path);
  if (expectation.exists === false) {
    return found.found
      ? `${expectation.path} is present (${previewValue(found.value)}), expected absent`
      : undefined;
  }
  if (!found.found) return `${expectation.path} is missing`;
  // `equals: null` is a real expectation, so presence of the key decides, not its value.
  if (!Object.hasOwn(expectation, 'equals')) return undefined;
  if (isDeepStrictEqual(found.value, expectation.equals)) return undefined;
  return `${expectation.path} is ${previewValue(found.value)}, expected ${previewValue(expectation.equals)}`;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** The label a summary starts with: `GET http://127.0.0.1:8080/healthz (canary)`. */
export function requestLabel(request: HttpRequest, target: Target | undefined): string {
  return `${request.method} ${redactUrl(request.url)}${target === undefined ? '' : ` (${target})`}`;
}

/** `http`: one request, checked for status, body, JSON fields and latency. */
export const httpCheck: CheckKind<HttpParams> = {
  kind: 'http',
  params: httpParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const request = prepareRequest(params, params.target, context);
    const label = requestLabel(request, params.target);
    const limit = deadline(context.signal, params.timeout);
    const outcome = await sendHttpRequest(request, limit.signal, () => limit.reason('no response'));
    if (!outcome.ok) {
      return {
        ok: false,
        summary: `${label}: ${outcome.error}`,
        data: { url: request.url, latencyMs: outcome.latencyMs },
      };
    }
    const data = {
      method: request.method,
      url: request.url,
      status: outcome.status,
      latencyMs: outcome.latencyMs,
      headers: headerSubset(outcome.headers),
    };
    const evidence = { value: outcome.latencyMs, data, output: bodyExcerpt(outcome.body) };
    const took = formatDuration(outcome.latencyMs);
    const problem = checkReply(outcome, params);
    if (problem !== undefined) return { ok: false, summary: `${label}: ${problem} (${took})`, ...evidence };
    if (params.maxLatency !== undefined && outcome.latencyMs > params.maxLatency) {
      return {
        ok: false,
        summary: `${label}: ${outcome.status} in ${took}, over maxLatency ${formatDuration(params.maxLatency)}`,
        ...evidence,
      };
    }
    return { ok: true, summary: `${label}: ${outcome.status} in ${took}`, ...evidence };
  },
};
