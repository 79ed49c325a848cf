import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';
import {
  bodyExcerpt,
  checkReply,
  deadline,
  expectBodySchema,
  expectJsonSchema,
  expectStatusSchema,
  headersSchema,
  isAbsoluteHttpUrl,
  methodSchema,
  parseJsonBody,
  parseJsonPath,
  prepareRequest,
  readJsonPath,
  sendHttpRequest,
  targetSchema,
  type HttpReply,
} from './http.js';

const HEADER_PREFIX = 'header:';
const VAR_NAME = /^[A-Za-z_]\w*$/;
/** `{{name}}`, spaces inside the braces allowed. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_]\w*)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([A-Za-z_]\w*)\s*\}\}$/;
const JSON_CONTENT_TYPE = 'application/json';

const captureSource = z
  .string()
  .refine(
    (source) =>
      source.startsWith(HEADER_PREFIX)
        ? source.length > HEADER_PREFIX.length
        : parseJsonPath(source) !== undefined,
    'expected a JSON path such as $.id or header:Name',
  );

const journeyStep = z
  .strictObject({
    name: z.string().min(1).optional().describe('What the step does, named in failures: "add to cart".'),
    method: methodSchema,
    url: z
      .string()
      .refine(
        (url) => url.startsWith('/') || url.startsWith('{{') || isAbsoluteHttpUrl(url),
        'expected an absolute http(s) URL or a path starting with /',
      )
      .describe('Absolute http(s) URL or a path sent to the proxy; may use {{var}}.'),
    headers: headersSchema.describe('Request headers; values may use {{var}}.'),
    body: z.string().optional().describe('Request body sent as is; may use {{var}}.'),
    json: z
      .unknown()
      .optional()
      .describe(
        'Request body sent as JSON (with Content-Type application/json). A string that is exactly {{var}} becomes the captured value with its JSON type; other strings interpolate.',
      ),
    expectStatus: expectStatusSchema,
    expectBody: expectBodySchema,
    expectJson: expectJsonSchema,
    capture: z
      .record(
        z.string().regex(VAR_NAME, 'a variable name is a letter or _ then letters, digits, _'),
        captureSource,
      )
      .prefault({})
      .describe('Values later steps use as {{name}}: name to a JSON path of the body ($.id) or header:Name.'),
  })
  .superRefine((step, ctx) => {
    if (step.body !== undefined && step.json !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['json'], message: 'a step sends body or json, not both' });
    }
  });

type JourneyStep = z.output<typeof journeyStep>;

const journeyParamsSchema = z
  .strictObject({
    steps: z
      .array(journeyStep)
      .min(1)
      .describe('Requests made in order; the journey stops at the first failure.'),
    target: targetSchema,
    timeout: duration.prefault('10s').describe('The whole journey must finish within this.'),
  })
  .superRefine((params, ctx) => {
    // A variable used before any step captures it is a typo; say so when the config loads, not mid-release.
    const captured = new Set<string>();
    params.steps.forEach((step, index) => {
      for (const name of placeholdersOf(step)) {
        if (!captured.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', index],
            message: `{{${name}}} is not captured by an earlier step`,
          });
        }
      }
      if (params.target !== undefined && !step.url.startsWith('/') && !step.url.startsWith('{{')) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', index, 'url'],
          message: 'target needs path urls such as /cart',
        });
      }
      for (const name of Object.keys(step.capture)) captured.add(name);
    });
  });

/** Validated `journey` params; durations in ms. */
export type JourneyParams = z.output<typeof journeyParamsSchema>;

/** What one step did, as kept in evidence (captured values are left out: they are often tokens). */
interface StepRecord {
  step: number;
  name: string | undefined;
  method: string;
  url: string;
  outcome: 'passed' | 'failed' | 'not-run';
  status?: number;
  latencyMs?: number;
}

