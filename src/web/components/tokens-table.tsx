/** API tokens without their secrets: who holds each, its role, its lifetime and whether it still works. */
import type { Token } from '../api/types.js';
import { formatTime } from '../format.js';

/** `revoked`, `expired` or `active`, as of `now`. */
export function tokenState(token: Token, now: number): 'revoked' | 'expired' | 'active' {
  if (token.revokedAt !== null) return 'revoked';
  return token.expiresAt <= now ? 'expired' : 'active';
}

const TONE = { active: 'ok', expired: 'muted', revoked: 'bad' } as const;

/** A table of tokens; `revokeLabel` names each row's revoke button (`Revoke ci`). */
export function TokensTable({
  label,
  tokens,
  showUser,
  revokeLabel,
  onRevoke,
}: {
  label: string;
  tokens: Token[];
  showUser: boolean;
  revokeLabel: (token: Token) => string;
  onRevoke: (token: Token) => void;
}) {
  const now = Date.now();
  return (
    <div className="table-wrap">
      <table className="data" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">ID</th>
            <th scope="col">Name</th>
            {showUser && <th scope="col">User</th>}
            <th scope="col">Role</th>
            <th scope="col">Created</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tokens.length === 0 && (
            <tr>
              <td colSpan={showUser ? 9 : 8} className="muted">
                No tokens.
              </td>
            </tr>
          )}
          {tokens.map((token) => {
            const state = tokenState(token, now);
            return (
              <tr key={token.id}>
                <td>
                  <code>{token.id}</code>
                </td>
                <td>{token.name}</td>
                {showUser && <td>{token.user}</td>}
                <td>{token.role}</td>
                <td className="nowrap">{formatTime(token.createdAt)}</td>
                <td className="nowrap">{formatTime(token.expiresAt)}</td>
                <td className="nowrap">
                  {token.lastUsedAt === null ? 'never' : formatTime(token.lastUsedAt)}
                </td>
                <td>
                  <span className={`badge badge-${TONE[state]}`}>{state}</span>
                </td>
                <td>
                  {state !== 'revoked' && (
                    <button type="button" aria-label={revokeLabel(token)} onClick={() => onRevoke(token)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
