import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onEachStore } from '../../test/support/store-suites.js';
import type { Store } from './types.js';

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000;

function runOnCallStoreSuite(name: string, open: () => Promise<Store>): void {
  describe(`on-call overrides: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('adds overrides and lists those in effect in a range, of one schedule or all', async () => {
      const first = await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'ana',
          startsAt: NOW,
          endsAt: NOW + 8 * HOUR,
          reason: 'swap with bo',
          createdBy: 'admin',
        },
        NOW - HOUR,
      );
      expect(first).toEqual({
        id: first.id,
        schedule: 'primary',
        user: 'ana',
        startsAt: NOW,
        endsAt: NOW + 8 * HOUR,
        reason: 'swap with bo',
        createdBy: 'admin',
        createdAt: NOW - HOUR,
        removedBy: null,
        removedAt: null,
      });
      await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'bo',
          startsAt: NOW + 24 * HOUR,
          endsAt: NOW + 30 * HOUR,
          reason: null,
          createdBy: 'admin',
        },
        NOW,
      );
      await store.oncall.addOverride(
        {
          schedule: 'secondary',
          user: 'cy',
          startsAt: NOW + 2 * HOUR,
          endsAt: NOW + 3 * HOUR,
          reason: null,
          createdBy: 'ana',
        },
        NOW,
      );
      expect((await store.oncall.overrides('primary', NOW, NOW + 48 * HOUR)).map((o) => o.user)).toEqual([
        'ana',
        'bo',
      ]);
      // Ends at the start of the range, or starts at its end: not in it.
      expect(await store.oncall.overrides('primary', NOW + 8 * HOUR, NOW + 24 * HOUR)).toEqual([]);
      expect((await store.oncall.overrides(undefined, NOW, NOW + 48 * HOUR)).map((o) => o.user)).toEqual([
        'ana',
        'cy',
        'bo',
      ]);
      expect(await store.oncall.getOverride(first.id)).toEqual(first);
      expect(await store.oncall.getOverride(first.id + 100)).toBeUndefined();
    });

    it('removes an override once: it stops counting and keeps its row', async () => {
      const added = await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'ana',
          startsAt: NOW,
          endsAt: NOW + HOUR,
          reason: null,
          createdBy: 'admin',
        },
        NOW,
      );
      expect(await store.oncall.removeOverride(added.id, 'bo', NOW + 1)).toBe(true);
      expect(await store.oncall.removeOverride(added.id, 'bo', NOW + 2)).toBe(false);
      expect(await store.oncall.removeOverride(added.id + 1, 'bo', NOW + 2)).toBe(false);
      expect(await store.oncall.overrides('primary', NOW, NOW + HOUR)).toEqual([]);
      expect(await store.oncall.getOverride(added.id)).toMatchObject({ removedBy: 'bo', removedAt: NOW + 1 });
    });
  });
}

await onEachStore('on-call overrides', 'sc-oncall', runOnCallStoreSuite);
