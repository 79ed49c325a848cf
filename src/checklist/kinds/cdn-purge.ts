import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';
import { commandCheck, type CommandParams } from './command.js';
import { bodyExcerpt, deadline, sendHttpRequest, type HttpRequest } from './http.js';
import { redactUrl } from '../../util/redact.js';

/** The summary when the config has no `cdn` block to read. */
export const NO_CDN_BLOCK = 'no cdn block in shipcheck.yaml';
/** The summary when the `cdn` block asks for nothing: an empty `purge` list and no `command`. */
export const NOTHING_TO_PURGE = 'cdn.purge lists no requests and there is no cdn.command';
/** A purge request passes on any status in this range: CDNs answer 200, 201, 202 or 204 for done. */
const SUCCESS_MIN = 200;
const SUCCESS_MAX = 299;
/** Characters of a failed reply's body quoted in the one-line summary; the output keeps more. */
const SUMMARY_BODY_CHARS = 120;

const cdnPurgeParamsSchema = z
  .strictObject({})
  .describe('No params: the requests or command come from the cdn block of shipcheck.yaml.');

/** Validated `cdn-purge` params: none, everything is read from `context.config.cdn`. */
export type CdnPurgeParams = z.output<typeof cdnPurgeParamsSchema>;

type CdnConfig = NonNullable<Config['cdn']>;
type PurgeRequest = NonNullable<CdnConfig['purge']>[number];

/** What one purge request came to, as kept in evidence data (never its headers: they carry API keys). */
interface PurgeRecord {
  method: string;
  url: string;
  status?: number;
  error?: string;
  latencyMs: number;
  ok: boolean;
}

/**
 * `cdn-purge`: sends the `cdn.purge` requests in order (each must answer 2xx), then runs `cdn.command`
 * (it must exit 0). Purging twice is harmless, so the item is safe to re-run after a restart and on rollback.
 */
export const cdnPurgeCheck: CheckKind<CdnPurgeParams> = {
  kind: 'cdn-purge',
  params: cdnPurgeParamsSchema,
  async run(_params, context): Promise<CheckResult> {
    const cdn = context.config.cdn;
    // The template resolver turns this item into a manual sign-off without a cdn block; this is the guard.
    if (cdn === undefined) return { ok: false, summary: NO_CDN_BLOCK };
    const requests = cdn.purge ?? [];
    if (requests.length === 0 && cdn.command === undefined) return { ok: false, summary: NOTHING_TO_PURGE };

    const parts: CheckResult[] = [];
    if (requests.length > 0) parts.push(await sendPurges(requests, cdn.timeout, context));
    // The schema lets both be given; running both means nothing the config asks for is silently skipped.
    if (cdn.command !== undefined) parts.push(await runPurgeCommand(cdn.command, cdn.timeout, context));
    return combine(parts);
  },
};

/** A record plus the reply body, which only the summary and output quote. */
interface PurgeAttempt {
  record: PurgeRecord;
  body?: string;
}

/** Sends every request, even after one fails, so each cache still gets its purge (a rollback needs them all). */
async function sendPurges(
  requests: PurgeRequest[],
  timeoutMs: number,
  context: CheckContext,
): Promise<CheckResult> {
  const attempts: PurgeAttempt[] = [];
  for (const request of requests) attempts.push(await sendPurge(request, timeoutMs, context));

  const failed = attempts.filter((attempt) => !attempt.record.ok);
  const count = `${requests.length} request${requests.length === 1 ? '' : 's'}`;
  const lines = attempts.map(describeAttempt).join('; ');
  const result: CheckResult = {
    ok: failed.length === 0,
    summary:
      failed.length === 0
        ? `${lines} (${count})`
        : `${lines} (${failed.length} of ${count} failed, expected ${SUCCESS_MIN}-${SUCCESS_MAX})`,
    data: { requests: attempts.map((attempt) => attempt.record) },
  };
  const bodies = failed
    .filter((attempt) => attempt.body !== undefined)
    .map(
      ({ record, body }) => `${record.method} ${record.url}: ${record.status}\n${bodyExcerpt(body ?? '')}`,
    );
  if (bodies.length > 0) result.output = bodies.join('\n\n');
  return result;
}

async function sendPurge(
  request: PurgeRequest,
  timeoutMs: number,
  context: CheckContext,
): Promise<PurgeAttempt> {
  const shown = { method: request.method, url: redactUrl(request.url) };
  if (context.signal.aborted) return { record: { ...shown, error: 'aborted', latencyMs: 0, ok: false } };
  const toSend: HttpRequest = { method: request.method, url: request.url, headers: request.headers };
  // A timeout per request: one slow cache must not eat the time the next one needs.
  const limit = deadline(context.signal, timeoutMs);
  const outcome = await sendHttpRequest(toSend, limit.signal, () => limit.reason('no response'));
  if (!outcome.ok) {
    return { record: { ...shown, error: outcome.error, latencyMs: outcome.latencyMs, ok: false } };
  }
  const ok = outcome.status >= SUCCESS_MIN && outcome.status <= SUCCESS_MAX;
  return {
    record: { ...shown, status: outcome.status, latencyMs: outcome.latencyMs, ok },
    body: outcome.body,
  };
}

/** `PURGE http://cdn/: 200`, `BAN http://cdn/: 405 "Method Not Allowed"`, or the connection error. */
function describeAttempt({ record, body }: PurgeAttempt): string {
  const label = `${record.method} ${record.url}`;
  if (record.error !== undefined) return `${label}: ${record.error}`;
  const status = `${label}: ${record.status}`;
  if (record.ok) return status;
  const text = (body ?? '').replace(/\s+/g, ' ').trim();
  if (text === '') return `${status} (empty body, ${formatDuration(record.latencyMs)})`;
  const quoted = text.length > SUMMARY_BODY_CHARS ? `${text.slice(0, SUMMARY_BODY_CHARS - 1)}…` : text;
  return `${status} ${JSON.stringify(quoted)}`;
}

/** Runs `cdn.command` through the `command` kind, so it gets the same process-group stop and output tail. */
async function runPurgeCommand(
  run: string | string[],
  timeoutMs: number,
  context: CheckContext,
): Promise<CheckResult> {
  const params: CommandParams = { run, env: {}, timeout: timeoutMs, expectExit: 0 };
  return commandCheck.run(params, context);
}

/** One result from the purge part and the command part: both must pass. */
function combine(parts: CheckResult[]): CheckResult {
  const [only] = parts;
  if (parts.length === 1 && only !== undefined) return only;
  const [purge, command] = parts;
  return {
    ok: parts.every((part) => part.ok),
    summary: parts.map((part) => part.summary).join('; then '),
    output: parts
      .map((part) => part.output)
      .filter((text) => text !== undefined && text !== '')
      .join('\n\n'),
    data: { ...purge?.data, command: command?.data },
  };
}
