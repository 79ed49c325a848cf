/**
 * The routes of identity: first-admin setup, login and logout, the caller's own session and TOTP,
 * users and API tokens (admins), and the audit log. The guard (guard.ts) has already checked the
 * declared access when a handler runs.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ConflictError, ForbiddenError, InputError, NotFoundError, UnauthorizedError } from '../errors.js';
import { type AuditEntry, verifyChain } from '../security/audit-chain.js';
import { type Auth, CSRF_HEADER, type Principal } from '../security/auth.js';
import { hashSecret, newSecret, newToken, sameSecret } from '../security/credentials.js';
import { hashPassword } from '../security/passwords.js';
import { type Grant, type Role, formatGrant, parseGrant, roleAtLeast } from '../security/roles.js';
import type { TokenRow, UserRow } from '../store/security-store.js';
import type { Store } from '../store/types.js';
import { withAccess } from './access.js';
import type { ApiSecurity } from './api-security.js';
import { Bodies, parseBody } from './bodies.js';

/** Default lifetime of an API token when the creator names none. */
const DEFAULT_TOKEN_DAYS = 90;
/** Longest lifetime of an API token. */
const MAX_TOKEN_DAYS = 366;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Most audit entries one request returns. */
const MAX_AUDIT_PAGE = 1000;
/** Audit entries read per page when the whole chain is verified. */
const VERIFY_PAGE = 5000;

/** A user as the API shows one: never the password hash or TOTP secret. */
export function userView(user: UserRow, now: number): Record<string, unknown> {
  return {
    name: user.name,
    email: user.email,
    roles: user.grants.map(formatGrant),
    groups: user.groups,
    source: user.source,
    disabled: user.disabledAt !== null,
    lockedUntil: user.lockedUntil !== null && user.lockedUntil > now ? user.lockedUntil : null,
    mfa: user.totpConfirmed,
    createdAt: user.createdAt,
  };
}

function tokenView(token: TokenRow, owner: string | undefined): Record<string, unknown> {
  return {
    id: token.prefix,
    name: token.name,
    user: owner ?? null,
    role: formatGrant({ role: token.role, environment: token.environment }),
    createdAt: token.createdAt,
    expiresAt: token.expiresAt,
    lastUsedAt: token.lastUsedAt,
    revokedAt: token.revokedAt,
  };
}

function grantsOf(texts: readonly string[]): Grant[] {
  return texts.map((text) => {
    const grant = parseGrant(text);
    if (typeof grant === 'string') throw new InputError(grant);
    return grant;
  });
}

