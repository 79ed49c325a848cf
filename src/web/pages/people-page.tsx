/**
 * People, for admins: every user with the actions on them, a form to add one, and every user's API
 * tokens. Each change asks first and says what it will do.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { listTokens, listUsers, revokeToken, setPassword, setRoles, userAction } from '../api/resources.js';
import type { Token, User } from '../api/types.js';
import { parseCommaList } from '../comma-list.js';
import { AddUserForm } from '../components/add-user-form.js';
import { type ConfirmRequest, useConfirm } from '../components/confirm-dialog.js';
import { TokensTable } from '../components/tokens-table.js';
import { NewPasswordField, RolesAndGroupsFields } from '../components/user-edit-fields.js';
import { type UserAction, UsersTable } from '../components/users-table.js';
import { isRoleGrant } from '../token-roles.js';
import { mayDoEverywhere, useSession } from '../session.js';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The People page. */
export function PeoplePage() {
  const { session } = useSession();
  const admin = mayDoEverywhere(session.user.roles, 'admin');
  const [users, setUsers] = useState<User[] | null>(null);
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const { confirm, dialog } = useConfirm();
  const rolesRef = useRef<HTMLInputElement>(null);
  const groupsRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  const load = useCallback(async (): Promise<void> => {
    try {
      const [nextUsers, nextTokens] = await Promise.all([listUsers(), listTokens(true)]);
      setUsers(nextUsers);
      setTokens(nextTokens);
      setError(null);
    } catch (err) {
      setError(message(err));
    }
  }, []);
  useEffect(() => {
    if (admin) void load();
  }, [admin, load]);

  if (!admin)
    return (
      <section>
        <h1>People</h1>
        <p className="notice">Managing people needs the admin role for every environment.</p>
      </section>
    );

  const replaceUser = (user: User): void =>
    setUsers((current) => current?.map((u) => (u.name === user.name ? user : u)) ?? [user]);

  const simple = (user: User, action: 'disable' | 'enable' | 'unlock' | 'reset-mfa'): ConfirmRequest => {
    const run = async (): Promise<void> => {
      replaceUser(await userAction(user.name, action));
      setDone(`${user.name}: ${DONE[action]}`);
    };
    switch (action) {
      case 'disable':
        return {
          title: `Disable ${user.name}?`,
          body: (
            <p>
              {user.name} is signed out everywhere at once and cannot sign in; every API token of theirs is
              refused until they are enabled again.
            </p>
          ),
          confirmLabel: 'Disable user',
          danger: true,
          run,
        };
      case 'enable':
        return {
          title: `Enable ${user.name}?`,
          body: (
            <p>
              {user.name} can sign in again, and their tokens that are neither revoked nor expired work again.
              A lockout after failed sign-ins ends too.
            </p>
          ),
          confirmLabel: 'Enable user',
          run,
        };
      case 'unlock':
        return {
          title: `Unlock ${user.name}?`,
          body: (
            <p>The lockout after failed sign-ins ends now: {user.name} can try to sign in again at once.</p>
          ),
          confirmLabel: 'Unlock user',
          run,
        };
      case 'reset-mfa':
        return {
          title: `Reset the authenticator of ${user.name}?`,
          body: (
            <p>
              Their authenticator and recovery codes stop working (for a lost device). {user.name} signs in
              with the password alone and must set up an authenticator again before acting in a protected
              environment.
            </p>
          ),
          confirmLabel: 'Reset MFA',
          danger: true,
          run,
        };
    }
  };

  const act = (user: User, action: UserAction): void => {
    setDone(null);
    if (action === 'roles') {
      confirm({
        title: `Edit roles of ${user.name}`,
        body: (
          <>
            <p>
              The roles and groups below replace the current ones from {user.name}&apos;s next request. Roles
              are comma separated: viewer, deployer, approver or admin, alone or as role@environment.
            </p>
            <RolesAndGroupsFields
              roles={user.roles}
              groups={user.groups}
              rolesRef={rolesRef}
              groupsRef={groupsRef}
            />
          </>
        ),
        confirmLabel: 'Save roles',
        run: async () => {
          const roles = parseCommaList(rolesRef.current?.value ?? '');
          const wrong = roles.filter((role) => !isRoleGrant(role));
          if (roles.length === 0) throw new Error('Give at least one role.');
          if (wrong.length > 0) throw new Error(`Not a role: ${wrong.join(', ')}.`);
          replaceUser(await setRoles(user.name, roles, parseCommaList(groupsRef.current?.value ?? '')));
          setDone(`${user.name}: roles saved.`);
        },
      });
    } else if (action === 'password') {
      confirm({
        title: `Set the password of ${user.name}`,
        body: (
          <>
            <p>
              Their sessions end now and they sign in with the new password. Their API tokens keep working:
              revoke them below too if the old password leaked.
            </p>
            <NewPasswordField passwordRef={passwordRef} />
          </>
        ),
        confirmLabel: 'Set password',
        danger: true,
        run: async () => {
          replaceUser(await setPassword(user.name, passwordRef.current?.value ?? ''));
          setDone(`${user.name}: password set.`);
        },
      });
    } else {
      confirm(simple(user, action));
    }
  };

  const revoke = (token: Token): void => {
    setDone(null);
    confirm({
      title: `Revoke token ${token.id}?`,
      body: (
        <p>
          The token {token.name} of {token.user} ({token.role}) is refused from its next use. This cannot be
          undone.
        </p>
      ),
      confirmLabel: 'Revoke token',
      danger: true,
      run: async () => {
        const revoked = await revokeToken(token.id);
        setTokens((current) => current?.map((t) => (t.id === revoked.id ? revoked : t)) ?? null);
        setDone(`Token ${token.id} revoked.`);
      },
    });
  };

  return (
    <section aria-labelledby="people-title">
      <h1 id="people-title">People</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="notice" role="status">
          {done}
        </p>
      )}
      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        {users ? (
          <UsersTable users={users} onAction={act} />
        ) : (
          !error && <p className="muted">Loading users…</p>
        )}
      </section>
      <AddUserForm
        onAdded={(user) => {
          setUsers((current) => [...(current ?? []), user]);
          setDone(`${user.name} added.`);
        }}
      />
      <section aria-labelledby="all-tokens-title">
        <h2 id="all-tokens-title">All tokens</h2>
        {tokens ? (
          <TokensTable
            label="All tokens"
            tokens={tokens}
            showUser
            revokeLabel={(token) => `Revoke ${token.id}`}
            onRevoke={revoke}
          />
        ) : (
          !error && <p className="muted">Loading tokens…</p>
        )}
      </section>
      {dialog}
    </section>
  );
}

const DONE = {
  disable: 'disabled; their sessions ended and their tokens are refused.',
  enable: 'enabled.',
  unlock: 'unlocked.',
  'reset-mfa': 'authenticator reset.',
} as const;
