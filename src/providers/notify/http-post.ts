/** One JSON POST with a time limit, its outcome as a DeliveryResult: shared by the HTTP channels. */
import { errorMessage } from '../../errors.js';
import type { DeliveryResult } from './types.js';

/** Characters of a peer's answer kept in an error. */
const MAX_ANSWER_CHARS = 300;
/** HTTP 410 Gone: the endpoint is gone for good. */
export const HTTP_GONE = 410;

/** The part of `url` safe to show: scheme and host. */
export function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return 'an invalid URL';
  }
}

/** A peer's answer cut to one short line. */
function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_ANSWER_CHARS ? `${line.slice(0, MAX_ANSWER_CHARS)}…` : line;
}

/**
 * POSTs `body` to `url`; delivered on a 2xx answer. Otherwise the error says `HTTP 401: <the answer>`,
 * or why no answer came (`connect ECONNREFUSED ...`, `no answer within 10s`).
 */
export async function postJson(
  url: string,
  body: string,
  options: { headers?: Record<string, string>; timeoutMs: number },
): Promise<DeliveryResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'shipcheck', ...options.headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: unknown };
    if (e.name === 'TimeoutError')
      return { delivered: false, error: `no answer within ${options.timeoutMs} ms` };
    return { delivered: false, error: errorMessage(e.cause ?? e) };
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return { delivered: true, status: response.status, detail: excerpt(text) };
  const answer = excerpt(text);
  return {
    delivered: false,
    status: response.status,
    error: `HTTP ${response.status}${answer ? `: ${answer}` : ''}`,
    ...(response.status === HTTP_GONE ? { gone: true } : {}),
  };
}
