/** Releases as a table: the history page's list, each with its page and its exported report. */
import type { Release } from '../api/types.js';
import { formatDuration, formatTime } from '../format.js';
import { Link } from '../router.js';
import { StateBadge } from './state-badge.js';

/** The release's exported HTML report, which the API serves as a download. */
export function reportUrl(id: number): string {
  return `/api/v1/releases/${id}/report`;
}

/** How long a release ran: to its end, or until `now` while it runs. */
function duration(release: Release, now: number): string {
  const text = formatDuration((release.endedAt ?? now) - release.createdAt);
  return release.endedAt === null ? `${text} so far` : text;
}

/** The table of `releases`, in the order given; `now` measures the running ones. */
export function ReleasesTable({ releases, now }: { releases: readonly Release[]; now: number }) {
  return (
    <div className="table-wrap">
      <table className="data releases-table" aria-label="Releases">
        <thead>
          <tr>
            <th scope="col">Release</th>
            <th scope="col">Service</th>
            <th scope="col">Version</th>
            <th scope="col">From</th>
            <th scope="col">Kind</th>
            <th scope="col">State</th>
            <th scope="col">Reason</th>
            <th scope="col">Started</th>
            <th scope="col" className="num">
              Duration
            </th>
            <th scope="col">Report</th>
          </tr>
        </thead>
        <tbody>
          {releases.map((release) => (
            <tr key={release.id}>
              <th scope="row">
                <Link to={`/releases/${release.id}`}>#{release.id}</Link>
              </th>
              <td>{release.service}</td>
              <td className="mono">{release.version}</td>
              <td className="mono">{release.fromVersion ?? <span className="muted">—</span>}</td>
              <td>{release.kind}</td>
              <td>
                <StateBadge state={release.state} />
              </td>
              <td>
                {release.reason ? (
                  <span className="reason" title={release.reason}>
                    {release.reason}
                  </span>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td className="nowrap">{formatTime(release.createdAt)}</td>
              <td className="num nowrap">{duration(release, now)}</td>
              <td>
                <a href={reportUrl(release.id)} title={`The report of release #${release.id}, as HTML`}>
                  Report
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
