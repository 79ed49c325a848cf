/** A release's events, oldest first and newest last, each with its time and message. */
import type { ShipcheckEvent } from '../api/types.js';
import { formatClock, formatTime } from '../format.js';

/** Checklist events are shown lighter: they are many, and the release's own events matter more. */
const LIGHT_PREFIX = 'checklist.';

/** The ordered list of `events` (already oldest first). */
export function EventTimeline({ events }: { events: readonly ShipcheckEvent[] }) {
  if (events.length === 0) return <p className="muted">No events yet.</p>;
  return (
    <ol className="event-timeline" aria-label="Event timeline">
      {events.map((event) => (
        <li key={event.id} className={event.type.startsWith(LIGHT_PREFIX) ? 'event event-light' : 'event'}>
          <time dateTime={new Date(event.at).toISOString()} title={formatTime(event.at)}>
            {formatClock(event.at)}
          </time>
          <span className="event-message">{event.message}</span>
          <span className="event-type">{event.type}</span>
        </li>
      ))}
    </ol>
  );
}
