/**
 * The roles a person may give a new API token: the API refuses a role above what its creator holds
 * in that environment, so the form offers only those.
 */
import { ROLES, type Role } from './api/types.js';

/** A role for every environment or `role@environment`, as the API's `role` field takes it. */
const GRANT = /^(viewer|deployer|approver|admin)(@[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/** Whether `text` is a role the API can read: `deployer`, `approver@production`. */
export function isRoleGrant(text: string): boolean {
  return GRANT.test(text);
}

/**
 * The roles a token may have for someone who holds `roles`: each grant and every lower role in the
 * same place (`approver@production` offers `approver@production`, `deployer@production` and
 * `viewer@production`), highest first, each once.
 */
export function tokenRoleChoices(roles: readonly string[]): string[] {
  const choices: string[] = [];
  const grants = roles
    .map((grant) => {
      const [role = '', environment] = grant.split('@');
      return { rank: ROLES.indexOf(role as Role), environment };
    })
    .filter((grant) => grant.rank >= 0)
    // Grants for every environment first, then by environment name, each from its highest role.
    .sort(
      (a, b) =>
        Number(a.environment !== undefined) - Number(b.environment !== undefined) ||
        (a.environment ?? '').localeCompare(b.environment ?? '') ||
        b.rank - a.rank,
    );
  for (const grant of grants)
    for (let rank = grant.rank; rank >= 0; rank--) {
      const choice = grant.environment === undefined ? ROLES[rank]! : `${ROLES[rank]}@${grant.environment}`;
      if (!choices.includes(choice)) choices.push(choice);
    }
  return choices;
}
