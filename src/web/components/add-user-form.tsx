/** The admin's form for a new user: name, email, an initial password, roles and groups. */
import { type FormEvent, useState } from 'react';
import { addUser } from '../api/resources.js';
import type { User } from '../api/types.js';
import { parseCommaList } from '../comma-list.js';
import { isRoleGrant } from '../token-roles.js';

/** Passwords the API takes have at least this many characters. */
export const MIN_PASSWORD_LENGTH = 12;

/** Adds a user and calls `onAdded` with them. */
export function AddUserForm({ onAdded }: { onAdded: (user: User) => void }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [roles, setRoles] = useState('');
  const [groups, setGroups] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const roleList = parseCommaList(roles);
    const wrong = roleList.filter((role) => !isRoleGrant(role));
    if (roleList.length === 0 || wrong.length > 0) {
      setError(
        wrong.length > 0
          ? `Not a role: ${wrong.join(', ')}. Use viewer, deployer, approver or admin, alone or as role@environment.`
          : 'Give at least one role, e.g. deployer@staging.',
      );
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const user = await addUser({
        name: name.trim(),
        ...(email.trim() ? { email: email.trim() } : {}),
        ...(password ? { password } : {}),
        roles: roleList,
        groups: parseCommaList(groups),
      });
      setName('');
      setEmail('');
      setPassword('');
      setRoles('');
      setGroups('');
      onAdded(user);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card add-user" aria-labelledby="add-user-title" onSubmit={(e) => void submit(e)}>
      <h2 id="add-user-title">Add user</h2>
      <div className="form-grid">
        <label className="field">
          <span>User name</span>
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={100}
            autoComplete="off"
          />
        </label>
        <label className="field">
          <span>Email</span>
          <input
            type="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            maxLength={254}
            autoComplete="off"
          />
        </label>
        <div className="field-group">
          <label className="field">
            <span>Initial password</span>
            <input
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              minLength={MIN_PASSWORD_LENGTH}
              maxLength={1024}
              autoComplete="new-password"
              aria-describedby="add-user-password-hint"
            />
          </label>
          <small id="add-user-password-hint" className="muted">
            {MIN_PASSWORD_LENGTH} characters or more; leave empty for single sign-on only.
          </small>
        </div>
        <div className="field-group">
          <label className="field">
            <span>Roles</span>
            <input
              value={roles}
              onChange={(e) => setRoles(e.target.value)}
              required
              placeholder="deployer@staging, viewer"
              aria-describedby="add-user-roles-hint"
            />
          </label>
          <small id="add-user-roles-hint" className="muted">
            Comma separated: viewer, deployer, approver or admin, alone or as role@environment.
          </small>
        </div>
        <label className="field">
          <span>Groups</span>
          <input
            value={groups}
            onChange={(e) => setGroups(e.target.value)}
            placeholder="sre, release-manager"
          />
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Adding…' : 'Add user'}
      </button>
    </form>
  );
}