/** Registers the identity routes on `app`. */
export function registerAuthRoutes(
  app: FastifyInstance,
  options: { store: Store; security: ApiSecurity | undefined },
): void {
  const users = options.store.security;
  const security = options.security;
  const now = (): number => security?.now() ?? Date.now();
  const authOf = (): Auth => {
    if (!security?.auth)
      throw new NotFoundError('authentication is off on this server (server.auth.required: false)');
    return security.auth;
  };
  const userOf = (request: FastifyRequest): UserRow => {
    const user = request.principal?.user;
    if (!user) throw new ForbiddenError('this needs a signed-in user');
    return user;
  };
  const isAdmin = (principal: Principal | undefined): boolean => {
    const role = principal?.roleIn(undefined);
    return role !== undefined && roleAtLeast(role, 'admin');
  };
  const named = async (name: string): Promise<UserRow> => {
    const user = await users.getUserByName(name);
    if (!user) throw new NotFoundError(`no user "${name}"`);
    return user;
  };

  // The page behind the setup link: a form that posts to /api/v1/setup. The code travels in the
  // link's fragment, which browsers never send, so it stays out of access logs.
  app.get('/setup', withAccess('public'), async (_request, reply) => {
    const nonce = newSecret(16);
    void reply
      .header('content-type', 'text/html; charset=utf-8')
      .header(
        'content-security-policy',
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'`,
      )
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-store');
    return SETUP_PAGE.replaceAll('{{nonce}}', nonce);
  });

  // The first admin, with the code `shipcheck up` printed while the store had no users.
  app.post<{ Body: unknown }>(
    '/api/v1/setup',
    withAccess('public', { action: 'setup' }),
    async (request, reply) => {
      const body = parseBody(Bodies.setup, request.body);
      request.auditActor = body.name;
      authOf();
      const code = security?.setup.code;
      if (code === undefined || (await users.countUsers()) > 0)
        throw new ConflictError(
          'this server already has users; an admin adds more with "shipcheck user add"',
        );
      if (!sameSecret(body.code, code)) throw new UnauthorizedError('wrong setup code');
      // Used up before the slow hash, so two requests with the code cannot both create an admin.
      security!.setup.code = undefined;
      let user: UserRow;
      try {
        user = await users.createUser({
          name: body.name,
          email: body.email ?? null,
          passwordHash: await hashPassword(body.password),
          grants: [{ environment: '*', role: 'admin' }],
          groups: [],
          source: 'local',
          subject: null,
          createdAt: now(),
        });
      } catch (err) {
        security!.setup.code = code;
        throw err;
      }
      return reply.status(201).send({ user: userView(user, now()) });
    },
  );

  app.post<{ Body: unknown }>(
    '/api/v1/login',
    withAccess('public', { action: 'login' }),
    async (request, reply) => {
      const auth = authOf();
      const body = parseBody(Bodies.login, request.body);
      request.auditActor = body.name;
      const opened = await auth.login({
        name: body.name,
        password: body.password,
        ...(body.otp !== undefined ? { otp: body.otp } : {}),
        address: request.ip,
      });
      void reply.header('set-cookie', auth.sessionCookie(opened.id));
      return {
        user: userView(opened.user, now()),
        csrf: opened.session.csrf,
        csrfHeader: CSRF_HEADER,
        expiresAt: opened.session.expiresAt,
      };
    },
  );

  app.post<{ Body: unknown }>(
    '/api/v1/logout',
    withAccess('signed-in', { action: 'logout' }),
    async (request, reply) => {
      parseBody(Bodies.none, request.body);
      const session = request.principal?.session;
      if (session) await users.deleteSession(session.hash);
      void reply.header('set-cookie', authOf().sessionCookie(undefined));
      return { ok: true };
    },
  );

  app.get('/api/v1/session', withAccess('signed-in'), async (request) => {
    const principal = request.principal!;
    return {
      actor: principal.actor,
      user: principal.user ? userView(principal.user, now()) : null,
      token: principal.token ? tokenView(principal.token, principal.user?.name) : null,
      csrf: principal.session?.csrf ?? null,
      expiresAt: principal.session?.expiresAt ?? principal.token?.expiresAt ?? null,
    };
  });

  // Each person's own second factor.
  app.post<{ Body: unknown }>(
    '/api/v1/me/mfa/enrol',
    withAccess('signed-in', { action: 'mfa.enrol' }),
    async (request) => {
      parseBody(Bodies.none, request.body);
      return authOf().mfa.start(userOf(request));
    },
  );
  app.post<{ Body: unknown }>(
    '/api/v1/me/mfa/confirm',
    withAccess('signed-in', { action: 'mfa.confirm' }),
    async (request) => {
      const { code } = parseBody(Bodies.code, request.body);
      const user = await named(userOf(request).name);
      return { recoveryCodes: await authOf().mfa.confirm(user, code) };
    },
  );
  // A step-up: a session proves a fresh code before an approver's or admin's action in a protected environment.
  app.post<{ Body: unknown }>(
    '/api/v1/me/mfa/verify',
    withAccess('signed-in', { action: 'mfa.verify' }),
    async (request) => {
      const { code } = parseBody(Bodies.code, request.body);
      const auth = authOf();
      const user = await named(userOf(request).name);
      if (!(await auth.mfa.verify(user, code))) throw new UnauthorizedError('wrong name, password or code');
      const session = request.principal?.session;
      if (session) await users.touchSession(session.hash, { mfaAt: now() });
      return { ok: true };
    },
  );

  app.get('/api/v1/users', withAccess('admin'), async () => ({
    users: (await users.listUsers()).map((user) => userView(user, now())),
  }));
  app.post<{ Body: unknown }>(
    '/api/v1/users',
    withAccess('admin', { action: 'user.add' }),
    async (request, reply) => {
      const body = parseBody(Bodies.addUser, request.body);
      const user = await users.createUser({
        name: body.name,
        email: body.email ?? null,
        passwordHash: body.password === undefined ? null : await hashPassword(body.password),
        grants: grantsOf(body.roles),
        groups: body.groups ?? [],
        source: 'local',
        subject: null,
        createdAt: now(),
      });
      return reply.status(201).send({ user: userView(user, now()) });
    },
  );
  const userCommand = (
    name: string,
    run: (user: UserRow, body: unknown, request: FastifyRequest) => Promise<UserRow>,
  ): void => {
    app.post<{ Params: { name: string }; Body: unknown }>(
      `/api/v1/users/:name/${name}`,
      withAccess('admin', { action: `user.${name}` }),
      async (request) => {
        const user = await named(request.params.name);
        return { user: userView(await run(user, request.body, request), now()) };
      },
    );
  };
  userCommand('disable', async (user, body, request) => {
    parseBody(Bodies.none, body);
    if (user.id === request.principal?.user?.id) throw new ConflictError('you cannot disable yourself');
    const updated = await users.updateUser(user.id, { disabledAt: now() }, now());
    await users.deleteUserSessions(user.id);
    return updated;
  });
  userCommand('enable', async (user, body) => {
    parseBody(Bodies.none, body);
    return users.updateUser(user.id, { disabledAt: null, failedLogins: 0, lockedUntil: null }, now());
  });
  userCommand('unlock', async (user, body) => {
    parseBody(Bodies.none, body);
    return users.updateUser(user.id, { failedLogins: 0, lockedUntil: null }, now());
  });
  userCommand('roles', async (user, body, request) => {
    const { roles, groups } = parseBody(Bodies.userRoles, body);
    const grants = grantsOf(roles);
    // An admin cannot take the admin role from themselves by mistake and lock everyone out.
    if (
      user.id === request.principal?.user?.id &&
      !grants.some((g) => g.role === 'admin' && g.environment === '*')
    )
      throw new ConflictError('you cannot remove your own admin role; another admin can');
    return users.updateUser(user.id, { grants, ...(groups !== undefined ? { groups } : {}) }, now());
  });
  userCommand('password', async (user, body) => {
    const { password } = parseBody(Bodies.password, body);
    const updated = await users.updateUser(user.id, { passwordHash: await hashPassword(password) }, now());
    await users.deleteUserSessions(user.id);
    return updated;
  });
  userCommand('reset-mfa', async (user, body) => {
    parseBody(Bodies.none, body);
    await authOf().mfa.reset(user);
    return named(user.name);
  });

  // Tokens: each person manages their own; an admin sees and revokes anyone's.
  app.get<{ Querystring: { all?: string } }>('/api/v1/tokens', withAccess('signed-in'), async (request) => {
    const all = request.query.all === 'true' || request.query.all === '1';
    if (all && !isAdmin(request.principal))
      throw new ForbiddenError('listing every token needs the admin role');
    const owner = all ? undefined : userOf(request).id;
    const names = new Map((await users.listUsers()).map((u) => [u.id, u.name]));
    return { tokens: (await users.listTokens(owner)).map((t) => tokenView(t, names.get(t.userId))) };
  });
  app.post<{ Body: unknown }>(
    '/api/v1/tokens',
    withAccess('signed-in', { action: 'token.create' }),
    async (request, reply) => {
      const body = parseBody(Bodies.createToken, request.body);
      const principal = request.principal!;
      const user = userOf(request);
      const [grant] = grantsOf([body.role]);
      const held = principal.roleIn(grant!.environment === '*' ? undefined : grant!.environment);
      if (held === undefined || !roleAtLeast(held, grant!.role))
        throw new ForbiddenError(
          `a token cannot hold more than its creator: ${principal.name} holds ${held ?? 'no role'} ${grant!.environment === '*' ? 'in every environment' : `in ${grant!.environment}`}`,
        );
      const lifetime = body.expiresIn ?? `${DEFAULT_TOKEN_DAYS}d`;
      const ms = Number(lifetime.slice(0, -1)) * (lifetime.endsWith('h') ? HOUR_MS : DAY_MS);
      if (ms <= 0 || ms > MAX_TOKEN_DAYS * DAY_MS)
        throw new InputError(`expiresIn: a token lives between 1h and ${MAX_TOKEN_DAYS}d`);
      const created = newToken();
      const row: TokenRow = {
        hash: created.hash,
        prefix: created.prefix,
        name: body.name,
        userId: user.id,
        role: grant!.role as Role,
        environment: grant!.environment,
        createdAt: now(),
        expiresAt: now() + ms,
        lastUsedAt: null,
        revokedAt: null,
        mfaAt: null,
      };
      await users.createToken(row);
      // The token itself is in this answer and nowhere else, ever.
      return reply.status(201).send({ token: created.token, ...tokenView(row, user.name) });
    },
  );
  app.post<{ Params: { id: string }; Body: unknown }>(
    '/api/v1/tokens/:id/revoke',
    withAccess('signed-in', { action: 'token.revoke' }),
    async (request) => {
      parseBody(Bodies.none, request.body);
      const all = await users.listTokens();
      const token = all.find(
        (t) => t.prefix === request.params.id || t.hash === hashSecret(request.params.id),
      );
      const mine = token !== undefined && token.userId === request.principal?.user?.id;
      if (!token || (!mine && !isAdmin(request.principal)))
        throw new NotFoundError(`no token "${request.params.id}"`);
      await users.revokeToken(token.hash, now());
      return { ...tokenView({ ...token, revokedAt: token.revokedAt ?? now() }, undefined) };
    },
  );

  app.get<{
    Querystring: {
      actor?: string;
      action?: string;
      service?: string;
      since?: string;
      until?: string;
      after?: string;
      limit?: string;
    };
  }>('/api/v1/audit', withAccess('admin'), async (request) => {
    const q = request.query;
    const time = (value: string | undefined, what: string): number | undefined => {
      if (value === undefined) return undefined;
      const at = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
      if (!Number.isFinite(at))
        throw new InputError(`${what} "${value}" is not a time: give an ISO time or epoch ms`);
      return at;
    };
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit <= 0)
      throw new InputError(`limit "${q.limit}" is not a positive integer`);
    const afterSeq = q.after === undefined ? undefined : Number(q.after);
    if (afterSeq !== undefined && !Number.isInteger(afterSeq))
      throw new InputError(`after "${q.after}" is not an entry number`);
    const since = time(q.since, 'since');
    const until = time(q.until, 'until');
    const entries = await users.listAudit({
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(q.service !== undefined ? { service: q.service } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(afterSeq !== undefined ? { afterSeq } : {}),
      limit: Math.min(limit, MAX_AUDIT_PAGE),
    });
    return {
      entries,
      head: (await users.auditHead()) ?? null,
      archive: (await users.auditArchive()) ?? null,
    };
  });
  // Retention: the caller wrote the entries up to `throughSeq` to an archive file and verified it.
  app.post<{ Body: unknown }>(
    '/api/v1/audit/archive',
    withAccess('admin', { action: 'audit.archive' }),
    async (request) => {
      const through = parseBody(Bodies.archive, request.body);
      const removed = await users.archiveAudit({ seq: through.throughSeq, hash: through.hash });
      return { archived: removed, archive: { seq: through.throughSeq, hash: through.hash } };
    },
  );
  app.get<{ Querystring: { anchor?: string } }>(
    '/api/v1/audit/verify',
    withAccess('admin'),
    async (request) => verifyStoredChain(options.store, parseAnchor(request.query.anchor)),
  );
}

