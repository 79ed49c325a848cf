/**
 * shipcheck's roles, weakest first: a viewer reads, a deployer starts and steers releases, an
 * approver signs off checklist gates, an admin manages people and settings. Each role can do
 * everything the ones before it can.
 */
export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;

/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];

/** A role held in one environment, or in every environment when `environment` is `'*'`. */
export interface Grant {
  /** An environment name, or `'*'` for all of them. */
  environment: string;
  role: Role;
}

/** Whether role `a` can do everything role `b` can (it is `b` or stronger). */
export function roleAtLeast(a: Role, b: Role): boolean {
  return ROLES.indexOf(a) >= ROLES.indexOf(b);
}
