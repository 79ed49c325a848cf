/**
 * `shipcheck user ...`: people who sign in, their roles, groups, password, lockout and TOTP. Each
 * action goes through the API with an admin's token by default; with `--offline` it opens the store
 * from the config file and writes there, which is how the first admin is made (`shipcheck user add
 * NAME --admin --offline`) and how a locked-out admin gets back in.
 */
import { userView } from '../../api/auth-routes.js';
import { Bodies, parseBody } from '../../api/bodies.js';
import { InputError, NotFoundError } from '../../errors.js';
import { Mfa } from '../../security/mfa.js';
import { hashPassword, checkPassword } from '../../security/passwords.js';
import { loadKeyRing } from '../../security/key-ring.js';
import { type Grant, parseGrant } from '../../security/roles.js';
import { keyFileOf } from '../../security/security.js';
import type { UserPatch, UserRow } from '../../store/security-store.js';
import { type UserView, userShape, usersShape } from '../api-shapes.js';
import { type OfflineStore, withOfflineStore } from '../offline.js';
import { readPassword } from '../prompt.js';
import { formatTable, formatTime } from '../table.js';
import { type GlobalOptions, type Io, resolveServer } from '../target.js';

/** Flags every user command takes. */
export interface UserOptions extends GlobalOptions {
  /** Write to the store from the config file instead of asking the API. */
  offline?: boolean;
}

/** `user add` flags. */
export interface UserAddOptions extends UserOptions {
  email?: string;
  roles: string[];
  groups: string[];
  /** Shorthand for `--role admin`. */
  admin?: boolean;
  passwordStdin?: boolean;
}

/** The user actions that take nothing but the name. */
export type UserAction = 'disable' | 'enable' | 'unlock' | 'reset-mfa';

/** What each action prints once done: `disabled user bob`. */
const DONE: Record<UserAction | 'password' | 'roles', string> = {
  disable: 'disabled',
  enable: 'enabled',
  unlock: 'unlocked',
  'reset-mfa': 'removed TOTP and recovery codes of',
  password: 'set a new password for',
  roles: 'set the roles of',
};

/**
 * `shipcheck user add NAME [--email E] [--role R]... [--group G]... [--admin] [--password-stdin]
 * [--offline]`: a local user with a password (read from stdin or asked twice on a terminal). An
 * InputError without a role; offline, a ConflictError when the name is taken.
 */
export async function userAddCommand(name: string, opts: UserAddOptions, io: Io): Promise<number> {
  const roles = [...new Set([...opts.roles, ...(opts.admin ? ['admin'] : [])])];
  if (roles.length === 0)
    throw new InputError(
      `user add ${name}: give at least one --role (viewer, deployer, approver, admin, optionally @ENVIRONMENT) or --admin`,
    );
  grantsOf(roles);
  const password = await readPassword({
    stdin: opts.passwordStdin ?? false,
    what: `password for ${name}`,
    confirm: true,
  });
  checkPassword(password);
  const body = {
    name,
    password,
    roles,
    ...(opts.email !== undefined ? { email: opts.email } : {}),
    ...(opts.groups.length > 0 ? { groups: opts.groups } : {}),
  };
  let user: UserView;
  if (opts.offline) {
    user = await withOfflineStore(opts.config, async (offline) => {
      const checked = parseBody(Bodies.addUser, body);
      const now = offline.clock.now();
      const row = await offline.store.security.createUser({
        name: checked.name,
        email: checked.email ?? null,
        passwordHash: await hashPassword(password),
        grants: grantsOf(checked.roles),
        groups: checked.groups ?? [],
        source: 'local',
        subject: null,
        createdAt: now,
      });
      await offline.record({
        action: 'user.add',
        target: `user:${row.name}`,
        result: 'ok',
        data: { roles: checked.roles, groups: checked.groups ?? [] },
      });
      return viewOf(row, now);
    });
  } else {
    const { client } = await resolveServer(opts);
    user = (await client.post('/api/v1/users', body, userShape)).user;
  }
  printUser(user, `added user ${user.name} (${user.roles.join(', ')})`, opts, io);
  return 0;
}

/** `shipcheck user list [--json] [--offline]`: every user with roles, groups, MFA, state and source. */
export async function userListCommand(opts: UserOptions, io: Io): Promise<number> {
  const users = opts.offline
    ? await withOfflineStore(opts.config, async (offline) => {
        const now = offline.clock.now();
        return (await offline.store.security.listUsers()).map((row) => viewOf(row, now));
      })
    : (await (await resolveServer(opts)).client.get('/api/v1/users', usersShape)).users;
  if (opts.json) {
    io.out(JSON.stringify({ users }, null, 2));
    return 0;
  }
  const rows = users.map((u) => [
    u.name,
    u.roles.join(',') || '-',
    u.groups.join(',') || '-',
    u.mfa ? 'yes' : 'no',
    u.disabled ? 'disabled' : u.lockedUntil !== null ? `locked until ${formatTime(u.lockedUntil)}` : 'active',
    u.source,
  ]);
  formatTable(['NAME', 'ROLES', 'GROUPS', 'MFA', 'STATE', 'SOURCE'], rows).forEach((line) => io.out(line));
  return 0;
}

/**
 * `shipcheck user disable|enable|unlock|reset-mfa NAME [--offline]`. Disabling ends the user's
 * sessions and refuses their tokens; enabling also clears a lockout; reset-mfa removes TOTP and the
 * recovery codes (a lost device).
 */
