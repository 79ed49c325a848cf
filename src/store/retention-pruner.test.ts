import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../util/clock.js';
import { RetentionPruner, describeCounts } from './retention-pruner.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { newRelease } from './store.case.js';

const DAY = 86_400_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-pruner-'));
let files = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('RetentionPruner', () => {
  let store: SqliteStore;
  let registry: Registry;
  let lines: string[];
  let pruner: RetentionPruner;
  const clock = new ManualClock(1_800_000_000_000);

  beforeEach(async () => {
    store = SqliteStore.open(path.join(dir, `state-${files++}.db`));
    await store.migrate();
    registry = new Registry();
    lines = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
        done();
      },
    });
    pruner = new RetentionPruner({
      store,
      policy: { measurementsMs: 14 * DAY, releasesMs: 365 * DAY, eventsMs: 365 * DAY },
      intervalMs: 3_600_000,
      batchSize: 500,
      clock,
      logger: pino(sink),
      registry,
      pauseMs: 0,
    });
  });

  afterEach(async () => {
    await pruner.stop();
    await store.close();
  });

  /** A release ended `daysAgo` days before the clock, with one event, one measurement and one sample. */
  async function endedRelease(daysAgo: number): Promise<void> {
    const at = clock.now() - daysAgo * DAY;
    const release = await store.createRelease(newRelease('web', `v${daysAgo}`, at));
    await store.addEvent({
      service: 'web',
      releaseId: release.id,
      at,
      type: 'started',
      message: 'm',
      data: {},
    });
    await store.addMeasurement({
      releaseId: release.id,
      service: 'web',
      at,
      trigger: 'error_rate > 5%',
      metric: 'error_rate',
      version: release.version,
      value: 0,
      threshold: 0.05,
      verdict: 'pass',
      windowMs: 60_000,
      requests: 10,
      message: 'ok',
      inputs: {},
    });
    await store.addSample({ releaseId: release.id, service: 'web', at, stable: null, canary: null });
    await store.updateRelease(release.id, { state: 'succeeded', phase: 'completed', endedAt: at }, at);
  }

  async function prunedMetric(): Promise<Record<string, number>> {
    const metric = await registry.getSingleMetric('shipcheck_store_pruned_rows_total')?.get();
    return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.table), v.value]));
  }

  it('counts what each pass removed, logs a line when it removed something, and none when not', async () => {
    expect(await prunedMetric()).toEqual({
      measurements: 0,
      release_samples: 0,
      events: 0,
      checklist_items: 0,
      effects: 0,
      releases: 0,
      notifications: 0,
      incident_updates: 0,
      incidents: 0,
    });
    await endedRelease(400);
    await endedRelease(20);
    await endedRelease(1);

    expect(await pruner.runOnce()).toMatchObject({
      releases: 1,
      events: 1,
      measurements: 2,
      release_samples: 2,
    });
    expect(await prunedMetric()).toMatchObject({
      releases: 1,
      events: 1,
      measurements: 2,
      release_samples: 2,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^store retention: pruned 2 measurements, 2 release samples, 1 events, 1 releases in \d/,
    );

    expect(await pruner.runOnce()).toMatchObject({ releases: 0, measurements: 0 });
    expect(lines).toHaveLength(1);

    // A year on, the release that ended 20 days ago goes too, once two newer ones succeeded.
    await endedRelease(0);
    clock.advance(365 * DAY);
    expect(await pruner.runOnce()).toMatchObject({ releases: 1, events: 1 });
    expect(await prunedMetric()).toMatchObject({
      releases: 2,
      events: 2,
      measurements: 4,
      release_samples: 4,
    });
    expect((await store.listReleases('web', 10)).map((r) => r.version)).toEqual(['v0', 'v1']);
  });

  it("deletes a release's samples with it, and keeps those of a release that stays", async () => {
    await endedRelease(400);
    await endedRelease(2);
    await endedRelease(1);
    const [kept] = await store.listReleases('web', 1);
    expect(await pruner.runOnce()).toMatchObject({ releases: 1, release_samples: 1 });
    const left = await store.listSamplesAfter(0, 10);
    expect(left).toHaveLength(2);
    expect(left.map((sample) => sample.releaseId)).toContain(kept!.id);
  });

  it('never runs two passes at once, and runs none once stopped', async () => {
    await endedRelease(400);
    await endedRelease(2);
    await endedRelease(1);
    const first = pruner.runOnce();
    expect(await pruner.runOnce()).toBeUndefined();
    expect(await first).toMatchObject({ releases: 1 });
    await pruner.stop();
    await endedRelease(500);
    await endedRelease(3);
    await endedRelease(2);
    expect(await pruner.runOnce()).toBeUndefined();
  });

  it('logs a failed pass and tries again on the next', async () => {
    const prune = store.retention.prune.bind(store.retention);
    store.retention.prune = () => Promise.reject(new Error('database is locked'));
    expect(await pruner.runOnce()).toBeUndefined();
    expect(lines).toEqual([
      'store retention: the pass failed (database is locked); the next one tries again',
    ]);
    store.retention.prune = prune;
    await endedRelease(400);
    await endedRelease(2);
    await endedRelease(1);
    expect(await pruner.runOnce()).toMatchObject({ releases: 1 });
  });

  it('says what it pruned in words', () => {
    expect(
      describeCounts({
        measurements: 1204,
        release_samples: 0,
        events: 0,
        checklist_items: 40,
        effects: 0,
        releases: 3,
        notifications: 0,
        incident_updates: 0,
        incidents: 0,
      }),
    ).toBe('1,204 measurements, 40 checklist items, 3 releases');
    expect(
      describeCounts({
        measurements: 0,
        release_samples: 0,
        events: 0,
        checklist_items: 0,
        effects: 0,
        releases: 0,
        notifications: 2310,
        incident_updates: 17,
        incidents: 2,
      }),
    ).toBe('2,310 notifications, 17 incident timeline entries, 2 incidents');
  });
});
