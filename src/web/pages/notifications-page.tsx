/**
 * Notifications: the installation's channels (a deployer sends a test or enables a disabled one)
 * and the delivery log, newest first, filtered by channel and state in the URL query and read a
 * page at a time with `Older`; a deployer retries a failed entry.
 */
import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../api/client.js';
import {
  enableChannel,
  listChannels,
  listNotifications,
  retryNotification,
  testChannel,
} from '../api/resources.js';
import type { Channel, NotificationEntry } from '../api/types.js';
import { ChannelsTable, type TestOutcome } from '../components/channels-table.js';
import { useConfirm } from '../components/confirm-dialog.js';
import { notificationsChanged } from '../components/notification-banner.js';
import { NotificationsTable } from '../components/notifications-table.js';
import {
  NOTIFICATION_STATES,
  type NotificationFilters,
  notificationFiltersFromSearch,
  searchOfNotificationFilters,
} from '../notification-warning.js';
import { navigate, useLocation } from '../router.js';
import { mayDoEverywhere, useSession } from '../session.js';

/** Entries one read of the log returns. */
const PAGE_SIZE = 50;

/** What the page has read of the delivery log. */
interface Log {
  entries: NotificationEntry[];
  /** No older entry matches. */
  done: boolean;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The Notifications page. */
export function NotificationsPage() {
  const { session } = useSession();
  const { search } = useLocation();
  const filters = notificationFiltersFromSearch(search);
  const key = searchOfNotificationFilters(filters);
  // Sending, enabling and retrying need a deployer for the whole installation.
  const mayAct = mayDoEverywhere(session.user.roles, 'deployer');
  const { confirm, dialog } = useConfirm();

  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [outcomes, setOutcomes] = useState<Map<string, TestOutcome>>(new Map());
  const [log, setLog] = useState<Log | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const loadChannels = useCallback(async (): Promise<void> => {
    try {
      setChannels(await listChannels());
    } catch (err) {
      setError(message(err));
    }
  }, []);

  const loadLog = useCallback(async (): Promise<void> => {
    const current = notificationFiltersFromSearch(new URLSearchParams(key));
    setLoading(true);
    try {
      const entries = await listNotifications({ ...current, limit: PAGE_SIZE });
      setLog({ entries, done: entries.length < PAGE_SIZE });
      setError(null);
    } catch (err) {
      setError(message(err));
    } finally {
      setLoading(false);
    }
  }, [key]);

  useEffect(() => void loadChannels(), [loadChannels]);
  useEffect(() => {
    setLog(null);
    void loadLog();
  }, [loadLog]);

  const older = async (): Promise<void> => {
    const last = log?.entries.at(-1);
    if (!log || !last) return;
    setLoading(true);
    try {
      const entries = await listNotifications({ ...filters, before: last.id, limit: PAGE_SIZE });
      setLog({ entries: [...log.entries, ...entries], done: entries.length < PAGE_SIZE });
    } catch (err) {
      setError(message(err));
    } finally {
      setLoading(false);
    }
  };

  const refresh = (): void => {
    void loadChannels();
    void loadLog();
    notificationsChanged();
  };

  const setOutcome = (name: string, outcome: TestOutcome): void =>
    setOutcomes((current) => new Map(current).set(name, outcome));

  const sendTest = async (channel: Channel): Promise<void> => {
    setOutcome(channel.name, { kind: 'sending' });
    try {
      await testChannel(channel.name);
      setOutcome(channel.name, { kind: 'delivered' });
    } catch (err) {
      setOutcome(channel.name, {
        kind: 'refused',
        answer: err instanceof ApiError || err instanceof Error ? err.message : String(err),
      });
    }
    refresh();
  };

  const enable = (channel: Channel): void =>
    confirm({
      title: `Enable channel ${channel.name}?`,
      body: (
        <p>
          shipcheck sends to {channel.target} again. It was disabled because: {channel.disabledReason ?? '—'}
        </p>
      ),
      confirmLabel: 'Enable channel',
      run: async () => {
        await enableChannel(channel.name);
        setOutcomes((current) => {
          const next = new Map(current);
          next.delete(channel.name);
          return next;
        });
        refresh();
      },
    });

  const retry = (entry: NotificationEntry): void =>
    confirm({
      title: `Retry notification #${entry.id}?`,
      body: (
        <p>
          “{entry.notice.title}” is sent to {entry.channel} again, with the usual attempts. It failed with:{' '}
          {entry.lastError ?? '—'}
        </p>
      ),
      confirmLabel: 'Retry notification',
      run: async () => {
        await retryNotification(entry.id);
        refresh();
      },
    });

  const apply = (change: Partial<NotificationFilters>): void =>
    navigate(`/notifications${searchOfNotificationFilters({ ...filters, ...change })}`, { replace: true });

  const channelNames = (channels ?? []).map((c) => c.name);
  const filtered = filters.channel !== '' || filters.state !== '';

  return (
    <section className="notifications-page">
      <h1>Notifications</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <h2 id="channels-title">Channels</h2>
      {channels === null ? (
        <p className="muted">Loading channels…</p>
      ) : (
        <ChannelsTable
          channels={channels}
          outcomes={outcomes}
          mayAct={mayAct}
          onTest={(channel) => void sendTest(channel)}
          onEnable={enable}
        />
      )}

      <h2 id="log-title">Delivery log</h2>
      <div className="toolbar">
        <label className="field">
          <span>Channel</span>
          <select value={filters.channel} onChange={(e) => apply({ channel: e.target.value })}>
            <option value="">All channels</option>
            {channelNames.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
            {filters.channel && !channelNames.includes(filters.channel) && (
              <option value={filters.channel}>{filters.channel}</option>
            )}
          </select>
        </label>
        <label className="field">
          <span>State</span>
          <select
            value={filters.state}
            onChange={(e) => apply({ state: e.target.value as NotificationFilters['state'] })}
          >
            <option value="">All states</option>
            {NOTIFICATION_STATES.map((state) => (
              <option key={state} value={state}>
                {state}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={refresh}>
          Refresh
        </button>
      </div>
      {log === null ? (
        <p className="muted">Loading the delivery log…</p>
      ) : (
        <>
          <p className="muted" aria-live="polite">
            {log.entries.length === 0
              ? filtered
                ? 'No notification matches these filters.'
                : 'Nothing has been sent yet.'
              : `${log.entries.length} ${log.entries.length === 1 ? 'notification' : 'notifications'}${filtered ? ' matching' : ''}, newest first.`}
          </p>
          {log.entries.length > 0 && (
            <NotificationsTable entries={log.entries} mayRetry={mayAct} onRetry={retry} />
          )}
          {!log.done && (
            <div className="row notifications-paging">
              <button type="button" onClick={() => void older()} disabled={loading}>
                {loading ? 'Loading…' : 'Older'}
              </button>
            </div>
          )}
        </>
      )}
      {dialog}
    </section>
  );
}
