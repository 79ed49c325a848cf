import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { releaseView } from '../../test/support/release-fixtures.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ManualClock } from '../util/clock.js';
import { Effects, migrationKey, trafficKey } from './effects.js';

const canaryAt = (weight: number) => ({ stable: 'v1', canary: 'v2', weight });

describe('effect keys', () => {
  it('names one traffic effect per release and weight, one for its rollback, and one per migration direction', () => {
    const release = releaseView({ id: 12 });
    expect(trafficKey('web', release, canaryAt(50))).toBe('web#12:traffic:50');
    expect(trafficKey('web@staging', release, canaryAt(10))).toBe('web@staging#12:traffic:10');
    expect(trafficKey('web', releaseView({ id: 12, phase: 'rolling-back' }), canaryAt(0))).toBe(
      'web#12:traffic:rollback',
    );
    expect(trafficKey('web', release, canaryAt(0))).toBeUndefined();
    expect(trafficKey('web', release, { stable: 'v2', canary: undefined, weight: 0 })).toBeUndefined();
    expect(migrationKey('web', release, 'up')).toBe('web#12:migrations:up');
  });
});

describe('Effects', () => {
  const clock = new ManualClock();
  let store: SqliteStore;
  beforeEach(async () => {
    store = SqliteStore.open(':memory:');
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
  });

  it('records a weight change started before it is applied and done after', async () => {
    const effects = new Effects({ store, unit: 'web', holder: 'replica-a', clock });
    const release = releaseView({ id: 12 });
    const seen: (string | undefined)[] = [];
    await effects.traffic(release, canaryAt(50), async () => {
      seen.push((await store.getEffect('web#12:traffic:50'))?.state);
    });
    expect(seen).toEqual(['started']);
    expect(await store.getEffect('web#12:traffic:50')).toMatchObject({
      kind: 'traffic',
      state: 'done',
      holder: 'replica-a',
      releaseId: 12,
      data: canaryAt(50),
    });
  });

  it('leaves a weight change the router refused recorded as started', async () => {
    const effects = new Effects({ store, unit: 'web', holder: 'local', clock });
    const refused = effects.traffic(releaseView({ id: 3 }), canaryAt(10), async () => {
      throw new Error('nginx -t failed');
    });
    await expect(refused).rejects.toThrow('nginx -t failed');
    expect((await store.getEffect('web#3:traffic:10'))?.state).toBe('started');
  });

  it('runs work once per key: a new holder reuses what is done and redoes what failed', async () => {
    const release = releaseView({ id: 7 });
    const key = migrationKey('web', release, 'up');
    let runs = 0;
    const work = async () => ({ applied: [`00${++runs}`] });
    const first = new Effects({ store, unit: 'web', holder: 'replica-a', clock });
    expect(await first.once(key, release, 'migration', { direction: 'up' }, work)).toEqual({
      direction: 'up',
      applied: ['001'],
    });
    const second = new Effects({ store, unit: 'web', holder: 'replica-b', clock });
    expect(await second.once(key, release, 'migration', { direction: 'up' }, work)).toEqual({
      direction: 'up',
      applied: ['001'],
    });
    expect(runs).toBe(1);

    const downKey = migrationKey('web', release, 'down');
    const failing = second.once(downKey, release, 'migration', { direction: 'down' }, async () => {
      throw new Error('relation "users" does not exist');
    });
    await expect(failing).rejects.toThrow('relation "users" does not exist');
    expect(await store.getEffect(downKey)).toMatchObject({
      state: 'failed',
      data: { direction: 'down', error: 'relation "users" does not exist' },
    });
    await second.once(downKey, release, 'migration', { direction: 'down' }, work);
    expect(runs).toBe(2);
  });
});
