/**
 * What the dashboard's warning banner says about notifications, and the delivery log's filters as
 * the URL query holds them: pure functions, so the words are tested without a browser.
 */
import type { NotificationState, NotificationSummary } from './api/types.js';

/** The delivery log's states, in the order a notification meets them. */
export const NOTIFICATION_STATES: readonly NotificationState[] = ['pending', 'delivered', 'failed'];

/** The banner's words and where its link goes; null when nothing needs a person. */
export interface NotificationWarning {
  /** `3 notifications failed · channel ops-hook disabled`. */
  text: string;
  /** The Notifications page, at the failed entries when there are some. */
  to: string;
}

/** The warning for `summary`: failed notifications and disabled channels; null when there are none. */
export function notificationWarning(summary: NotificationSummary): NotificationWarning | null {
  const parts: string[] = [];
  if (summary.failed > 0)
    parts.push(`${summary.failed} ${summary.failed === 1 ? 'notification' : 'notifications'} failed`);
  const names = summary.disabledChannels.map((c) => c.name);
  if (names.length > 0)
    parts.push(`${names.length === 1 ? 'channel' : 'channels'} ${names.join(', ')} disabled`);
  if (parts.length === 0) return null;
  return {
    text: parts.join(' · '),
    to: summary.failed > 0 ? '/notifications?state=failed' : '/notifications',
  };
}

/** The delivery log's filters (empty when unset). */
export interface NotificationFilters {
  channel: string;
  state: NotificationState | '';
}

/** The filters in a URL query; an unknown state is ignored. */
export function notificationFiltersFromSearch(search: URLSearchParams): NotificationFilters {
  const state = search.get('state') ?? '';
  return {
    channel: search.get('channel') ?? '',
    state: (NOTIFICATION_STATES as readonly string[]).includes(state) ? (state as NotificationState) : '',
  };
}

/** The URL query of `filters`: `?channel=ops-hook&state=failed`, or empty. */
export function searchOfNotificationFilters(filters: NotificationFilters): string {
  const search = new URLSearchParams();
  if (filters.channel) search.set('channel', filters.channel);
  if (filters.state) search.set('state', filters.state);
  const text = search.toString();
  return text ? `?${text}` : '';
}
