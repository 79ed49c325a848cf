/**
 * The credentials a command talks to the API with: SHIPCHECK_TOKEN, or with `--login USER` a session
 * opened with the user's password (and `--otp` when they enrolled TOTP). A login is how a person gets
 * their first token for scripts; the session it opens is closed again when the command ends.
 */
import { ShipcheckError } from '../errors.js';
import { loginShape, okShape } from './api-shapes.js';
import { ApiClient } from './client.js';
import { readPassword } from './prompt.js';
import { type GlobalOptions, resolveServer } from './target.js';

/** The cookie a login sets; the server names it so (security/auth.ts). */
const SESSION_COOKIE = 'shipcheck_session';

/** `--login USER` and where its password comes from. */
export interface LoginOptions {
  login?: string;
  passwordStdin?: boolean;
}

/** A client of the API and what to do when the command is done with it. */
export interface SignedIn {
  client: ApiClient;
  /** Ends the session a login opened (nothing for a token); never throws. */
  end(): Promise<void>;
}

/**
 * An API client for `opts`: signed in as `login.login` when given (the password read as
 * readPassword does, `--otp` sent with it), else carrying SHIPCHECK_TOKEN and `--otp`.
 */
export async function signIn(opts: GlobalOptions, login: LoginOptions): Promise<SignedIn> {
  const { client } = await resolveServer(opts);
  if (login.login === undefined) return { client, end: async () => undefined };
  const password = await readPassword({
    stdin: login.passwordStdin ?? false,
    what: `password for ${login.login}`,
    confirm: false,
  });
  let cookie: string | undefined;
  // An empty token: the login carries the password and nothing else, not even SHIPCHECK_TOKEN.
  const anonymous = new ApiClient(client.baseUrl, { token: '' });
  const opened = await anonymous.post(
    '/api/v1/login',
    { name: login.login, password, ...(opts.otp ? { otp: opts.otp } : {}) },
    loginShape,
    { onHeaders: (headers) => (cookie = sessionCookieOf(headers)) },
  );
  if (cookie === undefined)
    throw new ShipcheckError(
      `${client.baseUrl} accepted the login of ${login.login} but set no ${SESSION_COOKIE} cookie`,
    );
  const session = new ApiClient(client.baseUrl, { session: { cookie, csrf: opened.csrf } });
  return {
    client: session,
    end: () =>
      session.post('/api/v1/logout', {}, okShape).then(
        () => undefined,
        () => undefined,
      ),
  };
}

/** `shipcheck_session=...` out of a login's set-cookie headers, without its attributes. */
function sessionCookieOf(headers: Headers): string | undefined {
  for (const header of headers.getSetCookie()) {
    const pair = header.split(';')[0]?.trim() ?? '';
    if (pair.startsWith(`${SESSION_COOKIE}=`) && pair.length > SESSION_COOKIE.length + 1) return pair;
  }
  return undefined;
}
