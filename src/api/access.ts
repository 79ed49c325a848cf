/**
 * Who may call each route. Every route declares its access when it is registered (`withAccess`), and
 * `buildApi` refuses a route that does not, so a new route cannot be added without saying who it is
 * for; `src/api/access.test.ts` holds the whole table. Authentication does not exist yet, so nothing
 * is enforced from it: every route is open, as docs/api.md says. The roles are the ones users and
 * tokens will carry.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * - `public`: anyone, with no credentials (health checks).
 * - `alert-token`: Alertmanager, with the bearer token of `rollback.alerts`, checked by its route.
 * - `viewer`: read releases, checklists, events, metrics and service discovery.
 * - `operator`: deploy, promote, pause, resume, abort, roll back, re-run a check.
 * - `approver`: sign and waive checklist items.
 * - `admin`: change the installation (reload).
 */
export type Access = 'public' | 'alert-token' | 'viewer' | 'operator' | 'approver' | 'admin';

/** A route's declared access, as `METHOD /path` (Fastify's HEAD twins of GET routes left out). */
export interface RouteAccess {
  route: string;
  access: Access;
}

/** Route options that declare `access`. */
export function withAccess(access: Access): { config: { access: Access } } {
  return { config: { access } };
}

const declared = new WeakMap<FastifyInstance, RouteAccess[]>();

/** Makes `app` refuse a route that declares no access, and remember each route's. */
export function requireAccess(app: FastifyInstance): void {
  const routes: RouteAccess[] = [];
  declared.set(app, routes);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (access === undefined)
      throw new Error(
        `${methods.join(',')} ${route.url} declares no access; register it with withAccess(...)`,
      );
    for (const method of methods)
      if (method !== 'HEAD') routes.push({ route: `${method} ${route.url}`, access });
  });
}

/** Every route of `app` with its declared access, in the order they were registered. */
export function declaredAccess(app: FastifyInstance): readonly RouteAccess[] {
  return declared.get(app) ?? [];
}
