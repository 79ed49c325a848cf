import type { z } from 'zod';
import { InputError, ShipcheckError } from '../errors.js';
import { type ApiShape, errorSchema } from './api-shapes.js';
import { clientFetch } from './client-certificate.js';

/** The API answered with an error status; `status` is the HTTP status. */
export class ApiError extends ShipcheckError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** What answered is not the shipcheck API: another server at that address, or a proxy in front of it. */
export class NotShipcheckError extends ShipcheckError {}

/** Options of one request. */
export interface RequestOptions {
  /** Aborts the request; the signal's reason is thrown as is. */
  signal?: AbortSignal;
  /** Sees the headers of a successful answer, e.g. the session cookie a login sets. */
  onHeaders?: (headers: Headers) => void;
  /** Extra request headers, e.g. `idempotency-key`. */
  headers?: Record<string, string>;
}

/** A signed-in session: its cookie (`name=value`) and the CSRF token every change must carry. */
export interface SessionCredentials {
  cookie: string;
  csrf: string;
}

/** Longest any one request may take; a peer that accepts and never answers must not hang a CI job. */
const REQUEST_TIMEOUT_MS = 30_000;
/** The largest answer read; the API's biggest (a checklist with evidence) is far below this. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** How much of an unexpected answer is quoted, so the user can recognise what answered. */
const EXCERPT_CHARS = 80;
/** Shape problems named in one message. */
const ISSUES_SHOWN = 2;

/**
 * A thin JSON client of the shipcheck API; the CLI's only way to reach the control plane. Every
 * answer is checked against the shape the caller expects, so a server that is not shipcheck is named
 * as such instead of being read as `undefined`.
 */
export class ApiClient {
  /** The API token sent as a bearer token: SHIPCHECK_TOKEN unless given. */
  private readonly token: string | undefined;
  /** A TOTP code sent with every request (`--otp`, SHIPCHECK_OTP), for protected environments. */
  private readonly otp: string | undefined;
  /** fetch, or node:https with SHIPCHECK_CLIENT_CERT and SHIPCHECK_CLIENT_KEY (see client-certificate.ts). */
  private readonly send = clientFetch();
  /** A session from a login; when given, it is sent instead of any token. */
  private readonly session: SessionCredentials | undefined;

  constructor(
    readonly baseUrl: string,
    credentials: {
      token?: string | undefined;
      otp?: string | undefined;
      session?: SessionCredentials | undefined;
    } = {},
  ) {
    if (!/^https?:\/\//.test(baseUrl))
      throw new InputError(`server URL "${baseUrl}" must start with http:// or https://`);
    this.session = credentials.session;
    // The server reads a bearer token before a cookie, so a session must not travel with one.
    this.token = this.session ? undefined : (credentials.token ?? (process.env.SHIPCHECK_TOKEN || undefined));
    this.otp = credentials.otp ?? (process.env.SHIPCHECK_OTP || undefined);
  }

  /** GETs `path` and returns its answer, checked against `shape`. */
  get<T>(path: string, shape: ApiShape<T>, options: RequestOptions = {}): Promise<T> {
    return this.request('GET', path, undefined, shape, options);
  }

  /** POSTs `body` as JSON to `path` and returns the answer, checked against `shape`. */
  post<T>(path: string, body: object, shape: ApiShape<T>, options: RequestOptions = {}): Promise<T> {
    return this.request('POST', path, body, shape, options);
  }

  private async request<T>(
    method: string,
    path: string,
    body: object | undefined,
    shape: ApiShape<T>,
    options: RequestOptions,
  ): Promise<T> {
    const url = this.baseUrl.replace(/\/$/, '') + path;
    const what = `${method} ${path}`;
    // One controller per request, tied to the caller's signal only while the request runs: a wait
    // that polls for hours must not pile listeners onto its long-lived signal.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    const onAbort = (): void => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // The caller's abort goes back to the caller as is; our own time limit is a message.
    const throwIfAborted = (err: unknown): void => {
      options.signal?.throwIfAborted();
      if (timedOut) {
        throw new ShipcheckError(
          `shipcheck at ${this.baseUrl} did not answer ${what} within ${REQUEST_TIMEOUT_MS / 1000}s`,
          { cause: err },
        );
      }
    };
    let response: Response;
    let text: string | undefined;
    try {
      options.signal?.throwIfAborted();
      try {
        response = await this.send(url, {
          method,
          signal: controller.signal,
          headers: {
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(this.otp ? { 'x-shipcheck-otp': this.otp } : {}),
            ...(this.session ? { cookie: this.session.cookie, 'x-shipcheck-csrf': this.session.csrf } : {}),
            ...options.headers,
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      } catch (err) {
        throwIfAborted(err);
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new ShipcheckError(
          `cannot reach shipcheck at ${this.baseUrl} (${cause?.code ?? cause?.message ?? (err as Error).message}); is "shipcheck up" running?`,
          { cause: err },
        );
      }
      text = await readCapped(response).catch((err: unknown) => {
        throwIfAborted(err);
        throw err;
      });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    const answered = `${what} answered HTTP ${response.status} ${response.headers.get('content-type') ?? '(no content type)'}`;
    const notShipcheck = (detail: string): NotShipcheckError =>
      new NotShipcheckError(`${this.baseUrl} is not a shipcheck API (${answered}${detail})`);

    if (text === undefined) throw notShipcheck(`, more than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw notShipcheck(`: ${excerpt(text)}`);
    }
    if (!response.ok) {
      const error = errorSchema.safeParse(json);
      if (!error.success) throw notShipcheck(` without {"error": ...}: ${excerpt(text)}`);
      throw new ApiError(error.data.error, response.status);
    }
    const parsed = shape.schema.safeParse(json);
    if (!parsed.success) {
      throw notShipcheck(`, not ${shape.what}: ${describeIssues(parsed.error.issues)}; got ${excerpt(text)}`);
    }
    options.onHeaders?.(response.headers);
    return parsed.data as T;
  }
}

/** The body as text, or undefined when it is larger than MAX_ANSWER_BYTES. */
async function readCapped(response: Response): Promise<string | undefined> {
  if (!response.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream, so the rest of a huge answer is never read.
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) return undefined;
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return 'an empty body';
  return JSON.stringify(flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat);
}

/** `release.id: expected number, received undefined` */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, ISSUES_SHOWN)
    .map((issue) => {
      const at = issue.path.map(String).join('.');
      const message = issue.message.replace(/^Invalid input: /, '');
      return at ? `${at}: ${message}` : message;
    })
    .join('; ');
}
