import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { duration, percent } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { redactUrl } from '../../util/redact.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';
import { deadline, isAbsoluteHttpUrl, prepareRequest, sendHttpRequest } from './http.js';

/** Debian installs varnishstat in /usr/bin; a PATH without it still finds it. */
const VARNISHSTAT_DIRS = ['/usr/bin', '/usr/local/bin'];
/** Bytes of varnishstat's output read at most: its JSON is some hundred KB with many backends. */
const MAX_STAT_BYTES = 16 * 1024 * 1024;
/** The response headers that say how a response may be cached (and the Date Expires counts from). */
const CACHE_HEADERS = ['cache-control', 'age', 'etag', 'last-modified', 'vary', 'expires', 'date'] as const;
/** Statuses whose caching headers mean something: success and redirects. */
const STATUS_MIN = 200;
const STATUS_MAX = 399;

const urlEntry = z
  .string()
  .refine(
    (url) => url.startsWith('/') || isAbsoluteHttpUrl(url),
    'expected an absolute http(s) URL or a path starting with /',
  );

const urlSchema = z.union([
  urlEntry.transform((url) => ({ url })),
  z.strictObject({
    url: urlEntry.describe("Absolute http(s) URL, or a path starting with / sent to the service's proxy."),
    maxAge: duration
      .optional()
      .describe('The response must be cacheable at least this long (s-maxage, max-age or Expires).'),
    expect: z
      .enum(['public', 'private', 'no-store'])
      .optional()
      .describe('public: shared caches may keep it; private: only the browser may; no-store: nobody may.'),
  }),
]);

/** A ratio written 0.8 or 80%. */
const ratio = z.union([z.number().min(0).max(1), percent]).describe('A ratio: 0.8, or 80%.');

const cacheParamsSchema = z
  .strictObject({
    urls: z
      .array(urlSchema)
      .prefault([])
      .describe('URLs whose cache headers are read: a URL or path, or {url, maxAge?, expect?}.'),
    varnish: z
      .strictObject({
        name: z
          .string()
          .min(1)
          .optional()
          .describe("varnishd's instance (-n): a name or a folder; Varnish's default instance when absent."),
        minHitRatio: ratio
          .prefault(0.8)
          .describe('Fails when cache_hit / (cache_hit + cache_miss) is below this.'),
        minRequests: z
          .number()
          .int()
          .min(1)
          .prefault(100)
          .describe('Hits and misses needed before the ratio is judged.'),
      })
      .optional()
      .describe("Read a local Varnish's hit ratio with varnishstat -j."),
    timeout: duration.prefault('10s').describe('Each request, and varnishstat, must finish within this.'),
  })
  .refine((p) => p.urls.length > 0 || p.varnish !== undefined, { message: 'give urls, or varnish, or both' });

/** Validated `cache` params; durations in ms, ratios as fractions. */
export type CacheParams = z.output<typeof cacheParamsSchema>;
type UrlParams = CacheParams['urls'][number];

/** What one URL's response said about caching. */
interface UrlReport {
  url: string;
  status?: number;
  headers?: Partial<Record<(typeof CACHE_HEADERS)[number], string>>;
  setCookie?: boolean;
  /** What it lacks, in words; empty when it meets its expectation. */
  problems: string[];
  /** Why the headers could not be read (no answer, a 5xx). */
  error?: string;
}

/** Varnish's counters as the check reads them. */
export interface VarnishCounters {
  hits: number;
  misses: number;
}

/**
 * `cache`: the cache headers of each listed URL (Cache-Control, Age, ETag, Last-Modified, Vary,
 * Expires), held to what the URL expects; and with `varnish`, the hit ratio of a local Varnish from
 * `varnishstat -j`. Fails on a URL that lacks what it expects or a ratio under minHitRatio;
 * inconclusive when a URL does not answer, varnishstat fails, or there are too few requests to judge.
 */
