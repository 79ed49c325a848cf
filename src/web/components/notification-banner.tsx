/**
 * The warning on every page when notifications failed or a channel is disabled: read when the frame
 * mounts, when the path changes, when a page says notifications changed, and once a minute.
 */
import { useEffect, useState } from 'react';
import { notificationSummary } from '../api/resources.js';
import { type NotificationWarning, notificationWarning } from '../notification-warning.js';
import { Link } from '../router.js';

/** How often the banner reads the summary while a page stays open. */
const SUMMARY_EVERY_MS = 60_000;

const listeners = new Set<() => void>();

/** Tells the banner to read the summary again (after a test send, an enable or a retry). */
export function notificationsChanged(): void {
  for (const listener of listeners) listener();
}

/** The banner; nothing when all is well or the summary cannot be read. */
export function NotificationBanner({ path }: { path: string }) {
  const [warning, setWarning] = useState<NotificationWarning | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const again = (): void => setTick((n) => n + 1);
    listeners.add(again);
    const timer = setInterval(again, SUMMARY_EVERY_MS);
    return () => {
      listeners.delete(again);
      clearInterval(timer);
    };
  }, []);

  useEffect(() => {
    let live = true;
    notificationSummary().then(
      (summary) => live && setWarning(notificationWarning(summary)),
      // A role that may not read it, or a server that is away: the banner is a hint, not a page.
      () => live && setWarning(null),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);

  return (
    <div className="notify-banner" role="status">
      {warning && (
        <p>
          <span className="notify-banner-text">{warning.text}</span> —{' '}
          <Link to={warning.to}>see Notifications</Link>
        </p>
      )}
    </div>
  );
}
