/**
 * Enforces each route's declared access (access.ts) before its handler runs, and writes the audit
 * log entry of every mutating request and every refusal before the answer goes out.
 *
 * In order: the Host must be one this server answers to (DNS rebinding); a state change must not
 * come from another origin; the caller must prove who they are (a token, or a session cookie with
 * its CSRF header on state changes); their role in the unit's environment must be enough; and in a
 * protected environment an approver's or admin's action needs a fresh TOTP code.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, OtpRequiredError, UnauthorizedError } from '../errors.js';
import type { AuditLog } from '../security/audit.js';
import {
  ANONYMOUS,
  type Auth,
  CSRF_HEADER,
  OTP_HEADER,
  type Principal,
  WRONG_CREDENTIALS,
} from '../security/auth.js';
import { sameSecret } from '../security/credentials.js';
import { type Role, roleAtLeast } from '../security/roles.js';
import { type RouteConfig, routeConfigOf } from './access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request; set by the guard for every route that is not public. */
    principal?: Principal;
    /** Why the request failed, for the audit log. */
    auditReason?: string;
    /** The actor the audit log names when the request carries no principal (a failed login's name). */
    auditActor?: string;
  }
}

/** Names every loopback client uses for this server. */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1'];
const MUTATING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the guard needs besides the request. */
export interface GuardOptions {
  /** Undefined: authentication is off (`server.auth.required: false`, loopback only). */
  auth: Auth | undefined;
  audit: AuditLog | undefined;
  /** Host names answered besides the loopback ones (`server.hosts`, and the listen address's host). */
  hosts: readonly string[];
  protectedEnvironments: readonly string[];
  /** The unit (service or service@environment) of a release, for routes addressed by release id. */
  unitOfRelease(id: number): Promise<string | undefined>;
}

