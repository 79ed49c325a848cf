/**
 * Store retention in `shipcheck up`: given a store holding releases that ended long ago, when the
 * control plane runs with `store.retention`, then its pruner removes them (but not the two newest
 * successes), counts them at /metrics and logs the pass.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { newRelease } from '../../src/store/store.case.js';
import { Scenario, waitFor } from './harness.js';

const DAY = 86_400_000;
let s: Scenario;

/** The value of `shipcheck_store_pruned_rows_total{table}` at /metrics. */
async function pruned(table: string): Promise<number> {
  const text = await (await s.api('/metrics')).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`shipcheck_store_pruned_rows_total{table="${table}"}`));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

beforeAll(async () => {
  s = await Scenario.create({
    extra: 'store:\n  url: sqlite:state.db\n  retention: { releases: 30d, interval: 1s, batchSize: 2 }\n',
  });
  const store = SqliteStore.open(path.join(s.dir, 'state.db'));
  await store.migrate();
  const now = Date.now();
  for (const daysAgo of [90, 80, 70, 60, 5]) {
    const at = now - daysAgo * DAY;
    const release = await store.createRelease(newRelease('web', `v${daysAgo}`, at));
    await store.addEvent({
      service: 'web',
      releaseId: release.id,
      at,
      type: 'started',
      message: 'm',
      data: {},
    });
    await store.updateRelease(release.id, { state: 'succeeded', phase: 'completed', endedAt: at }, at);
  }
  await store.close();
  await s.up();
});

afterAll(async () => {
  await s?.down();
});

describe('store retention in shipcheck up', () => {
  it('prunes releases past their period, counts them at /metrics and logs the pass', async () => {
    await waitFor('the pruner to remove three old releases', async () => (await pruned('releases')) === 3);
    expect(await pruned('events')).toBe(3);
    // Tables with nothing to prune yet show at 0.
    for (const table of ['notifications', 'incident_updates', 'incidents'])
      expect(await pruned(table)).toBe(0);
    expect(s.log).toMatch(/store retention: pruned 3 events, 3 releases in /);
    const res = await s.api('/api/v1/services/web/releases');
    const { releases } = (await res.json()) as { releases: { version: string }[] };
    // The newest, and the success before it that a rollback would go back to.
    expect(releases.map((r) => r.version)).toEqual(['v5', 'v60']);
  });
});
