import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onEachStore } from '../../test/support/store-suites.js';
import type { BaselineFigures } from '../baseline/compare.js';
import type { Store } from './types.js';

const NOW = 1_800_000_000_000;
const FIGURES: BaselineFigures = {
  requests: 1500,
  windowMs: 30_000,
  instances: 2,
  p50: 40.5,
  p95: 80,
  p99: 100,
  rps: 50,
  errorRate: 0.002,
  cpuPer1k: 0.5,
  rssBytes: 104_857_600,
  rssPer1k: 2000,
  resourcesReason: null,
};

function runBaselineStoreSuite(name: string, open: () => Promise<Store>): void {
  describe(`baselines: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('opens a window once, finishes it once, and keeps it across a reopen', async () => {
      const opened = await store.baselines.open(
        { releaseId: 7, service: 'web', version: 'v1', startedAt: NOW, resourcesStart: { '123': 1.5 } },
        NOW,
      );
      expect(opened).toMatchObject({
        releaseId: 7,
        state: 'recording',
        resourcesStart: { '123': 1.5 },
        figures: null,
      });
      // A second open (a restarted replica) keeps the first row.
      const again = await store.baselines.open(
        { releaseId: 7, service: 'web', version: 'v1', startedAt: NOW + 5, resourcesStart: {} },
        NOW + 5,
      );
      expect(again.startedAt).toBe(NOW);
      const end = { state: 'complete' as const, endedAt: NOW + 30_000, figures: FIGURES, reason: null };
      expect(await store.baselines.finish(7, end, NOW + 30_000)).toBe(true);
      expect(await store.baselines.finish(7, { ...end, state: 'discarded' }, NOW + 31_000)).toBe(false);
      expect(await store.baselines.get(7)).toMatchObject({
        state: 'complete',
        figures: FIGURES,
        endedAt: NOW + 30_000,
      });
    });

    it('finds the previous comparable baseline of the same unit, skipping discarded and open ones', async () => {
      const add = async (
        releaseId: number,
        service: string,
        state: 'complete' | 'discarded' | 'recording',
      ) => {
        await store.baselines.open(
          { releaseId, service, version: `v${releaseId}`, startedAt: NOW + releaseId, resourcesStart: {} },
          NOW,
        );
        if (state !== 'recording')
          await store.baselines.finish(
            releaseId,
            { state, endedAt: NOW + releaseId, figures: FIGURES, reason: null },
            NOW,
          );
      };
      await add(1, 'web', 'complete');
      await add(2, 'web@staging', 'complete');
      await add(3, 'web', 'discarded');
      await add(4, 'web', 'recording');
      await add(5, 'web', 'complete');
      expect((await store.baselines.previous('web', 5))?.releaseId).toBe(1);
      expect(await store.baselines.previous('web', 1)).toBeUndefined();
      expect((await store.baselines.list('web')).map((b) => b.releaseId)).toEqual([5, 4, 3, 1]);
      expect((await store.baselines.listOfService('web')).map((b) => b.releaseId)).toEqual([5, 4, 3, 2, 1]);
    });
  });
}

await onEachStore('baselines', 'sc-baseline', runBaselineStoreSuite);
