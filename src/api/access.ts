/**
 * Who may call each route. Every route declares its access when it is registered (`withAccess`), and
 * `buildApi` refuses a route that does not, so a new route cannot be added without saying who it is
 * for; `src/api/access.test.ts` holds the whole table. The guard (`guard.ts`) enforces it.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { Role } from '../security/roles.js';

/**
 * - `public`: anyone, with no credentials (health checks, login, first-admin setup).
 * - `alert-token`: Alertmanager, with the bearer token of `rollback.alerts`, checked by its route.
 * - `signed-in`: anyone with a session or a token, whatever their role (their own session, MFA and tokens).
 * - a role: `viewer` reads; `deployer` deploys, promotes, pauses, resumes, aborts, rolls back and
 *   re-runs checks; `approver` signs and waives; `admin` manages users, tokens and the installation.
 */
export type Access = 'public' | 'alert-token' | 'signed-in' | Role;

/** What a route declares. */
export interface RouteConfig {
  access: Access;
  /** The role needed instead in a protected environment (promoting needs an approver there). */
  inProtected?: Role;
  /** The audit log's name for what the route does, e.g. `release.deploy`. */
  action?: string;
  /** A route about every unit at once (/metrics): the role is needed in every environment. */
  everywhere?: boolean;
  /**
   * A public route that also takes HTML form posts (`application/x-www-form-urlencoded`): the status
   * page's subscribe and unsubscribe forms, which act on no session and so ride on none.
   */
  forms?: boolean;
}

/** A route's declared access, as `METHOD /path` (Fastify's HEAD twins of GET routes left out). */
export interface RouteAccess {
  route: string;
  access: Access;
  inProtected?: Role;
}

/** Route options that declare `access` (and, for what changes something, the audit action). */
export function withAccess(access: Access, extra: Omit<RouteConfig, 'access'> = {}): { config: RouteConfig } {
  return { config: { access, ...extra } };
}

/** The declared config of the route a request matched, if any. */
export function routeConfigOf(config: unknown): RouteConfig | undefined {
  const access = (config as { access?: Access } | undefined)?.access;
  return access === undefined ? undefined : (config as RouteConfig);
}

const declared = new WeakMap<FastifyInstance, RouteAccess[]>();

/** Makes `app` refuse a route that declares no access, and remember each route's. */
export function requireAccess(app: FastifyInstance): void {
  const routes: RouteAccess[] = [];
  declared.set(app, routes);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = routeConfigOf(route.config);
    if (config === undefined)
      throw new Error(
        `${methods.join(',')} ${route.url} declares no access; register it with withAccess(...)`,
      );
    for (const method of methods)
      if (method !== 'HEAD')
        routes.push({
          route: `${method} ${route.url}`,
          access: config.access,
          ...(config.inProtected ? { inProtected: config.inProtected } : {}),
        });
  });
}

/** Every route of `app` with its declared access, in the order they were registered. */
export function declaredAccess(app: FastifyInstance): readonly RouteAccess[] {
  return declared.get(app) ?? [];
}
