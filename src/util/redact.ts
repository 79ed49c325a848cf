/** What stands where a secret was. */
export const REDACTED = '***';

/** Query parameters whose values are secrets: `password`, `sslpassword`, `token`, `api_key`, `X-Amz-Signature`... */
const SECRET_PARAM = /pass|pwd|token|secret|key|sig|auth|credential/i;
/** A scheme followed by `//`: text meant as a URL, whose secrets must not show even when it does not parse. */
const URL_WITH_AUTHORITY = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * `text` as it may be shown in a message, a log line or evidence: a URL's password and the values of
 * secret-looking query parameters replaced with `***`. Text with nothing to hide is returned as it
 * was; a URL that does not parse shows only its scheme, rather than risk showing a password.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const scheme = URL_WITH_AUTHORITY.exec(text)?.[1];
    return scheme === undefined ? text : `${scheme}://…`;
  }
  let changed = false;
  if (url.password !== '') {
    url.password = REDACTED;
    changed = true;
  }
  for (const key of new Set(url.searchParams.keys())) {
    if (!SECRET_PARAM.test(key)) continue;
    url.searchParams.set(key, REDACTED);
    changed = true;
  }
  return changed ? url.href : text;
}