/** `17:ab12...`: an entry and the hash a report recorded for it. */
export function parseAnchor(text: string | undefined): { seq: number; hash: string } | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+):([0-9a-f]{64})$/.exec(text.trim());
  if (!match)
    throw new InputError(`anchor "${text}" is not SEQ:HASH (an entry number and its 64-hex sha256)`);
  return { seq: Number(match[1]), hash: match[2]! };
}

/**
 * Verifies the whole audit chain in the store against the recorded head, and against `anchor` (an
 * entry and hash a report recorded earlier) when given: a log rewritten since then fails there.
 */
export async function verifyStoredChain(
  store: Store,
  anchor?: { seq: number; hash: string },
): Promise<ReturnType<typeof verifyChain>> {
  if (anchor) {
    const all = await store.security.listAudit({ afterSeq: anchor.seq - 1, limit: 1 });
    const entry = all[0];
    if (!entry || entry.seq !== anchor.seq || entry.hash !== anchor.hash) {
      return {
        ok: false,
        count: 0,
        firstBad: anchor.seq,
        problem: entry ? 'edited' : 'truncated',
        message: entry
          ? `entry ${anchor.seq} does not have the hash the anchor recorded: the log was rewritten up to there`
          : `entry ${anchor.seq}, which the anchor recorded, is gone`,
      };
    }
  }
  const head = await store.security.auditHead();
  // Entries moved to an archive file are checked there; the live chain starts after the last one.
  const archive = await store.security.auditArchive();
  const pages = async function* (): AsyncGenerator<AuditEntry[]> {
    let after = 0;
    for (;;) {
      const page = (await store.security.listAudit({ afterSeq: after, limit: VERIFY_PAGE })) as AuditEntry[];
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1]!.seq;
    }
  };
  const all: AuditEntry[] = [];
  for await (const page of pages()) all.push(...page);
  return verifyChain(all, { ...(head ? { head } : {}), ...(archive ? { startAfter: archive } : {}) });
}