export const cacheCheck: CheckKind<CacheParams> = {
  kind: 'cache',
  params: cacheParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const reports: UrlReport[] = [];
    for (const entry of params.urls) reports.push(await checkUrl(entry, params.timeout, context));
    const parts: { ok: boolean; inconclusive: boolean; text: string }[] = reports.map((report) => ({
      ok: report.error === undefined && report.problems.length === 0,
      inconclusive: report.error !== undefined,
      text: describeUrl(report),
    }));
    let varnish: Record<string, unknown> | undefined;
    if (params.varnish !== undefined) {
      const judged = await judgeVarnish(params.varnish, params.timeout, context);
      varnish = judged.data;
      parts.push(judged);
    }
    const failed = parts.filter((part) => !part.ok && !part.inconclusive);
    const unsure = parts.filter((part) => part.inconclusive);
    const data = { urls: reports, ...(varnish === undefined ? {} : { varnish }) };
    const output = parts.map((part) => part.text).join('\n');
    // A measured breach fails even when another part could not be judged.
    const shown = failed.length > 0 ? [...failed, ...unsure] : unsure.length > 0 ? unsure : parts;
    const summary = shown.map((part) => part.text).join('; ');
    if (failed.length > 0) return { ok: false, summary, data, output, value: failed.length };
    if (unsure.length > 0) return { ok: false, inconclusive: true, summary, data, output };
    return { ok: true, summary, data, output, value: 0 };
  },
};

