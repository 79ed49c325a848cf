/** Who is signed in: name, roles, groups, where the account comes from, and when the session ends. */
import type { Session } from '../api/types.js';
import { formatTime } from '../format.js';

/** The signed-in user's identity as a description list. */
export function IdentitySummary({ session }: { session: Session }) {
  const { user } = session;
  return (
    <dl className="identity">
      <dt>Name</dt>
      <dd>{user.name}</dd>
      <dt>Email</dt>
      <dd>{user.email ?? '—'}</dd>
      <dt>Roles</dt>
      <dd>{user.roles.join(', ') || '—'}</dd>
      <dt>Groups</dt>
      <dd>{user.groups.join(', ') || '—'}</dd>
      <dt>Source</dt>
      <dd>{user.source === 'oidc' ? 'single sign-on' : 'local account'}</dd>
      <dt>Session ends</dt>
      <dd>
        {session.token
          ? `signed in with the API token ${session.token.name}`
          : session.expiresAt === null
            ? '—'
            : `${formatTime(session.expiresAt)} at the latest (sooner when idle)`}
      </dd>
    </dl>
  );
}