/** The host name of a Host header, without port or brackets, lowercased. */
export function hostName(header: string | undefined): string {
  const host = (header ?? '').trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/** The environment of a unit name (`web@production` -> `production`), undefined for `web`. */
export function environmentOf(unit: string | undefined): string | undefined {
  if (unit === undefined) return undefined;
  const at = unit.indexOf('@');
  return at < 0 ? undefined : unit.slice(at + 1);
}

/** The unit a request is about: `:service`, or the service of `:id`'s release. */
async function unitOf(request: FastifyRequest, options: GuardOptions): Promise<string | undefined> {
  const params = (request.params ?? {}) as { service?: string; id?: string };
  if (params.service !== undefined) return params.service;
  if (params.id !== undefined && /^\d+$/.test(params.id)) return options.unitOfRelease(Number(params.id));
  return undefined;
}

/**
 * Whether the principal holds at least `role` in the unit's environment. For a route about no unit:
 * an admin's (users, tokens, the audit log, reload) and one marked `everywhere` (/metrics) need the
 * role for all environments; a read that lists units (filtered to what the caller may see) needs it
 * in some environment.
 */
function holds(
  principal: Principal,
  role: Role,
  unit: string | undefined,
  anyUnit: boolean,
  everywhere: boolean,
): boolean {
  if (anyUnit && (everywhere || role === 'admin')) {
    const held = principal.roleIn(undefined);
    return held !== undefined && roleAtLeast(held, role);
  }
  if (!anyUnit) {
    const held = principal.roleIn(environmentOf(unit));
    return held !== undefined && roleAtLeast(held, role);
  }
  if (principal === ANONYMOUS) return true;
  const scopes = [
    ...(principal.user?.grants ?? []).map((g) => g.environment),
    principal.token?.environment ?? '*',
  ];
  const envs = new Set(scopes.map((env) => (env === '*' ? undefined : env)));
  for (const env of envs) {
    const held = principal.roleIn(env);
    if (held !== undefined && roleAtLeast(held, role)) return true;
  }
  return false;
}

/** Whether `principal` may see `unit` (lists and event streams leave out the others). */
export function canView(principal: Principal | undefined, unit: string): boolean {
  if (principal === undefined) return false;
  const held = principal.roleIn(environmentOf(unit));
  return held !== undefined && roleAtLeast(held, 'viewer');
}

/** Installs the guard and the audit hook on `app`. */
export function installGuard(app: FastifyInstance, options: GuardOptions): void {
  const hosts = new Set([...LOOPBACK_HOSTS, ...options.hosts.map((h) => h.toLowerCase())]);
  const protectedEnvs = new Set(options.protectedEnvironments);

  app.addHook('onRequest', async (request) => {
    const config = routeConfigOf(request.routeOptions.config);
    if (config === undefined || config.access === 'public') return;
    const host = hostName(request.headers.host);
    if (!hosts.has(host))
      throw new ForbiddenError(
        `this server does not answer to host "${host}"; add it to server.hosts if it is a name of this server`,
      );
    if (MUTATING.has(request.method)) refuseCrossOrigin(request);
    if (config.access === 'alert-token') return;
    const { auth } = options;
    if (auth === undefined) {
      request.principal = ANONYMOUS;
      return;
    }
    const principal = await auth.authenticate({
      authorization: request.headers.authorization,
      cookie: request.headers.cookie,
    });
    if (principal === undefined)
      throw new UnauthorizedError(
        'log in, or send an API token: "authorization: Bearer shc_..." (SHIPCHECK_TOKEN)',
      );
    request.principal = principal;
    if (principal.session && MUTATING.has(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameSecret(sent, principal.session.csrf))
        throw new ForbiddenError(
          `a change made with a session needs its CSRF token in the ${CSRF_HEADER} header`,
        );
    }
    if (config.access === 'signed-in') return;
    await authorize(request, config, principal, auth);
  });

  async function authorize(
    request: FastifyRequest,
    config: RouteConfig,
    principal: Principal,
    auth: Auth,
  ): Promise<void> {
    const unit = await unitOf(request, options);
    const params = (request.params ?? {}) as { service?: string; id?: string };
    const aboutUnit = params.service !== undefined || params.id !== undefined;
    const environment = environmentOf(unit);
    // `*` protects every unit, those of a service without environments too.
    const guarded =
      aboutUnit && (protectedEnvs.has('*') || (environment !== undefined && protectedEnvs.has(environment)));
    const needed = (guarded && config.inProtected ? config.inProtected : config.access) as Role;
    const everywhere = !aboutUnit && (config.everywhere === true || needed === 'admin');
    if (!holds(principal, needed, unit, !aboutUnit, everywhere)) {
      const where = aboutUnit
        ? environment
          ? ` in ${environment}`
          : ` for ${unit ?? 'this service'}`
        : everywhere
          ? ' in every environment'
          : '';
      throw new ForbiddenError(`${principal.name} may not do this: it needs the ${needed} role${where}`);
    }
    if (!guarded || !(needed === 'approver' || needed === 'admin')) return;
    if (auth.mfaFresh(principal)) return;
    const user = principal.user;
    if (!user?.totpConfirmed)
      throw new ForbiddenError(
        `${environment ?? unit} is protected: ${principal.name} needs TOTP for this; enrol with "shipcheck mfa enrol"`,
      );
    const code = request.headers[OTP_HEADER];
    if (typeof code !== 'string' || code.trim() === '')
      throw new OtpRequiredError(
        `${environment ?? unit} is protected: send a fresh TOTP code (--otp CODE, or the ${OTP_HEADER} header)`,
      );
    if (!(await auth.mfa.verify(user, code))) throw new UnauthorizedError(WRONG_CREDENTIALS);
    await auth.markMfa(principal);
  }

  app.addHook('onSend', async (request, reply, payload) => {
    const config = routeConfigOf(request.routeOptions.config);
    const status = reply.statusCode;
    const denied = status === 401 || status === 403 || status === 429;
    if (!options.audit || config === undefined) return payload;
    if (!denied && !MUTATING.has(request.method)) return payload;
    const params = (request.params ?? {}) as { service?: string };
    const actor =
      request.principal?.actor ??
      request.auditActor ??
      (config.access === 'alert-token' && !denied ? 'alertmanager' : 'anonymous');
    await options.audit.record({
      actor,
      action: config.action ?? `${request.method} ${request.routeOptions.url ?? request.url}`,
      target: auditTarget(request),
      service: params.service ?? null,
      address: request.ip,
      result: status < 400 ? 'ok' : denied ? 'denied' : 'failed',
      reason: status < 400 ? null : (request.auditReason ?? `HTTP ${status}`),
    });
    return payload;
  });
}

/** The characters of a token that name it (`shc_` and 8 more), as `GET /api/v1/tokens` shows its id. */
const TOKEN_ID_CHARS = 12;

/**
 * What a request acted on, for the audit log: the service, the release, the user or the token. A
 * token route may be given the whole token; only its id is written.
 */
export function auditTarget(request: FastifyRequest): string | null {
  const params = (request.params ?? {}) as { service?: string; id?: string; name?: string };
  const route = request.routeOptions.url ?? '';
  const bodyName = (request.body as { name?: unknown } | undefined)?.name;
  if (params.service !== undefined) return params.service;
  if (params.name !== undefined) return `user ${params.name}`;
  if (route.startsWith('/api/v1/tokens')) {
    if (params.id !== undefined) return `token ${params.id.slice(0, TOKEN_ID_CHARS)}`;
    return typeof bodyName === 'string' ? `token "${bodyName}"` : null;
  }
  if (route === '/api/v1/users' && typeof bodyName === 'string') return `user ${bodyName}`;
  return params.id !== undefined ? `release #${params.id}` : null;
}

/** Refuses a state change sent from another site: its Origin is not this server, or the browser says cross-site. */
function refuseCrossOrigin(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    throw new ForbiddenError('a change sent from another site is refused');
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let originHost: string;
  try {
    originHost = new URL(origin).host.toLowerCase();
  } catch {
    throw new ForbiddenError(`a change sent from origin "${origin}" is refused`);
  }
  if (originHost !== (request.headers.host ?? '').toLowerCase())
    throw new ForbiddenError(`a change sent from origin "${origin}" is refused`);
}
