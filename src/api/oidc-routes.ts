/**
 * Single sign-on: `GET /api/v1/auth/oidc/login` sends the browser to the OpenID provider, and
 * `GET /api/v1/auth/oidc/callback` takes it back, checks what the provider says (security/oidc.ts),
 * keeps the user's roles and groups in step with the provider's claims, opens a session and moves
 * on to the dashboard page the sign-in started from. `GET /api/v1/auth/methods` tells the
 * dashboard's sign-in page, before anyone is signed in, whether to offer the provider.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, NotFoundError, ProviderError, UnauthorizedError } from '../errors.js';
import { cookieValue } from '../security/auth.js';
import { OIDC_REFUSAL, OidcLogin, PENDING_TTL_MS, isOidcRefusal } from '../security/oidc.js';
import { type OidcConfig, oidcDisplayName } from '../security/oidc-config.js';
import type { SecurityStore, UserRow } from '../store/security-store.js';
import { withAccess } from './access.js';
import type { ApiSecurity } from './api-security.js';
import { safeReturnPath } from './return-path.js';

/**
 * The short-lived cookie that carries a sign-in's state, nonce and PKCE verifier to the callback,
 * and the dashboard page to return to: `PENDING.RETURN`, both base64url.
 */
const PENDING_COOKIE = 'shipcheck_oidc';
export const CALLBACK_PATH = '/api/v1/auth/oidc/callback';

/** The pending cookie's value: the pending sign-in and, after a dot, the return path. */
function pendingValue(pending: string, returnPath: string): string {
  return `${pending}.${Buffer.from(returnPath).toString('base64url')}`;
}

/** The pending sign-in and the return path in a pending cookie's value; the path is checked again. */
function readPendingValue(value: string): { pending: string; returnPath: string } {
  const dot = value.indexOf('.');
  if (dot < 0) return { pending: value, returnPath: safeReturnPath(undefined) };
  const returnPath = Buffer.from(value.slice(dot + 1), 'base64url').toString('utf8');
  return { pending: value.slice(0, dot), returnPath: safeReturnPath(returnPath) };
}

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

  // How the sign-in page may sign someone in, before anyone is: nothing secret, only whether a
  // provider is configured and the name to put on its button.
  app.get('/api/v1/auth/methods', withAccess('public'), async () => {
    const oidc = security?.auth ? security.oidc : undefined;
    return {
      password: security?.auth !== undefined,
      oidc: oidc ? { name: oidcDisplayName(oidc) } : null,
    };
  });

  // `next`: the dashboard page to come back to; anything but a local page path comes back to `/`.
  app.get<{ Querystring: { next?: unknown } }>(
    '/api/v1/auth/oidc/login',
    withAccess('public'),
    async (request, reply) => {
      const { url, pending } = (await loginOf()).start();
      const returnPath = safeReturnPath(request.query.next);
      return reply.header('set-cookie', pendingCookie(pendingValue(pending, returnPath))).redirect(url, 302);
    },
  );

  // The provider sends a browser here: a refusal is a page saying why with a way back, not JSON.
  app.get(CALLBACK_PATH, withAccess('public', { action: 'login.oidc' }), async (request, reply) => {
    try {
      return await callback(request, reply);
    } catch (err) {
      const status =
        err instanceof UnauthorizedError
          ? 401
          : err instanceof ForbiddenError
            ? 403
            : err instanceof ProviderError
              ? 502
              : undefined;
      if (status === undefined) throw err;
      request.auditReason = (err as Error).message;
      return refused(reply.status(status), (err as Error).message);
    }
  });

  async function callback(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const auth = security?.auth;
    const oidcLogin = await loginOf();
    const cookie = cookieValue(request.headers.cookie, PENDING_COOKIE);
    void reply.header('set-cookie', pendingCookie(undefined));
    if (cookie === undefined)
      throw new UnauthorizedError('single sign-on: no sign-in was started in this browser; start again');
    const { pending, returnPath } = readPendingValue(cookie);
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
    return signedIn(reply, auth!.sessionCookie(opened.id), user, returnPath);
  }

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

/** `text` safe inside HTML text and a double-quoted attribute. */
function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** The page of a sign-in the provider or shipcheck refused: why, and the way back to sign in. */
function refused(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'")
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not signed in</title></head><body><h1>Not signed in</h1><p>${escapeHtml(message)}</p><p><a href="/login">Back to sign in</a></p></body></html>\n`,
    );
}

/**
 * The page after sign-in, which moves on to `returnPath` (a local path, see safeReturnPath). The
 * session cookie is SameSite=Strict, so a browser arriving from the provider's redirect would not
 * send it on a further redirect; a page of our own that moves on does.
 */
function signedIn(reply: FastifyReply, cookie: string, user: UserRow, returnPath: string): FastifyReply {
  const name = user.name.replace(/[&<>"']/g, '');
  const next = escapeHtml(safeReturnPath(returnPath));
  return reply
    .header('set-cookie', cookie)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'")
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${next}"><title>Signed in</title></head><body><p>Signed in as ${name}. <a href="${next}">Continue</a></p></body></html>\n`,
    );
}