async function checkUrl(entry: UrlParams, timeoutMs: number, context: CheckContext): Promise<UrlReport> {
  if (entry.url.startsWith('/') && context.proxyUrl === '')
    return { url: entry.url, problems: [], error: 'a path needs the built-in proxy; give an absolute URL' };
  const request = prepareRequest({ method: 'GET', url: entry.url, headers: {} }, undefined, context);
  const shown = redactUrl(request.url);
  const limit = deadline(context.signal, timeoutMs);
  const outcome = await sendHttpRequest(request, limit.signal, () => limit.reason('no response'));
  if (!outcome.ok) return { url: shown, problems: [], error: outcome.error };
  const headers: UrlReport['headers'] = {};
  for (const name of CACHE_HEADERS) {
    const value = outcome.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const report: UrlReport = {
    url: shown,
    status: outcome.status,
    headers,
    setCookie: outcome.headers['set-cookie'] !== undefined,
    problems: [],
  };
  if (outcome.status < STATUS_MIN || outcome.status > STATUS_MAX) {
    // An error page's headers say nothing about the URL's caching.
    report.error = `answered ${outcome.status}`;
    return report;
  }
  report.problems = cachingProblems(entry, headers, report.setCookie === true);
  return report;
}

/** Cache-Control's directives, lower-case, with their values (quotes removed); a bare one maps to ''. */
export function parseCacheControl(header: string | undefined): Map<string, string> {
  const directives = new Map<string, string>();
  for (const part of (header ?? '').split(',')) {
    const [name = '', ...rest] = part.split('=');
    const key = name.trim().toLowerCase();
    if (key === '') continue;
    directives.set(key, rest.join('=').trim().replace(/^"|"$/g, ''));
  }
  return directives;
}

/**
 * What a response lacks, in words, given what its URL expects. Without `expect` or `maxAge`, a URL
 * must at least state a policy (Cache-Control or Expires).
 */
export function cachingProblems(
  entry: UrlParams,
  headers: Partial<Record<(typeof CACHE_HEADERS)[number], string>>,
  setCookie = false,
): string[] {
  const control = parseCacheControl(headers['cache-control']);
  const problems: string[] = [];
  const has = (name: string): boolean => control.has(name);
  const expect = 'expect' in entry ? entry.expect : undefined;
  const maxAge = 'maxAge' in entry ? entry.maxAge : undefined;
  if (expect === undefined && maxAge === undefined) {
    if (headers['cache-control'] === undefined && headers.expires === undefined)
      problems.push('no caching policy: no Cache-Control or Expires');
    return problems;
  }
  if (expect === 'no-store') {
    if (!has('no-store')) problems.push('expected no-store');
  } else if (expect === 'private') {
    if (!has('private') && !has('no-store')) problems.push('expected private (or no-store)');
    if (has('public') || has('s-maxage')) problems.push('shared caches may keep it (public or s-maxage)');
  } else if (expect === 'public') {
    for (const blocker of ['no-store', 'private', 'no-cache']) {
      if (has(blocker)) problems.push(`${blocker} where public is expected`);
    }
    if (headers.vary?.trim() === '*') problems.push('Vary: * makes it uncacheable');
    if (setCookie) problems.push('Set-Cookie on a response shared caches should keep');
  }
  if (maxAge !== undefined) {
    const lifetime = lifetimeMs(control, headers, expect === 'private');
    const wanted = formatDuration(maxAge);
    if (has('no-store')) {
      if (expect !== 'no-store') problems.push(`no-store, expected cacheable for ${wanted}`);
    } else if (lifetime === undefined) {
      problems.push(`no max-age, expected at least ${wanted}`);
    } else if (lifetime < maxAge) {
      problems.push(`cacheable for ${formatDuration(lifetime)}, expected at least ${wanted}`);
    }
  }
  return problems;
}

/** How long the response may be kept: s-maxage (shared caches), max-age, else Expires - Date. */
function lifetimeMs(
  control: Map<string, string>,
  headers: Partial<Record<string, string>>,
  privateOnly: boolean,
): number | undefined {
  for (const name of privateOnly ? ['max-age'] : ['s-maxage', 'max-age']) {
    const value = control.get(name);
    if (value !== undefined && /^\d+$/.test(value)) return Number(value) * 1000;
  }
  if (headers.expires !== undefined) {
    const expires = Date.parse(headers.expires);
    // Expires counts from the response's own Date, whatever this machine's clock says.
    const date = headers.date === undefined ? Number.NaN : Date.parse(headers.date);
    if (Number.isFinite(expires) && Number.isFinite(date)) return Math.max(0, expires - date);
    if (!Number.isFinite(expires)) return 0; // "Expires: 0" and other invalid dates mean already expired
  }
  return undefined;
}

/** `GET /app.js: 200 Cache-Control "public, max-age=300", Age 12` plus what it lacks. */
function describeUrl(report: UrlReport): string {
  if (report.error !== undefined && report.status === undefined) return `${report.url}: ${report.error}`;
  const headers = report.headers ?? {};
  const shown = [
    `Cache-Control ${headers['cache-control'] === undefined ? 'absent' : JSON.stringify(headers['cache-control'])}`,
    ...(headers.age === undefined ? [] : [`Age ${headers.age}`]),
    ...(headers.expires === undefined ? [] : [`Expires ${JSON.stringify(headers.expires)}`]),
    ...(headers.etag === undefined ? [] : ['ETag']),
    ...(headers['last-modified'] === undefined ? [] : ['Last-Modified']),
    ...(headers.vary === undefined ? [] : [`Vary ${JSON.stringify(headers.vary)}`]),
  ].join(', ');
  const status = `${report.url}: ${report.status ?? ''}`;
  if (report.error !== undefined) return `${status}, ${report.error}`;
  const problems = report.problems.length === 0 ? '' : ` (${report.problems.join('; ')})`;
  return `${status} ${shown}${problems}`;
}

/** The varnishstat binary, or undefined when it is not installed. */
export function findVarnishstat(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...VARNISHSTAT_DIRS];
  return dirs.map((dir) => path.join(dir, 'varnishstat')).find((file) => fs.existsSync(file));
}

/**
 * MAIN.cache_hit and MAIN.cache_miss from `varnishstat -j`: Varnish 7 puts the counters under
 * `counters`, earlier versions at the top level beside `timestamp`.
 */