/** The first-admin form: no external assets, its script allowed by a per-response nonce. */
const SETUP_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>shipcheck: create the first admin</title>
<style nonce="{{nonce}}">body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111;background:#fff}
label{display:block;margin-top:1rem}input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}
button{margin-top:1.5rem;padding:.6rem 1.2rem;font:inherit}#out{margin-top:1rem}
@media (prefers-color-scheme:dark){body{color:#eee;background:#111}}</style></head>
<body><h1>Create the first admin</h1>
<p>This link works once, while the server has no users.</p>
<form id="f"><label>Name <input name="name" required autocomplete="username" pattern="[A-Za-z0-9][A-Za-z0-9._@-]*"></label>
<label>Email <input name="email" type="email" autocomplete="email"></label>
<label>Password (12 characters or more) <input name="password" type="password" required minlength="12" autocomplete="new-password"></label>
<button type="submit">Create admin</button></form><p id="out" role="status"></p>
<script nonce="{{nonce}}">
const code = new URLSearchParams(location.hash.slice(1)).get('code') || '';
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(e.target));
  if (!data.email) delete data.email;
  const res = await fetch('/api/v1/setup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...data, code }) });
  const body = await res.json().catch(() => ({}));
  document.getElementById('out').textContent = res.ok
    ? 'Done: ' + data.name + ' is an admin. Create a token with "shipcheck token create --login ' + data.name + '".'
    : 'Refused: ' + (body.error || res.status);
});
</script></body></html>
`;
