import { CSRF_HEADER, SESSION_COOKIE } from '../../src/security/auth.js';

// Signing in the way a user does on a fresh store: the first-admin link `shipcheck up` prints, a
// login, a second admin who may sign every manual item of the default checklist, and an API token.

/** The user end-to-end tests act as; checklist evidence and the audit log name this signer. */
export const TEST_USER = 'release-lead';
/** The password of both users the bootstrap creates (passwords need 12 characters or more). */
export const TEST_PASSWORD = 'correct horse battery staple';
/** The first admin, created with the setup code; it only creates {@link TEST_USER}. */
const FIRST_ADMIN = 'first-admin';
/** The groups the default checklist template's manual items name in `params.role`. */
const TEMPLATE_GROUPS = ['sre', 'release-manager', 'security', 'service-owner'];
/** How long `shipcheck up` may take to log the setup link after its API answers. */
const SETUP_LINE_LIMIT_MS = 30_000;
const POLL_MS = 100;

/** A signed-in browser-like session: its cookie and the CSRF token its changes must carry. */
export interface Session {
  cookie: string;
  csrf: string;
}

/** The one-time code of the first-admin link in `log` (`.../setup#code=CODE`), or undefined before it is logged. */
export function setupCode(log: string): string | undefined {
  return /create the first admin at \S*\/setup#code=([A-Za-z0-9_-]+)/.exec(log)?.[1];
}

/** Headers that authenticate with the API token `token`, merged over `headers`. */
export function authorized(token: string, headers: Record<string, string> = {}): Record<string, string> {
  return { ...headers, authorization: `Bearer ${token}` };
}

/** Headers of a change made with `session`: its cookie and its CSRF token, with a JSON body. */
export function withSession(session: Session): Record<string, string> {
  return { cookie: session.cookie, [CSRF_HEADER]: session.csrf, 'content-type': 'application/json' };
}

/** POSTs `body` as JSON and returns the answer's JSON; throws with the status and body unless it is `expected`. */
async function post(
  url: string,
  body: object,
  expected: number,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ json: unknown; response: Response }> {
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== expected)
    throw new Error(`POST ${url} answered ${response.status}, expected ${expected}: ${text}`);
  return { json: JSON.parse(text) as unknown, response };
}

/** Logs `name` in with a password, as the dashboard does, and returns the session. */
export async function login(apiUrl: string, name: string, password: string): Promise<Session> {
  const { json, response } = await post(`${apiUrl}/api/v1/login`, { name, password }, 200);
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';')[0]!)
    .find((pair) => pair.startsWith(`${SESSION_COOKIE}=`));
  if (cookie === undefined) throw new Error(`login as ${name} set no ${SESSION_COOKIE} cookie`);
  return { cookie, csrf: (json as { csrf: string }).csrf };
}

/** Waits until `serverLog()` holds the first-admin link and returns its code. */
async function waitForSetupCode(serverLog: () => string): Promise<string> {
  const deadline = Date.now() + SETUP_LINE_LIMIT_MS;
  for (;;) {
    const code = setupCode(serverLog());
    if (code !== undefined) return code;
    if (Date.now() > deadline)
      throw new Error(`shipcheck up logged no first-admin link:\n${serverLog().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Creates the first admin `name` with the one-time setup `code` and returns its logged-in session. */
export async function createFirstAdmin(apiUrl: string, code: string, name: string): Promise<Session> {
  await post(`${apiUrl}/api/v1/setup`, { code, name, password: TEST_PASSWORD }, 201);
  return login(apiUrl, name, TEST_PASSWORD);
}

/** Creates an API token with the admin role for the user signed in with `session`, and returns it. */
export async function createAdminToken(apiUrl: string, session: Session): Promise<string> {
  const { json } = await post(
    `${apiUrl}/api/v1/tokens`,
    { name: 'e2e', role: 'admin' },
    201,
    withSession(session),
  );
  return (json as { token: string }).token;
}

/**
 * Creates the first admin of a fresh store with the setup link `shipcheck up` logged, has it add
 * {@link TEST_USER} (an admin in every group the default checklist names), and returns an admin
 * API token of that user. Works once per store: the setup code is gone once the first admin exists.
 */
export async function loginAsAdmin(apiUrl: string, serverLog: () => string): Promise<string> {
  const first = await createFirstAdmin(apiUrl, await waitForSetupCode(serverLog), FIRST_ADMIN);
  await post(
    `${apiUrl}/api/v1/users`,
    { name: TEST_USER, password: TEST_PASSWORD, roles: ['admin'], groups: TEMPLATE_GROUPS },
    201,
    withSession(first),
  );
  return createAdminToken(apiUrl, await login(apiUrl, TEST_USER, TEST_PASSWORD));
}
