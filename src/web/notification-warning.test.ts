import { describe, expect, it } from 'vitest';
import {
  notificationFiltersFromSearch,
  notificationWarning,
  searchOfNotificationFilters,
} from './notification-warning.js';

describe('notificationWarning', () => {
  it('given nothing failed and no channel disabled, then there is no warning', () => {
    expect(notificationWarning({ pending: 4, failed: 0, disabledChannels: [] })).toBeNull();
  });

  it('given failures and a disabled channel, then it names both and links to the failed entries', () => {
    expect(
      notificationWarning({
        pending: 0,
        failed: 3,
        disabledChannels: [{ name: 'ops-hook', reason: 'HTTP 410: gone', at: 1 }],
      }),
    ).toEqual({
      text: '3 notifications failed · channel ops-hook disabled',
      to: '/notifications?state=failed',
    });
  });

  it('given one failure, then it is singular', () => {
    expect(notificationWarning({ pending: 0, failed: 1, disabledChannels: [] })?.text).toBe(
      '1 notification failed',
    );
  });

  it('given only disabled channels, then it lists them and links to the whole page', () => {
    expect(
      notificationWarning({
        pending: 0,
        failed: 0,
        disabledChannels: [
          { name: 'a', reason: 'x', at: 1 },
          { name: 'b', reason: 'y', at: 2 },
        ],
      }),
    ).toEqual({ text: 'channels a, b disabled', to: '/notifications' });
  });
});

describe('the delivery log filters in the URL', () => {
  it('round-trips a channel and a state, and ignores an unknown state', () => {
    const filters = notificationFiltersFromSearch(new URLSearchParams('channel=ops-hook&state=failed'));
    expect(filters).toEqual({ channel: 'ops-hook', state: 'failed' });
    expect(searchOfNotificationFilters(filters)).toBe('?channel=ops-hook&state=failed');
    expect(notificationFiltersFromSearch(new URLSearchParams('state=lost'))).toEqual({
      channel: '',
      state: '',
    });
    expect(searchOfNotificationFilters({ channel: '', state: '' })).toBe('');
  });
});
