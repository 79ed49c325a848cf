/** An incident's timeline, oldest first: each entry's time, kind, who, and what was said. */
import type { IncidentEntry } from '../api/types.js';
import { formatTime } from '../format.js';

/** The ordered list of `entries`. */
export function IncidentTimeline({ entries }: { entries: readonly IncidentEntry[] }) {
  if (entries.length === 0) return <p className="muted">Nothing recorded yet.</p>;
  return (
    <ol className="incident-timeline" aria-label="Incident timeline">
      {entries.map((entry) => (
        <li key={entry.id} className={`incident-entry incident-entry-${entry.kind}`}>
          <time dateTime={new Date(entry.at).toISOString()}>{formatTime(entry.at)}</time>
          <span className="incident-entry-kind">{entry.kind}</span>
          <span className="incident-entry-actor">{entry.actor}</span>
          <span className="incident-entry-message">{entry.message}</span>
        </li>
      ))}
    </ol>
  );
}
