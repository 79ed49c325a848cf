/**
 * Single sign-on: `GET /api/v1/auth/oidc/login` sends the browser to the OpenID provider, and
 * `GET /api/v1/auth/oidc/callback` takes it back, checks what the provider says (security/oidc.ts),
 * keeps the user's roles and groups in step with the provider's claims, and opens a session.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ForbiddenError, NotFoundError, ProviderError, UnauthorizedError } from '../errors.js';
import { cookieValue } from '../security/auth.js';
import { OIDC_REFUSAL, OidcLogin, PENDING_TTL_MS, isOidcRefusal } from '../security/oidc.js';
import type { OidcConfig } from '../security/oidc-config.js';
import type { SecurityStore, UserRow } from '../store/security-store.js';
import { withAccess } from './access.js';
import type { ApiSecurity } from './api-security.js';

/** The short-lived cookie that carries a sign-in's state, nonce and PKCE verifier to the callback. */
const PENDING_COOKIE = 'shipcheck_oidc';
export const CALLBACK_PATH = '/api/v1/auth/oidc/callback';
/** Where a signed-in browser goes: the dashboard once it exists, who-am-I until then. */
const AFTER_LOGIN = '/api/v1/session';

/** A user name from what the provider says: letters, digits and `._@-`, as the API's names are. */
function nameFrom(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._@-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return (cleaned || 'user').slice(0, 90);
}

/** Registers the single sign-on routes; without `server.auth.oidc` they answer 404. */
export function registerOidcRoutes(
  app: FastifyInstance,
  options: { users: SecurityStore; security: ApiSecurity | undefined },
): void {
  const { users, security } = options;
  let login: Promise<OidcLogin> | undefined;
  const config = (): OidcConfig => {
    const oidc = security?.oidc;
    if (!security?.auth || !oidc)
      throw new NotFoundError('single sign-on is not configured (server.auth.oidc)');
    return oidc;
  };
  const loginOf = (): Promise<OidcLogin> => {
    const oidc = config();
    login ??= OidcLogin.discover(oidc, {
      redirectUri: `${security!.publicUrl()}${CALLBACK_PATH}`,
      clock: { now: () => security!.now() },
    }).catch((err: unknown) => {
      // The provider may be back later: the next sign-in discovers it again.
      login = undefined;
      throw err;
    });
    return login;
  };
  const pendingCookie = (value: string | undefined): string =>
    [
      `${PENDING_COOKIE}=${value ?? ''}`,
      `Path=${CALLBACK_PATH}`,
      `Max-Age=${value === undefined ? 0 : Math.floor(PENDING_TTL_MS / 1000)}`,
      'HttpOnly',
      // Lax, not Strict: the provider's redirect back is a cross-site navigation.
      'SameSite=Lax',
      ...(security?.secure ? ['Secure'] : []),
    ].join('; ');

  app.get('/api/v1/auth/oidc/login', withAccess('public'), async (_request, reply) => {
    const { url, pending } = (await loginOf()).start();
    return reply.header('set-cookie', pendingCookie(pending)).redirect(url, 302);
  });

  app.get(CALLBACK_PATH, withAccess('public', { action: 'login.oidc' }), async (request, reply) => {
    const auth = security?.auth;
    const oidcLogin = await loginOf();
    const pending = cookieValue(request.headers.cookie, PENDING_COOKIE);
    void reply.header('set-cookie', pendingCookie(undefined));
    if (pending === undefined)
      throw new UnauthorizedError('single sign-on: no sign-in was started in this browser; start again');
    const identity = await oidcLogin.finish(new URL(request.url, security!.publicUrl()), pending);
    if (isOidcRefusal(identity)) {
      if (identity.refused === OIDC_REFUSAL.providerError) throw new ProviderError(identity.message);
      if (identity.refused === OIDC_REFUSAL.unmappedClaim) throw new ForbiddenError(identity.message);
      throw new UnauthorizedError(`single sign-on refused: ${identity.message}`);
    }
    request.auditActor = identity.name;
    const user = await upsert(identity);
    request.auditActor = user.name;
    if (user.disabledAt !== null)
      throw new UnauthorizedError('single sign-on refused: this user is disabled');
    const opened = await auth!.openSession(user, request.ip, null);
    return signedIn(reply, auth!.sessionCookie(opened.id), user);
  });

  async function upsert(identity: {
    issuer: string;
    subject: string;
    name: string;
    email?: string;
    grants: UserRow['grants'];
    groups: string[];
  }): Promise<UserRow> {
    const subject = `${identity.issuer} ${identity.subject}`;
    const now = security!.now();
    const known = await users.getUserBySubject(subject);
    // The provider is the source of truth for roles and groups: they follow it on every sign-in.
    if (known)
      return users.updateUser(
        known.id,
        { grants: identity.grants, groups: identity.groups, email: identity.email ?? known.email },
        now,
      );
    const base = nameFrom(identity.email ?? identity.name);
    for (let n = 1; n < 100; n++) {
      const name = n === 1 ? base : `${base}-${n}`;
      if (await users.getUserByName(name)) continue;
      return users.createUser({
        name,
        email: identity.email ?? null,
        passwordHash: null,
        grants: identity.grants,
        groups: identity.groups,
        source: 'oidc',
        subject,
        createdAt: now,
      });
    }
    throw new ForbiddenError(`single sign-on: no free user name for ${identity.name}`);
  }
}

/**
 * The page after sign-in. The session cookie is SameSite=Strict, so a browser arriving from the
 * provider's redirect would not send it on a further redirect; a page of our own that moves on does.
 */
function signedIn(reply: FastifyReply, cookie: string, user: UserRow): FastifyReply {
  const name = user.name.replace(/[&<>"']/g, '');
  return reply
    .header('set-cookie', cookie)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'")
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${AFTER_LOGIN}"><title>Signed in</title></head><body><p>Signed in as ${name}. <a href="${AFTER_LOGIN}">Continue</a></p></body></html>\n`,
    );
}