export async function userActionCommand(
  action: UserAction,
  name: string,
  opts: UserOptions,
  io: Io,
): Promise<number> {
  const user = opts.offline
    ? await offlineChange(opts.config, name, `user.${action}`, {}, async (offline, row, now) => {
        switch (action) {
          case 'disable': {
            const updated = await offline.store.security.updateUser(row.id, { disabledAt: now }, now);
            await offline.store.security.deleteUserSessions(row.id);
            return updated;
          }
          case 'enable':
            return patch(offline, row, { disabledAt: null, failedLogins: 0, lockedUntil: null }, now);
          case 'unlock':
            return patch(offline, row, { failedLogins: 0, lockedUntil: null }, now);
          case 'reset-mfa': {
            const keys = () =>
              loadKeyRing({ env: process.env, file: keyFileOf(offline.installation.dir), now });
            await new Mfa(offline.store.security, keys, offline.clock).reset(row);
            return named(offline, row.name);
          }
        }
      })
    : await apiChange(opts, name, action, {});
  printUser(user, `${DONE[action]} user ${user.name}`, opts, io);
  return 0;
}

/**
 * `shipcheck user reset-password NAME [--password-stdin] [--offline]`: a new password (asked twice on
 * a terminal); the user's sessions end.
 */
export async function userResetPasswordCommand(
  name: string,
  opts: UserOptions & { passwordStdin?: boolean },
  io: Io,
): Promise<number> {
  const password = await readPassword({
    stdin: opts.passwordStdin ?? false,
    what: `new password for ${name}`,
    confirm: true,
  });
  checkPassword(password);
  const user = opts.offline
    ? await offlineChange(opts.config, name, 'user.password', {}, async (offline, row, now) => {
        const updated = await patch(offline, row, { passwordHash: await hashPassword(password) }, now);
        await offline.store.security.deleteUserSessions(row.id);
        return updated;
      })
    : await apiChange(opts, name, 'password', { password });
  printUser(user, `${DONE.password} user ${user.name}`, opts, io);
  return 0;
}

/**
 * `shipcheck user roles NAME --role R... [--group G...] [--offline]`: replaces the user's roles, and
 * their groups when any `--group` is given.
 */
export async function userRolesCommand(
  name: string,
  opts: UserOptions & { roles: string[]; groups: string[]; admin?: boolean },
  io: Io,
): Promise<number> {
  const roles = [...new Set([...opts.roles, ...(opts.admin ? ['admin'] : [])])];
  if (roles.length === 0)
    throw new InputError(`user roles ${name}: give the roles to set with --role (at least one)`);
  const grants = grantsOf(roles);
  const body = { roles, ...(opts.groups.length > 0 ? { groups: opts.groups } : {}) };
  const user = opts.offline
    ? await offlineChange(opts.config, name, 'user.roles', body, async (offline, row, now) => {
        const checked = parseBody(Bodies.userRoles, body);
        return patch(
          offline,
          row,
          { grants, ...(checked.groups !== undefined ? { groups: checked.groups } : {}) },
          now,
        );
      })
    : await apiChange(opts, name, 'roles', body);
  printUser(
    user,
    `${DONE.roles} user ${user.name}: ${user.roles.join(', ')}${user.groups.length > 0 ? `; groups ${user.groups.join(', ')}` : ''}`,
    opts,
    io,
  );
  return 0;
}

/** `viewer`, `deployer@production` as grants; an InputError naming a role that is not one. */
function grantsOf(roles: readonly string[]): Grant[] {
  return roles.map((text) => {
    const grant = parseGrant(text);
    if (typeof grant === 'string') throw new InputError(grant);
    return grant;
  });
}

/** The user as the API would show it, so `--offline --json` prints the same JSON. */
function viewOf(row: UserRow, now: number): UserView {
  // Checked against the shape the API's answers are checked against, so both print the same JSON.
  const { users } = usersShape.schema.parse({ users: [userView(row, now)] }) as { users: UserView[] };
  return users[0]!;
}

/** POSTs `/api/v1/users/NAME/ACTION` with `body` and returns the user as it is now. */
async function apiChange(opts: UserOptions, name: string, action: string, body: object): Promise<UserView> {
  const { client } = await resolveServer(opts);
  return (await client.post(`/api/v1/users/${encodeURIComponent(name)}/${action}`, body, userShape)).user;
}

/** Changes user `name` in the store with `change`, then records `action` in the audit log. */
async function offlineChange(
  config: string,
  name: string,
  action: string,
  data: Record<string, unknown>,
  change: (offline: OfflineStore, row: UserRow, now: number) => Promise<UserRow>,
): Promise<UserView> {
  return withOfflineStore(config, async (offline) => {
    const now = offline.clock.now();
    const updated = await change(offline, await named(offline, name), now);
    await offline.record({ action, target: `user:${updated.name}`, result: 'ok', data });
    return viewOf(updated, now);
  });
}

async function named(offline: OfflineStore, name: string): Promise<UserRow> {
  const row = await offline.store.security.getUserByName(name);
  if (!row) throw new NotFoundError(`no user "${name}" in ${offline.installation.store}`);
  return row;
}

function patch(offline: OfflineStore, row: UserRow, change: UserPatch, now: number): Promise<UserRow> {
  return offline.store.security.updateUser(row.id, change, now);
}

function printUser(user: UserView, done: string, opts: GlobalOptions, io: Io): void {
  io.out(opts.json ? JSON.stringify({ user }, null, 2) : done);
}
