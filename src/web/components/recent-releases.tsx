/** A unit's last few releases as small links: `#12 v2 succeeded`. */
import type { Release } from '../api/types.js';
import { Link } from '../router.js';
import { StateBadge } from './state-badge.js';

/** The releases, newest first, each linking to its page; `…` until they are read. */
export function RecentReleases({ releases }: { releases: readonly Release[] | undefined }) {
  if (!releases) return <span className="muted">…</span>;
  if (releases.length === 0) return <span className="muted">none yet</span>;
  return (
    <ul className="recent-releases">
      {releases.map((release) => (
        <li key={release.id}>
          <Link to={`/releases/${release.id}`} title={release.reason ?? undefined}>
            #{release.id} {release.version}
          </Link>{' '}
          <StateBadge state={release.state} />
        </li>
      ))}
    </ul>
  );
}
