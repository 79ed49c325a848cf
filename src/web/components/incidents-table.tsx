/** Incidents as a table: id, state, severity, service, age and title, newest first. */
import type { Incident } from '../api/types.js';
import { formatDuration, formatTime } from '../format.js';
import { Link } from '../router.js';
import { IncidentStateBadge, SeverityBadge } from './incident-badges.js';

/** The table of `incidents`; ages count back from `now`. */
export function IncidentsTable({ incidents, now }: { incidents: readonly Incident[]; now: number }) {
  if (incidents.length === 0) return <p className="muted">No incidents.</p>;
  return (
    <div className="table-wrap">
      <table className="data incidents-table">
        <thead>
          <tr>
            <th scope="col">Incident</th>
            <th scope="col">State</th>
            <th scope="col">Severity</th>
            <th scope="col">Service</th>
            <th scope="col">Age</th>
            <th scope="col">Title</th>
          </tr>
        </thead>
        <tbody>
          {incidents.map((incident) => (
            <tr key={incident.id}>
              <th scope="row">
                <Link to={`/incidents/${incident.id}`}>#{incident.id}</Link>
              </th>
              <td>
                <IncidentStateBadge state={incident.state} />
              </td>
              <td>
                <SeverityBadge severity={incident.severity} />
              </td>
              <td>{incident.service ?? '—'}</td>
              <td className="nowrap" title={formatTime(incident.createdAt)}>
                {formatDuration(now - incident.createdAt)}
              </td>
              <td>{incident.title}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
