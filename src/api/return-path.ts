/**
 * Where a browser goes back to after signing in: a page of the dashboard on this server, never
 * another site. Anything else becomes `/`, so a crafted sign-in link cannot make shipcheck an open
 * redirect.
 */

/** Where a browser goes when no safe return path was given. */
export const HOME = '/';
/** The longest return path kept; a page's path and query are far shorter. */
const MAX_RETURN_PATH = 1000;
/** A base that only serves to resolve the path; a return path must stay on it. */
const HERE = 'http://shipcheck.invalid';

/**
 * `text` as a local path (`/releases/12?tab=checklist`), normalized and percent-encoded as the URL
 * parser writes it; {@link HOME} for anything that is not one: no text, a scheme (`https://...`), a
 * host (`//evil.example`, `/\evil.example`, which browsers read as `//`), control characters (which
 * the URL parser would drop, turning `/\t/evil` into `//evil`), or a path under `/api/` (the API,
 * not a page: `/api/v1/auth/oidc/login` would sign in again and again).
 */
export function safeReturnPath(text: unknown): string {
  if (typeof text !== 'string' || text.length > MAX_RETURN_PATH) return HOME;
  if (!text.startsWith('/') || text.startsWith('//') || text.startsWith('/\\')) return HOME;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(text)) return HOME;
  let url: URL;
  try {
    url = new URL(text, HERE);
  } catch {
    return HOME;
  }
  if (url.origin !== HERE) return HOME;
  // `/a/..//evil.example` resolves to the path `//evil.example`: check what resolving gave too.
  const { pathname } = url;
  if (pathname.startsWith('//') || pathname === '/api' || pathname.startsWith('/api/')) return HOME;
  return `${pathname}${url.search}${url.hash}`;
}