/** `journey`: a sequence of requests that share captured values, stopping at the first failing step. */
export const journeyCheck: CheckKind<JourneyParams> = {
  kind: 'journey',
  params: journeyParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const limit = deadline(context.signal, params.timeout);
    const vars = new Map<string, unknown>();
    const records: StepRecord[] = params.steps.map((step, index) => ({
      step: index + 1,
      name: step.name,
      method: step.method,
      url: step.url,
      outcome: 'not-run',
    }));
    const startedAt = performance.now();
    const result = (ok: boolean, summary: string, reply?: HttpReply): CheckResult => ({
      ok,
      summary,
      value: Math.round(performance.now() - startedAt),
      data: { steps: records, captured: [...vars.keys()] },
      ...(reply === undefined ? {} : { output: bodyExcerpt(reply.body) }),
    });

    let last: HttpReply | undefined;
    for (const [index, step] of params.steps.entries()) {
      const record = records[index]!;
      const label = stepLabel(index, step);
      const rendered = renderStep(step, vars);
      if (typeof rendered === 'string') {
        record.outcome = 'failed';
        return result(false, `${label}: ${rendered}`);
      }
      if (params.target !== undefined && !rendered.url.startsWith('/')) {
        record.outcome = 'failed';
        return result(false, `${label}: target needs a path url, got ${rendered.url}`);
      }
      const request = prepareRequest(rendered, params.target, context);
      record.url = request.url;
      const outcome = await sendHttpRequest(request, limit.signal, () =>
        limit.reason('journey not finished'),
      );
      record.latencyMs = outcome.latencyMs;
      if (!outcome.ok) {
        record.outcome = 'failed';
        return result(false, `${label}: ${request.method} ${request.url}: ${outcome.error}`);
      }
      record.status = outcome.status;
      const problem = checkReply(outcome, step) ?? capture(outcome, step.capture, vars);
      if (problem !== undefined) {
        record.outcome = 'failed';
        return result(false, `${label}: ${problem}`, outcome);
      }
      record.outcome = 'passed';
      last = outcome;
    }
    const count = params.steps.length;
    const where = params.target === undefined ? '' : ` on ${params.target}`;
    const took = formatDuration(performance.now() - startedAt);
    return result(true, `${count} step${count === 1 ? '' : 's'} passed${where} in ${took}`, last);
  },
};

/** `step 2 "add to cart"`, or `step 2 (POST /cart)` for an unnamed step. */
function stepLabel(index: number, step: JourneyStep): string {
  return step.name === undefined
    ? `step ${index + 1} (${step.method} ${step.url})`
    : `step ${index + 1} ${JSON.stringify(step.name)}`;
}

/** The step's request with every `{{var}}` filled in, or why it cannot be. */
function renderStep(
  step: JourneyStep,
  vars: ReadonlyMap<string, unknown>,
): { method: string; url: string; headers: Record<string, string>; body?: string } | string {
  const missing = placeholdersOf(step).find((name) => !vars.has(name));
  // Validation rules this out; kept so a hand-built params object still fails as data.
  if (missing !== undefined) return `{{${missing}}} has not been captured`;
  const url = interpolate(step.url, vars);
  if (!url.startsWith('/') && !isAbsoluteHttpUrl(url))
    return `url ${url} is neither a path nor an http(s) URL`;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(step.headers)) headers[name] = interpolate(value, vars);
  if (step.json !== undefined) {
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = JSON_CONTENT_TYPE;
    }
    return { method: step.method, url, headers, body: JSON.stringify(fillJson(step.json, vars)) };
  }
  if (step.body !== undefined)
    return { method: step.method, url, headers, body: interpolate(step.body, vars) };
  return { method: step.method, url, headers };
}

/** Stores the step's captures in `vars`; returns what could not be captured. */
function capture(
  reply: HttpReply,
  sources: Record<string, string>,
  vars: Map<string, unknown>,
): string | undefined {
  let parsed: ReturnType<typeof parseJsonBody> | undefined;
  for (const [name, source] of Object.entries(sources)) {
    if (source.startsWith(HEADER_PREFIX)) {
      const header = source.slice(HEADER_PREFIX.length);
      const value = reply.headers[header.toLowerCase()];
      if (value === undefined) return `capture ${name}: no ${header} header in the ${reply.status} response`;
      vars.set(name, Array.isArray(value) ? value.join(', ') : value);
      continue;
    }
    parsed ??= parseJsonBody(reply);
    if (!parsed.ok) return `capture ${name}: ${parsed.error}`;
    const found = readJsonPath(parsed.value, source);
    if (!found.found) return `capture ${name}: ${source} is missing from the ${reply.status} response`;
    vars.set(name, found.value);
  }
  return undefined;
}

/** Every variable a step refers to, in order of appearance. */
function placeholdersOf(step: JourneyStep): string[] {
  const texts = [step.url, ...Object.values(step.headers), step.body ?? '', ...stringsIn(step.json)];
  return [...new Set(texts.flatMap((text) => [...text.matchAll(PLACEHOLDER)].map((match) => match[1]!)))];
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

function interpolate(text: string, vars: ReadonlyMap<string, unknown>): string {
  return text.replace(PLACEHOLDER, (_, name: string) => asText(vars.get(name)));
}

/** Copies a JSON body with placeholders filled; `"{{id}}"` alone keeps the captured value's type. */
function fillJson(value: unknown, vars: ReadonlyMap<string, unknown>): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_PLACEHOLDER.exec(value);
    return whole ? vars.get(whole[1]!) : interpolate(value, vars);
  }
  if (Array.isArray(value)) return value.map((item) => fillJson(item, vars));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillJson(item, vars)]));
  }
  return value;
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
