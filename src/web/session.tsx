/**
 * Who is signed in, and what they may do where. The API decides every request; the dashboard only
 * uses the roles to leave out controls that would be refused.
 */
import { createContext, useContext } from 'react';
import { ROLES, type Role, type Session } from './api/types.js';

/** The signed-in session and how to end it. */
export interface SessionState {
  session: Session;
  /** Reads the session again (after MFA changes). */
  refresh: () => Promise<void>;
  logout: () => Promise<void>;
}

/** The session of the signed-in user; the app renders pages only inside it. */
export const SessionContext = createContext<SessionState | null>(null);

/** The session of the signed-in user. */
export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside a signed-in page');
  return state;
}

function rank(role: string): number {
  return ROLES.indexOf(role as Role);
}

/**
 * The highest role `roles` grant in `environment` (`deployer` for every environment,
 * `approver@production` for one); `undefined` for none. Without an environment (a service
 * without environments), only roles for every environment count.
 */
export function roleIn(roles: readonly string[], environment: string | null): Role | undefined {
  let best = -1;
  for (const grant of roles) {
    const [role = '', env] = grant.split('@');
    if (env !== undefined && env !== environment) continue;
    best = Math.max(best, rank(role));
  }
  return best >= 0 ? ROLES[best] : undefined;
}

/** Whether `roles` hold at least `needed` in `environment`. */
export function mayDo(roles: readonly string[], needed: Role, environment: string | null): boolean {
  const role = roleIn(roles, environment);
  return role !== undefined && rank(role) >= rank(needed);
}

/** Whether `roles` hold `needed` in every environment (the admin pages need admin everywhere). */
export function mayDoEverywhere(roles: readonly string[], needed: Role): boolean {
  return roles.some((grant) => !grant.includes('@') && rank(grant) >= rank(needed));
}

/** The environment of a unit name: `web@production` is in `production`, `web` in none. */
export function environmentOf(unit: string): string | null {
  const at = unit.indexOf('@');
  return at < 0 ? null : unit.slice(at + 1);
}