export function readVarnishCounters(document: unknown): VarnishCounters | undefined {
  if (document === null || typeof document !== 'object') return undefined;
  const top = document as Record<string, unknown>;
  const counters = (top.counters !== null && typeof top.counters === 'object' ? top.counters : top) as Record<
    string,
    unknown
  >;
  const value = (name: string): number | undefined => {
    const counter = counters[name];
    if (counter === null || typeof counter !== 'object') return undefined;
    const number = Number((counter as { value?: unknown }).value);
    return Number.isFinite(number) ? number : undefined;
  };
  const hits = value('MAIN.cache_hit');
  const misses = value('MAIN.cache_miss');
  return hits === undefined || misses === undefined ? undefined : { hits, misses };
}

async function judgeVarnish(
  varnish: NonNullable<CacheParams['varnish']>,
  timeoutMs: number,
  context: CheckContext,
): Promise<{ ok: boolean; inconclusive: boolean; text: string; data: Record<string, unknown> }> {
  const instance = varnish.name === undefined ? 'the default Varnish instance' : `Varnish ${varnish.name}`;
  const unsure = (
    why: string,
  ): { ok: boolean; inconclusive: boolean; text: string; data: Record<string, unknown> } => ({
    ok: false,
    inconclusive: true,
    text: `${instance}: ${why}`,
    data: { name: varnish.name ?? null, error: why },
  });
  const binary = findVarnishstat();
  if (binary === undefined) return unsure('varnishstat is not installed (Debian: apt-get install varnish)');
  // varnishstat waits for a missing varnishd (5s by default); half the time allowed leaves room to say so.
  const attachSeconds = Math.max(1, Math.floor(timeoutMs / 2000));
  const args = [
    '-j',
    '-t',
    String(attachSeconds),
    ...(varnish.name === undefined ? [] : ['-n', varnish.name]),
  ];
  const limit = deadline(context.signal, timeoutMs);
  let stdout: string;
  try {
    stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        binary,
        args,
        { signal: limit.signal, maxBuffer: MAX_STAT_BYTES, encoding: 'utf8' },
        (err, out, stderr) => {
          // Its last line says why; the dots before it are its progress while it waited.
          if (err) reject(new Error(stderr.trim().split('\n').at(-1)?.trim() || err.message));
          else resolve(out);
        },
      );
    });
  } catch (err) {
    return unsure(
      `varnishstat failed: ${limit.signal.aborted ? limit.reason('no answer') : errorMessage(err)}`,
    );
  }
  let counters: VarnishCounters | undefined;
  try {
    counters = readVarnishCounters(JSON.parse(stdout) as unknown);
  } catch {
    counters = undefined;
  }
  if (counters === undefined) return unsure('varnishstat -j gave no MAIN.cache_hit and MAIN.cache_miss');
  const requests = counters.hits + counters.misses;
  const ratioValue = requests === 0 ? 0 : counters.hits / requests;
  const shown = `${(ratioValue * 100).toFixed(1)}%`;
  const bound = `${Math.round(varnish.minHitRatio * 1000) / 10}%`;
  const data = {
    name: varnish.name ?? null,
    ...counters,
    hitRatio: ratioValue,
    minHitRatio: varnish.minHitRatio,
  };
  const counts = `${counters.hits} hits, ${counters.misses} misses`;
  if (requests < varnish.minRequests) {
    return {
      ok: false,
      inconclusive: true,
      text: `${instance}: ${requests} lookups (${counts}), fewer than minRequests ${varnish.minRequests} to judge the hit ratio`,
      data,
    };
  }
  const ok = ratioValue >= varnish.minHitRatio;
  return {
    ok,
    inconclusive: false,
    text: `${instance}: hit ratio ${shown} (${counts})${ok ? `, at least ${bound}` : `, below ${bound}`}`,
    data,
  };
}
