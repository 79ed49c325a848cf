/** Every user with their roles, groups, sign-in state, and the admin's actions on each. */
import type { User } from '../api/types.js';
import { formatTime } from '../format.js';

/** The actions a row offers; the page asks before each. */
export type UserAction = 'disable' | 'enable' | 'unlock' | 'reset-mfa' | 'password' | 'roles';

/** The users table. */
export function UsersTable({
  users,
  onAction,
}: {
  users: User[];
  onAction: (user: User, action: UserAction) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="data users-table" aria-label="Users">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col">Roles</th>
            <th scope="col">Groups</th>
            <th scope="col">Source</th>
            <th scope="col">MFA</th>
            <th scope="col">Disabled</th>
            <th scope="col">Locked until</th>
            <th scope="col">Created</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.name}>
              <th scope="row">{user.name}</th>
              <td>{user.email ?? '—'}</td>
              <td>{user.roles.join(', ') || '—'}</td>
              <td>{user.groups.join(', ') || '—'}</td>
              <td>{user.source === 'oidc' ? 'single sign-on' : 'local'}</td>
              <td>
                {user.mfa ? (
                  <span className="badge badge-ok">yes</span>
                ) : (
                  <span className="badge badge-muted">no</span>
                )}
              </td>
              <td>{user.disabled ? <span className="badge badge-bad">disabled</span> : 'no'}</td>
              <td className="nowrap">
                {user.lockedUntil === null ? (
                  '—'
                ) : (
                  <span className="badge badge-warn">{formatTime(user.lockedUntil)}</span>
                )}
              </td>
              <td className="nowrap">{formatTime(user.createdAt)}</td>
              <td>
                <div className="row user-actions">
                  {user.disabled ? (
                    <button
                      type="button"
                      aria-label={`Enable ${user.name}`}
                      onClick={() => onAction(user, 'enable')}
                    >
                      Enable
                    </button>
                  ) : (
                    <button
                      type="button"
                      aria-label={`Disable ${user.name}`}
                      onClick={() => onAction(user, 'disable')}
                    >
                      Disable
                    </button>
                  )}
                  {user.lockedUntil !== null && (
                    <button
                      type="button"
                      aria-label={`Unlock ${user.name}`}
                      onClick={() => onAction(user, 'unlock')}
                    >
                      Unlock
                    </button>
                  )}
                  {user.mfa && (
                    <button
                      type="button"
                      aria-label={`Reset MFA of ${user.name}`}
                      onClick={() => onAction(user, 'reset-mfa')}
                    >
                      Reset MFA
                    </button>
                  )}
                  {user.source === 'local' && (
                    <button
                      type="button"
                      aria-label={`Set password of ${user.name}`}
                      onClick={() => onAction(user, 'password')}
                    >
                      Set password
                    </button>
                  )}
                  <button
                    type="button"
                    aria-label={`Edit roles of ${user.name}`}
                    onClick={() => onAction(user, 'roles')}
                  >
                    Edit roles
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
