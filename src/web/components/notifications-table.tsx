/**
 * The delivery log as a table, newest first: when, to which channel, what, its state in words,
 * attempts, the last error, the next attempt of a pending one, and `Retry` for a failed one.
 */
import type { NotificationEntry } from '../api/types.js';
import { formatTime } from '../format.js';
import { StateBadge } from './state-badge.js';

/** The table of `entries`; `Retry` is drawn only when `mayRetry`. */
export function NotificationsTable({
  entries,
  mayRetry,
  onRetry,
}: {
  entries: readonly NotificationEntry[];
  mayRetry: boolean;
  onRetry: (entry: NotificationEntry) => void;
}) {
  return (
    // Focusable, so the keyboard can scroll it sideways on a phone.
    <div className="table-wrap" tabIndex={0} role="region" aria-labelledby="log-title">
      <table className="data notifications-table" aria-labelledby="log-title">
        <thead>
          <tr>
            <th scope="col">Notification</th>
            <th scope="col">Time</th>
            <th scope="col">Channel</th>
            <th scope="col">What</th>
            <th scope="col">State</th>
            <th scope="col" className="num">
              Attempts
            </th>
            <th scope="col">Last error</th>
            <th scope="col">Next attempt</th>
            {mayRetry && (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.id}>
              <th scope="row">#{entry.id}</th>
              <td className="nowrap">{formatTime(entry.createdAt)}</td>
              <td>{entry.channel}</td>
              <td>
                {entry.notice.title}
                <span className="notification-event muted">{entry.notice.event}</span>
              </td>
              <td>
                <StateBadge state={entry.state} />
              </td>
              <td className="num">{entry.attempts}</td>
              <td className="notify-reason">{entry.lastError ?? '—'}</td>
              <td className="nowrap">{entry.state === 'pending' ? formatTime(entry.nextAttemptAt) : '—'}</td>
              {mayRetry && (
                <td>
                  {entry.state === 'failed' && (
                    <button type="button" onClick={() => onRetry(entry)}>
                      Retry<span className="visually-hidden"> notification #{entry.id}</span>
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
