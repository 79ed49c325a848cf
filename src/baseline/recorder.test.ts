import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.js';
import { HooksFleet } from '../providers/fleet/hooks/hooks-fleet.js';
import { BuiltinMetricSource } from '../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../providers/metrics/builtin/request-metrics.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { ReleaseRow, Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { BaselineRecorder, REMOTE_FLEET_REASON } from './recorder.js';

// The recorder with a real store and the built-in metric source fed requests as the proxy feeds it;
// the hooks fleet is a real one that was never started (its instances run elsewhere, by definition).

const CONFIG = configSchema.parse({
  service: 'web',
  fleet: { kind: 'local', command: 'true' },
  baseline: { minWindow: '10s', minRequests: 10 },
});

describe('the baseline recorder', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let metrics: RequestMetrics;
  let recorder: BaselineRecorder;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-recorder-'));
    store = SqliteStore.open(path.join(dir, 'state.db'));
    await store.migrate();
    clock = new ManualClock(Date.parse('2026-12-06T10:00:00Z'));
    metrics = new RequestMetrics({ clock });
    const fleet = new HooksFleet({
      service: 'web',
      hooks: { start: 'false', stop: 'true', list: 'echo []', timeoutMs: 1000 },
      cwd: dir,
      env: {},
      stopTimeoutMs: 1000,
      health: { path: '/healthz', intervalMs: 1000, timeoutMs: 500, unhealthyAfter: 2 },
    });
    recorder = new BaselineRecorder({
      store,
      metrics: new BuiltinMetricSource(metrics),
      fleet,
      config: CONFIG,
      clock,
      logger: pino({ level: 'silent' }),
      unit: 'web',
    });
  });

  afterEach(async () => {
    await recorder.idle();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function observe(release: ReleaseRow | undefined): Promise<void> {
    recorder.observe(release);
    await recorder.idle();
  }

  /** A deploy release of `version` at 100% in its bake. */
  async function baking(version: string): Promise<ReleaseRow> {
    const created = await store.createRelease({
      service: 'web',
      version,
      fromVersion: null,
      kind: 'deploy',
      state: 'progressing',
      phase: 'verifying',
      step: 1,
      weight: 100,
      reason: null,
      outcome: null,
      stepStartedAt: clock.now(),
      phaseStartedAt: clock.now(),
      createdAt: clock.now(),
    });
    return created;
  }

  /** `count` requests of `version`, one every 100 ms. */
  function serve(version: string, count: number, latencyMs: number): void {
    for (let i = 0; i < count; i++) {
      metrics.record(version, 200, latencyMs);
      clock.advance(100);
    }
  }

  it('measures the window at 100% until success and minWindow, with no CPU or memory for a hooks fleet', async () => {
    // Given v1 in its bake at 100%, seen by a pass
    const release = await baking('v1');
    await observe(release);
    expect(await store.baselines.get(release.id)).toMatchObject({ state: 'recording', version: 'v1' });

    // When it serves 40 requests, succeeds, and serves 60 more until the window is 10 s long
    serve('v1', 40, 12);
    const succeeded = await store.updateRelease(
      release.id,
      { state: 'succeeded', phase: 'completed', endedAt: clock.now() },
      clock.now(),
    );
    await observe(undefined);
    expect((await store.baselines.get(succeeded.id))?.state).toBe('recording');
    serve('v1', 60, 12);
    await observe(undefined);

    // Then it is complete: every request of the window counted, resources null with the reason
    const baseline = await store.baselines.get(release.id);
    expect(baseline).toMatchObject({ state: 'complete', reason: null });
    expect(baseline?.figures).toMatchObject({
      requests: 100,
      windowMs: 10_000,
      instances: null,
      errorRate: 0,
      cpuPer1k: null,
      rssBytes: null,
      resourcesReason: REMOTE_FLEET_REASON,
    });
    expect(baseline?.figures?.rps).toBeCloseTo(10);
    expect(baseline?.figures?.p99).toBeCloseTo(12, 0);
  });

  it('discards the baseline of a release rolled back during its window, and compares the next with the last success', async () => {
    // Given v1 measured and succeeded
    const first = await baking('v1');
    await observe(first);
    serve('v1', 100, 10);
    await store.updateRelease(first.id, { state: 'succeeded', phase: 'completed' }, clock.now());
    await observe(undefined);
    expect((await store.baselines.get(first.id))?.state).toBe('complete');

    // When v2 reaches 100% and is rolled back in its bake
    const second = await baking('v2');
    await observe(second);
    serve('v2', 20, 10);
    const rolling = await store.updateRelease(second.id, { phase: 'rolling-back' }, clock.now());
    await observe(rolling);

    // Then its baseline is discarded with the reason, and never the one a later release is compared with
    expect(await store.baselines.get(second.id)).toMatchObject({
      state: 'discarded',
      figures: null,
      reason: `release #${second.id} rolling back before its window closed`,
    });
    expect((await store.baselines.previous('web', second.id + 1))?.releaseId).toBe(first.id);
  });
});
