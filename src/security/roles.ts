/**
 * Who may do what. Roles are ordered: each includes the ones before it. A user holds a role per
 * environment (`production`) or for all of them (`*`); a unit without environments is reached only by
 * a grant for all.
 */

/** Every role, lowest first. */
export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A role in one environment, or in all of them with `*`. */
export interface Grant {
  environment: string;
  role: Role;
}

/** Whether `held` includes `needed`. */
export function roleAtLeast(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/** Whether `value` names a role. */
export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** The highest role `grants` give in `environment` (undefined: the unit has none), or undefined when they give none. */
export function roleIn(grants: readonly Grant[], environment: string | undefined): Role | undefined {
  let best: Role | undefined;
  for (const grant of grants) {
    if (grant.environment !== '*' && grant.environment !== environment) continue;
    if (best === undefined || roleAtLeast(grant.role, best)) best = grant.role;
  }
  return best;
}

/** The highest role `grants` give anywhere: what a user may hand on to a token, at most. */
export function highestRole(grants: readonly Grant[]): Role | undefined {
  let best: Role | undefined;
  for (const grant of grants) if (best === undefined || roleAtLeast(grant.role, best)) best = grant.role;
  return best;
}

/** `admin`, `deployer@production`: a grant as the CLI and config write it. */
export function parseGrant(text: string): Grant | string {
  const [role, environment, extra] = text.trim().split('@');
  if (extra !== undefined || role === undefined || !isRole(role))
    return `"${text}" is not a role; write one of ${ROLES.join(', ')}, optionally with @ENVIRONMENT (deployer@production)`;
  if (environment !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(environment))
    return `"${text}": "${environment}" is not an environment name`;
  return { role, environment: environment ?? '*' };
}

/** `deployer@production`, or `admin` for a grant in every environment. */
export function formatGrant(grant: Grant): string {
  return grant.environment === '*' ? grant.role : `${grant.role}@${grant.environment}`;
}
