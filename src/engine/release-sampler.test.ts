import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PrometheusMetricSource } from '../providers/metrics/prometheus/prometheus-metric-source.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { newRelease } from '../store/store.case.js';
import type { ReleaseRow, ReleaseSampleRow } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { ReleaseSampler, SAMPLE_INTERVAL_MS } from './release-sampler.js';

/** A port nothing listens on: taken, then let go. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('release samples', () => {
  let dir: string;
  let store: SqliteStore;
  let sampler: ReleaseSampler;
  let release: ReleaseRow;
  const emitted: ReleaseSampleRow[] = [];
  const clock = new ManualClock(1_800_000_000_000);

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-sampler-'));
    store = SqliteStore.open(path.join(dir, 'state.db'));
    await store.migrate();
    // A Prometheus that cannot be reached: every read of the source fails.
    const metrics = new PrometheusMetricSource({
      url: `http://127.0.0.1:${await closedPort()}`,
      service: 'web',
      timeoutMs: 2000,
    });
    const events = new EventEmitter();
    emitted.length = 0;
    events.on('sample', (sample: ReleaseSampleRow) => emitted.push(sample));
    sampler = new ReleaseSampler({ store, metrics, clock, logger: pino({ level: 'silent' }), events });
    release = await store.createRelease({ ...newRelease('web', 'v2', clock.now()), fromVersion: 'v1' });
  });

  afterEach(async () => {
    await store.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stored = (): Promise<ReleaseSampleRow[]> => store.listSamples(release.id, { limit: 100 });

  it('samples an active release once an interval, and once more when it ends', async () => {
    // Given an active release whose metric source cannot be read.
    sampler.observe(release, 'v1');
    await sampler.idle();
    // Then its sample is kept with null figures, and told to this replica's stream.
    const [first] = await stored();
    expect(first).toMatchObject({
      releaseId: release.id,
      service: 'web',
      at: clock.now(),
      stable: null,
      canary: null,
    });
    expect(emitted).toEqual([first]);

    // Passes within the interval take none.
    clock.advance(SAMPLE_INTERVAL_MS - 1);
    sampler.observe(release, 'v1');
    await sampler.idle();
    expect(await stored()).toHaveLength(1);
    clock.advance(1);
    sampler.observe(release, 'v1');
    await sampler.idle();
    expect((await stored()).map((s) => s.at)).toEqual([first!.at, first!.at + SAMPLE_INTERVAL_MS]);

    // When the release is no longer active, one last sample; then none.
    clock.advance(500);
    sampler.observe(undefined, 'v2');
    await sampler.idle();
    clock.advance(SAMPLE_INTERVAL_MS);
    sampler.observe(undefined, 'v2');
    await sampler.idle();
    expect((await stored()).map((s) => s.at)).toEqual([
      first!.at,
      first!.at + SAMPLE_INTERVAL_MS,
      first!.at + SAMPLE_INTERVAL_MS + 500,
    ]);
    expect(emitted).toHaveLength(3);
  });

  it('takes no final sample once another replica drives the unit, and never throws when the store fails', async () => {
    sampler.observe(release, 'v1');
    await sampler.idle();
    sampler.clear();
    sampler.observe(undefined, 'v2');
    await sampler.idle();
    expect(await stored()).toHaveLength(1);

    await store.close();
    clock.advance(SAMPLE_INTERVAL_MS);
    expect(() => sampler.observe(release, 'v1')).not.toThrow();
    await expect(sampler.idle()).resolves.toBeUndefined();
    expect(emitted).toHaveLength(1);
  });
});
