/**
 * The one way the dashboard calls the API: same-origin requests with the session cookie, the
 * session's CSRF token on every change, and an optional TOTP code for protected environments.
 */

/** The header the API reads the CSRF token from. */
export const CSRF_HEADER = 'x-shipcheck-csrf';
/** The header a fresh TOTP code travels in. */
export const OTP_HEADER = 'x-shipcheck-otp';

/** The header of a 401 that asks for a fresh TOTP code. */
const OTP_REQUIRED_HEADER = 'x-shipcheck-otp-required';

/** An answer that was not 2xx, with the API's own message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The API asks for a fresh TOTP code (a protected environment). */
    readonly needsOtp = false,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

/** Remembers the session's CSRF token (from login or `GET /api/v1/session`). */
export function setCsrf(token: string | null): void {
  csrfToken = token;
}

/** Calls `listener` whenever the API answers 401 to a read: the session ended. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

async function call<T>(method: string, path: string, body?: unknown, otp?: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (csrfToken) headers[CSRF_HEADER] = csrfToken;
    if (otp) headers[OTP_HEADER] = otp;
  }
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }),
  });
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const message =
      json && typeof json === 'object' && 'error' in json
        ? String((json as { error: unknown }).error)
        : `${method} ${path} answered ${response.status}`;
    if (response.status === 401 && method === 'GET') for (const listener of unauthorizedListeners) listener();
    throw new ApiError(response.status, message, response.headers.get(OTP_REQUIRED_HEADER) === 'required');
  }
  return json as T;
}

/** GET a JSON answer. */
export function get<T>(path: string): Promise<T> {
  return call<T>('GET', path);
}

/** POST a JSON body (`{}` when there is nothing to say), with a TOTP code when given. */
export function post<T>(path: string, body: unknown = {}, otp?: string): Promise<T> {
  return call<T>('POST', path, body, otp);
}

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
