/** The audit entries, newest first, with each entry's data and hash at hand. */
import type { AuditEntry } from '../api/types.js';
import { formatTime } from '../format.js';
import { shortHash } from './audit-verification-status.js';
import { StateBadge } from './state-badge.js';

/** A table of audit entries in the order given. */
export function AuditTable({ entries }: { entries: AuditEntry[] }) {
  return (
    <div className="table-wrap">
      <table className="data audit-table" aria-label="Audit entries">
        <thead>
          <tr>
            <th scope="col" className="num">
              #
            </th>
            <th scope="col">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Service</th>
            <th scope="col">Address</th>
            <th scope="col">Result</th>
            <th scope="col">Reason</th>
            <th scope="col">Data</th>
            <th scope="col">Hash</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.seq}>
              <td className="num">{entry.seq}</td>
              <td className="nowrap">{formatTime(entry.at)}</td>
              <td>{entry.actor}</td>
              <td>
                <code>{entry.action}</code>
              </td>
              <td>{entry.target ?? '—'}</td>
              <td>{entry.service ?? '—'}</td>
              <td className="mono">{entry.address ?? '—'}</td>
              <td>
                <StateBadge state={entry.result} />
              </td>
              <td className="audit-reason">{entry.reason ?? '—'}</td>
              <td>
                {entry.data && Object.keys(entry.data).length > 0 ? (
                  <details>
                    <summary>
                      Data<span className="visually-hidden"> of entry {entry.seq}</span>
                    </summary>
                    <pre>{JSON.stringify(entry.data, null, 2)}</pre>
                  </details>
                ) : (
                  '—'
                )}
              </td>
              <td>
                <code title={entry.hash}>{shortHash(entry.hash)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
