/** A new API token of one's own: a name, a role no higher than one's own, and a lifetime. */
import { type FormEvent, useState } from 'react';
import { createToken } from '../api/resources.js';
import type { Token } from '../api/types.js';
import { isRoleGrant, tokenRoleChoices } from '../token-roles.js';

/** The select's value that reveals the free-text role. */
const OTHER_ROLE = '__other__';
/** A lifetime as the API takes it: hours or days. */
const LIFETIME = /^[1-9][0-9]*[hd]$/;
/** The lifetime the form starts with. */
const DEFAULT_LIFETIME = '30d';

/** The form; `onCreated` gets the token with its secret, which the API shows only this once. */
export function TokenCreateForm({
  roles,
  onCreated,
}: {
  roles: readonly string[];
  onCreated: (token: Token & { token: string }) => void;
}) {
  const choices = tokenRoleChoices(roles);
  const [name, setName] = useState('');
  const [role, setRole] = useState(choices[0] ?? OTHER_ROLE);
  const [otherRole, setOtherRole] = useState('');
  const [lifetime, setLifetime] = useState(DEFAULT_LIFETIME);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const chosen = role === OTHER_ROLE ? otherRole.trim() : role;
    if (!isRoleGrant(chosen)) {
      setError(
        `"${chosen}" is not a role: use viewer, deployer, approver or admin, alone or as role@environment.`,
      );
      return;
    }
    if (lifetime.trim() && !LIFETIME.test(lifetime.trim())) {
      setError(`Lifetime "${lifetime}" is not one: give hours or days, e.g. 12h or 30d.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await createToken({
        name: name.trim(),
        role: chosen,
        ...(lifetime.trim() ? { expiresIn: lifetime.trim() } : {}),
      });
      setName('');
      onCreated(created);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="toolbar token-create" aria-label="Create a token" onSubmit={(e) => void submit(e)}>
      <label className="field">
        <span>Token name</span>
        <input
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={100}
          placeholder="laptop"
        />
      </label>
      <label className="field">
        <span>Role</span>
        <select value={role} onChange={(e) => setRole(e.target.value)}>
          {choices.map((choice) => (
            <option key={choice} value={choice}>
              {choice}
            </option>
          ))}
          <option value={OTHER_ROLE}>another environment…</option>
        </select>
      </label>
      {role === OTHER_ROLE && (
        <label className="field">
          <span>Role in one environment</span>
          <input
            value={otherRole}
            onChange={(e) => setOtherRole(e.target.value)}
            required
            placeholder="deployer@staging"
          />
        </label>
      )}
      <label className="field">
        <span>Lifetime</span>
        <input
          value={lifetime}
          onChange={(e) => setLifetime(e.target.value)}
          placeholder="30d"
          size={6}
          aria-describedby="token-lifetime-hint"
        />
      </label>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create token'}
      </button>
      <p id="token-lifetime-hint" className="muted hint">
        Hours or days (12h, 30d), at most 366 days; 90 days when empty.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
