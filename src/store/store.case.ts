/**
 * The store contract suite, run on SQLite and on PostgreSQL (`sqlite-store.test.ts`,
 * `postgres-store.test.ts`): every promise of the `Store` interface, one table at a time. It is
 * long because the interface is; one suite keeps the two stores from drifting apart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../errors.js';
import type { NewEvent, ReleaseRow, Store } from './types.js';

/** A release as the engine creates it, for contract tests. */
export function newRelease(
  service: string,
  version: string,
  at = 1000,
): Omit<ReleaseRow, 'id' | 'updatedAt' | 'endedAt'> {
  return {
    service,
    version,
    fromVersion: null,
    kind: 'deploy',
    state: 'progressing',
    phase: 'starting',
    step: 0,
    weight: 0,
    reason: null,
    outcome: null,
    stepStartedAt: at,
    phaseStartedAt: at,
    createdAt: at,
  };
}

/** The event a contract test writes with a release's change. */
function announce(type: string): (release: ReleaseRow) => NewEvent {
  return (release) => ({
    service: release.service,
    releaseId: release.id,
    at: release.updatedAt,
    type,
    message: `#${release.id} ${release.phase} at ${release.weight}%`,
    data: { phase: release.phase },
  });
}

/** The seam every write of both stores (KyselyStore) runs through, and the PostgreSQL store retries in. */
interface RetrySeam {
  retrying<T>(write: () => Promise<T>): Promise<T>;
}

/**
 * Makes the store's next write commit and then lose its acknowledgement: with `error`, the write
 * throws it after its commit (the store's own retry, if it has one, takes over); without, the write
 * runs again at once, as a retry would. Test-only: it wraps the store's retry seam.
 */
export function loseNextAcknowledgement(store: Store, error?: Error): void {
  const seam = store as unknown as RetrySeam;
  const original = seam.retrying.bind(store);
  let armed = true;
  seam.retrying = <T>(write: () => Promise<T>): Promise<T> =>
    original(async () => {
      if (!armed) return write();
      armed = false;
      await write();
      if (error) throw error;
      return write();
    });
}

/** The contract every Store implementation passes; `create` returns a fresh, migrated, empty store. */
export function runStoreContract(name: string, create: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await create();
    });
    afterEach(async () => {
      await store.close();
    });

    it('migrates idempotently', async () => {
      await store.migrate();
      await store.migrate();
      expect(await store.activeReleases()).toEqual([]);
    });

    it('allows one active release per service and reports the conflict', async () => {
      const first = await store.createRelease(newRelease('web', 'v1'));
      await expect(store.createRelease(newRelease('web', 'v2'))).rejects.toThrow(ConflictError);
      await expect(store.createRelease(newRelease('web', 'v2'))).rejects.toThrow(/#1, version v1/);
      await store.createRelease(newRelease('api', 'v1'));
      await store.updateRelease(first.id, { state: 'succeeded', phase: 'completed' }, 2000);
      const second = await store.createRelease(newRelease('web', 'v2'));
      expect(second.id).toBeGreaterThan(first.id);
      expect((await store.activeRelease('web'))?.version).toBe('v2');
      expect((await store.activeReleases()).map((r) => r.service).sort()).toEqual(['api', 'web']);
    });

    it('applies transitions and stamps the end of terminal ones', async () => {
      const r = await store.createRelease(newRelease('web', 'v1'));
      const moved = await store.updateRelease(
        r.id,
        { phase: 'canary', step: 2, weight: 50, stepStartedAt: 1500 },
        1500,
      );
      expect(moved).toMatchObject({
        phase: 'canary',
        step: 2,
        weight: 50,
        stepStartedAt: 1500,
        updatedAt: 1500,
      });
      const ended = await store.updateRelease(r.id, { state: 'rolled_back', reason: 'error_rate 20%' }, 3000);
      expect(ended).toMatchObject({ state: 'rolled_back', endedAt: 3000, reason: 'error_rate 20%' });
      expect(await store.activeRelease('web')).toBeUndefined();
      expect((await store.listReleases('web', 10))[0]?.id).toBe(r.id);
      await expect(store.updateRelease(9999, { weight: 1 }, 1)).rejects.toThrow(/not found/);
    });

    it('writes a transition and the event announcing it together', async () => {
      // Given a release
      const r = await store.createRelease(newRelease('web', 'v1'));
      // When it moves with an event
      const moved = await store.updateReleaseWithEvent(
        r.id,
        { phase: 'canary', weight: 10 },
        1500,
        announce('release.weight'),
      );
      // Then both are stored, and the event was made of the changed release
      expect(moved.release).toMatchObject({ id: r.id, phase: 'canary', weight: 10, updatedAt: 1500 });
      expect(moved.event).toMatchObject({
        service: 'web',
        releaseId: r.id,
        type: 'release.weight',
        message: `#${r.id} canary at 10%`,
        data: { phase: 'canary' },
      });
      expect(await store.listEvents({ releaseId: r.id, limit: 10 })).toEqual([moved.event]);
      // And a terminal transition frees the service's active slot as updateRelease does
      const ended = await store.updateReleaseWithEvent(
        r.id,
        { state: 'aborted' },
        2000,
        announce('release.aborted'),
      );
      expect(ended.release).toMatchObject({ state: 'aborted', endedAt: 2000 });
      expect(await store.activeRelease('web')).toBeUndefined();
      await expect(store.updateReleaseWithEvent(9999, { weight: 1 }, 1, announce('x'))).rejects.toThrow(
        /not found/,
      );
      expect(await store.listEvents({ limit: 10 })).toHaveLength(2);
    });

    it('creates a release with its event, and one release per key', async () => {
      // When a release is created with its event under a key
      const first = await store.createReleaseWithEvent(
        newRelease('web', 'v1'),
        announce('release.created'),
        'k1',
      );
      expect(first.release).toMatchObject({ service: 'web', version: 'v1', state: 'progressing' });
      expect(first.event).toMatchObject({ releaseId: first.release.id, type: 'release.created' });
      expect(await store.releaseByKey('k1')).toEqual(first.release);
      // Then the same key again returns that release, writes no event, and starts nothing
      const again = await store.createReleaseWithEvent(
        newRelease('web', 'v1'),
        announce('release.created'),
        'k1',
      );
      expect(again).toEqual({ release: first.release, event: undefined });
      expect(await store.listReleases('web', 10)).toHaveLength(1);
      expect(await store.listEvents({ limit: 10 })).toEqual([first.event]);
      // Even once that release has ended
      await store.updateRelease(first.release.id, { state: 'succeeded', phase: 'completed' }, 2000);
      const later = await store.createReleaseWithEvent(
        newRelease('web', 'v1'),
        announce('release.created'),
        'k1',
      );
      expect(later.release.id).toBe(first.release.id);
      // While another key is another release, and the active slot still holds one release per service
      const other = await store.createReleaseWithEvent(newRelease('web', 'v2'), announce('release.created'));
      await expect(
        store.createReleaseWithEvent(newRelease('web', 'v3'), announce('release.created'), 'k2'),
      ).rejects.toThrow(new RegExp(`already has an active release \\(#${other.release.id}, version v2`));
      expect(await store.releaseByKey('k2')).toBeUndefined();
      expect((await store.listReleases('web', 10)).map((r) => r.version)).toEqual(['v2', 'v1']);
    });

    it('leaves the release as it was when its event cannot be written', async () => {
      // Given a release, and an event the database refuses (a NOT NULL column left empty)
      const r = await store.createRelease(newRelease('web', 'v1'));
      const refused = (release: ReleaseRow): NewEvent => ({
        ...announce('release.weight')(release),
        service: null as unknown as string,
      });
      // When a transition is written with it
      await expect(
        store.updateReleaseWithEvent(r.id, { phase: 'canary', weight: 50 }, 2000, refused),
      ).rejects.toThrow(/NOT NULL|null value/i);
      // Then the release is unchanged and no event was written
      expect(await store.getRelease(r.id)).toEqual(r);
      expect(await store.listEvents({ limit: 10 })).toEqual([]);
      // And a release created with such an event was never created
      await store.updateRelease(r.id, { state: 'aborted' }, 3000);
      await expect(store.createReleaseWithEvent(newRelease('web', 'v2'), refused, 'k')).rejects.toThrow(
        /NOT NULL|null value/i,
      );
      expect(await store.activeRelease('web')).toBeUndefined();
      expect(await store.releaseByKey('k')).toBeUndefined();
      expect(await store.listReleases('web', 10)).toHaveLength(1);
    });

    it('applies a write retried after its commit once', async () => {
      // Each write below commits, loses its acknowledgement, and is run again as a retry would be
      loseNextAcknowledgement(store);
      const r = await store.createRelease(newRelease('web', 'v1'));
      expect(await store.listReleases('web', 10)).toEqual([r]);

      loseNextAcknowledgement(store);
      const event = await store.addEvent({
        service: 'web',
        releaseId: r.id,
        at: 1,
        type: 'a',
        message: 'one',
        data: {},
      });
      expect(await store.listEvents({ limit: 10 })).toEqual([event]);

      loseNextAcknowledgement(store);
      const moved = await store.updateReleaseWithEvent(
        r.id,
        { weight: 10 },
        2000,
        announce('release.weight'),
      );
      expect(moved.release.weight).toBe(10);
      expect(moved.event).toBeDefined();
      expect(await store.listEvents({ limit: 10 })).toEqual([event, moved.event]);

      await store.updateRelease(r.id, { state: 'succeeded' }, 3000);
      loseNextAcknowledgement(store);
      const created = await store.createReleaseWithEvent(
        newRelease('web', 'v2'),
        announce('release.created'),
      );
      // The retry finds what its own first attempt wrote, event included (for the caller to publish)
      expect(created.event).toMatchObject({ releaseId: created.release.id, type: 'release.created' });
      expect((await store.listReleases('web', 10)).map((x) => x.version)).toEqual(['v2', 'v1']);
      expect(await store.listEvents({ releaseId: created.release.id, limit: 10 })).toEqual([created.event]);

      loseNextAcknowledgement(store);
      await store.addMeasurement({
        releaseId: r.id,
        service: 'web',
        at: 10,
        trigger: 'error_rate > 5%',
        metric: 'error_rate',
        version: 'v1',
        value: 0,
        threshold: 0.05,
        verdict: 'pass',
        windowMs: 1000,
        requests: 10,
        message: 'ok',
        inputs: {},
      });
      expect(await store.listMeasurements(r.id, 10)).toHaveLength(1);

      const item = {
        releaseId: r.id,
        id: 'pre/tests',
        position: 0,
        section: 'Pre',
        title: 'Tests',
        kind: 'command',
        gate: 'pre-deploy' as const,
        params: {},
        hint: null,
        automated: true,
        state: 'pending' as const,
        evidence: [],
        updatedAt: 1,
      };
      await store.createChecklist([item]);
      loseNextAcknowledgement(store);
      const evidence = { at: 4, summary: 'exit 0' };
      const checked = await store.updateChecklistItem(r.id, item.id, { state: 'passed', evidence }, 4);
      expect(checked.evidence).toEqual([evidence]);
      expect((await store.listChecklist(r.id))[0]?.evidence).toEqual([evidence]);
      // A later write to the item appends as usual
      await store.updateChecklistItem(
        r.id,
        item.id,
        { state: 'passed', evidence: { at: 5, summary: 'again' } },
        5,
      );
      expect((await store.listChecklist(r.id))[0]?.evidence).toHaveLength(2);
    });

    it('keeps services', async () => {
      expect(await store.getService('web')).toBeUndefined();
      const row = {
        name: 'web',
        stableVersion: 'v1',
        previousVersion: null,
        previousRetireAt: null,
        updatedAt: 5,
      };
      await store.saveService(row);
      await store.saveService({ ...row, stableVersion: 'v2', previousVersion: 'v1', previousRetireAt: 99 });
      expect(await store.getService('web')).toEqual({
        ...row,
        stableVersion: 'v2',
        previousVersion: 'v1',
        previousRetireAt: 99,
      });
    });

    it('reads the newest events of a service and its environments, oldest first, and no more', async () => {
      const units = ['web', 'web@staging', 'web_x@prod', 'webx', 'api'];
      for (let i = 0; i < 100; i++)
        await store.addEvent({
          service: units[i % units.length]!,
          releaseId: null,
          at: i,
          type: 't',
          message: String(i),
          data: {},
        });
      const newest = await store.listEvents({ newest: true, limit: 7 });
      expect(newest.map((e) => e.message)).toEqual(['93', '94', '95', '96', '97', '98', '99']);
      const web = await store.listEvents({ service: 'web', withEnvironments: true, newest: true, limit: 4 });
      expect(web.map((e) => `${e.service}:${e.message}`)).toEqual([
        'web:90',
        'web@staging:91',
        'web:95',
        'web@staging:96',
      ]);
      const page = await store.listEvents({
        service: 'web',
        withEnvironments: true,
        beforeId: web[0]!.id,
        newest: true,
        limit: 2,
      });
      expect(page.map((e) => e.message)).toEqual(['85', '86']);
      expect(
        (await store.listEvents({ service: 'web', newest: true, limit: 2 })).map((e) => e.message),
      ).toEqual(['90', '95']);
    });

    it('keeps events and measurements in order, with their data', async () => {
      const r = await store.createRelease(newRelease('web', 'v1'));
      const e1 = await store.addEvent({
        service: 'web',
        releaseId: r.id,
        at: 1,
        type: 'a',
        message: 'one',
        data: { x: 1 },
      });
      await store.addEvent({ service: 'web', releaseId: null, at: 2, type: 'b', message: 'two', data: {} });
      expect((await store.listEvents({ service: 'web', limit: 10 })).map((e) => e.message)).toEqual([
        'one',
        'two',
      ]);
      expect(await store.listEvents({ releaseId: r.id, limit: 10 })).toEqual([e1]);
      expect((await store.listEvents({ afterId: e1.id, limit: 10 })).map((e) => e.type)).toEqual(['b']);
      expect((await store.listEvents({ beforeId: e1.id + 1, limit: 10 })).map((e) => e.type)).toEqual(['a']);
      expect(await store.lastEventId()).toBe(e1.id + 1);
      expect(await store.lastEventId('web')).toBe(e1.id + 1);
      expect(await store.lastEventId('api')).toBe(0);
      const m = {
        releaseId: r.id,
        service: 'web',
        at: 10,
        trigger: 'error_rate > 5% over 1m',
        metric: 'error_rate',
        version: 'v1',
        value: 0.2,
        threshold: 0.05,
        verdict: 'fail' as const,
        windowMs: 60_000,
        requests: 120,
        message: 'error_rate 20% > 5%',
        inputs: { errors: 24, requests: 120 },
      };
      await store.addMeasurement(m);
      await store.addMeasurement({ ...m, at: 11, value: null, verdict: 'inconclusive', requests: 0 });
      const list = await store.listMeasurements(r.id, 10);
      expect(list).toHaveLength(2);
      expect(list[0]).toMatchObject(m);
      expect(list[1]).toMatchObject({ value: null, verdict: 'inconclusive' });
      expect(await store.lastMeasurementId()).toBe(list[1]!.id);
      expect((await store.listMeasurementsAfter(list[0]!.id, 10)).map((x) => x.id)).toEqual([list[1]!.id]);
      expect(await store.listMeasurementsAfter(list[1]!.id, 10)).toEqual([]);
    });

    it('keeps release samples, oldest first, by release and by row id', async () => {
      expect(await store.lastSampleId()).toBe(0);
      const r1 = await store.createRelease(newRelease('web', 'v2'));
      const r2 = await store.createRelease(newRelease('api', 'v9'));
      const figures = (version: string, requests: number) => ({
        version,
        rps: requests / 2,
        requests,
        errors: 1,
        errorRate: requests > 0 ? 1 / requests : null,
        p50: 12.5,
        p99: null,
      });
      // Written out of time order: the list is by time all the same.
      const late = await store.addSample({
        releaseId: r1.id,
        service: 'web',
        at: 4000,
        stable: figures('v1', 20),
        canary: figures('v2', 4),
      });
      const early = await store.addSample({
        releaseId: r1.id,
        service: 'web',
        at: 2000,
        stable: figures('v1', 10),
        canary: null,
      });
      const other = await store.addSample({
        releaseId: r2.id,
        service: 'api',
        at: 3000,
        stable: null,
        canary: null,
      });
      expect(await store.listSamples(r1.id, { limit: 10 })).toEqual([early, late]);
      expect(await store.listSamples(r1.id, { afterAt: 2000, limit: 10 })).toEqual([late]);
      expect(await store.listSamples(r1.id, { limit: 1 })).toEqual([early]);
      expect(await store.listSamples(r2.id, { limit: 10 })).toEqual([other]);
      expect(await store.listSamplesAfter(late.id, 10)).toEqual([early, other]);
      expect(await store.listSamplesAfter(0, 2)).toEqual([late, early]);
      expect(await store.lastSampleId()).toBe(other.id);

      // A write retried after its commit is kept once.
      loseNextAcknowledgement(store);
      const again = await store.addSample({
        releaseId: r2.id,
        service: 'api',
        at: 5000,
        stable: null,
        canary: null,
      });
      expect(await store.listSamples(r2.id, { limit: 10 })).toEqual([other, again]);
    });

    it('keeps a release checklist, appending evidence', async () => {
      const r = await store.createRelease(newRelease('web', 'v1'));
      const item = {
        releaseId: r.id,
        id: 'pre-deployment/testing/run-full-test-suite',
        position: 0,
        section: 'Pre-Deployment / Testing',
        title: 'Run full test suite',
        kind: 'command',
        gate: 'pre-deploy' as const,
        params: { run: 'npm test' },
        hint: null,
        automated: true,
        state: 'pending' as const,
        evidence: [],
        updatedAt: 1,
      };
      const manual = {
        ...item,
        id: 'a/b/sign-me',
        position: 1,
        kind: 'manual',
        automated: false,
        hint: 'sign it',
      };
      await store.createChecklist([item, manual]);
      await store.createChecklist([{ ...item, state: 'failed' }]);
      expect((await store.listChecklist(r.id)).map((i) => [i.id, i.state])).toEqual([
        [item.id, 'pending'],
        [manual.id, 'pending'],
      ]);
      await store.updateChecklistItem(r.id, item.id, { state: 'running' }, 2);
      const done = await store.updateChecklistItem(
        r.id,
        item.id,
        { state: 'passed', evidence: { at: 3, summary: 'npm test: exit 0 in 1.2s', output: 'ok' } },
        3,
      );
      expect(done).toMatchObject({
        state: 'passed',
        updatedAt: 3,
        params: { run: 'npm test' },
        automated: true,
      });
      expect(done.evidence).toEqual([{ at: 3, summary: 'npm test: exit 0 in 1.2s', output: 'ok' }]);
      await expect(store.updateChecklistItem(r.id, 'nope', { state: 'passed' }, 4)).rejects.toThrow(
        /no checklist item "nope" in release #\d+/,
      );
    });

    it('keeps instance records for adoption after a restart', async () => {
      const rec = {
        id: 'web-v1-0',
        service: 'web',
        version: 'v1',
        index: 0,
        port: 4000,
        pid: 123,
        pidStartTime: '555',
        logFile: '/tmp/web-v1-0.log',
      };
      await store.saveInstance(rec);
      await store.saveInstance({ ...rec, pid: 124 });
      expect(await store.listInstances('web')).toEqual([{ ...rec, pid: 124 }]);
      await store.deleteInstance(rec.id);
      expect(await store.listInstances('web')).toEqual([]);
    });

    it('gives a lease to one holder at a time, renews it, and hands it over once it expires', async () => {
      const a = await store.acquireLease('web', 'replica-a', 1000, 10_000);
      expect(a).toMatchObject({ holder: 'replica-a', expiresAt: 11_000, epoch: 1, acquiredAt: 1000 });
      expect(await store.acquireLease('web', 'replica-b', 5000, 10_000)).toBeUndefined();
      const renewed = await store.acquireLease('web', 'replica-a', 6000, 10_000);
      expect(renewed).toMatchObject({ holder: 'replica-a', expiresAt: 16_000, epoch: 1, acquiredAt: 1000 });
      expect(await store.acquireLease('web', 'replica-b', 15_999, 10_000)).toBeUndefined();
      const taken = await store.acquireLease('web', 'replica-b', 16_000, 10_000);
      expect(taken).toMatchObject({ holder: 'replica-b', expiresAt: 26_000, epoch: 2, acquiredAt: 16_000 });
      expect(await store.acquireLease('web', 'replica-a', 17_000, 10_000)).toBeUndefined();
      expect(await store.acquireLease('api', 'replica-a', 17_000, 10_000)).toMatchObject({ epoch: 1 });
      await store.releaseLease('web', 'replica-a');
      expect((await store.getLease('web'))?.holder).toBe('replica-b');
      await store.releaseLease('web', 'replica-b');
      expect(await store.acquireLease('web', 'replica-c', 18_000, 10_000)).toMatchObject({ epoch: 3 });
    });

    it('records which epoch keeps a session lock, and takes a lease over only from that holder at that epoch', async () => {
      const a = await store.acquireLease('web', 'replica-a', 1000, 10_000, true);
      expect(a).toMatchObject({ holder: 'replica-a', epoch: 1, lockEpoch: 1 });
      // A renewal without the lock says so; one with it binds the epoch again
      expect(await store.acquireLease('web', 'replica-a', 2000, 10_000)).toMatchObject({ lockEpoch: null });
      const bound = (await store.acquireLease('web', 'replica-a', 3000, 10_000, true))!;
      expect(bound).toMatchObject({ epoch: 1, lockEpoch: 1 });
      // Not from another holder or epoch than the one read, nor from an epoch that keeps no lock
      expect(
        await store.takeOverLease('web', 'replica-b', { ...bound, holder: 'replica-c' }, 4000, 10_000),
      ).toBeUndefined();
      expect(
        await store.takeOverLease('web', 'replica-b', { ...bound, epoch: 2 }, 4000, 10_000),
      ).toBeUndefined();
      const taken = await store.takeOverLease('web', 'replica-b', bound, 4000, 10_000);
      expect(taken).toMatchObject({
        holder: 'replica-b',
        epoch: 2,
        lockEpoch: 2,
        expiresAt: 14_000,
        acquiredAt: 4000,
      });
      // Once taken, the row read before is stale: nobody takes it over with it again
      expect(await store.takeOverLease('web', 'replica-c', bound, 5000, 10_000)).toBeUndefined();
      expect(await store.acquireLease('web', 'replica-a', 5000, 10_000, true)).toBeUndefined();
      // A holder that keeps no lock cannot be taken over early
      await store.acquireLease('api', 'replica-a', 1000, 10_000);
      const unbound = (await store.getLease('api'))!;
      expect(unbound.lockEpoch).toBeNull();
      expect(await store.takeOverLease('api', 'replica-b', unbound, 2000, 10_000)).toBeUndefined();
      // Taking an expired lease over by the TTL binds the new epoch when the taker keeps the lock
      expect(await store.acquireLease('api', 'replica-b', 11_000, 10_000, true)).toMatchObject({
        holder: 'replica-b',
        epoch: 2,
        lockEpoch: 2,
      });
    });

    it('lets exactly one of many concurrent claimants take a free lease', async () => {
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.acquireLease('web', `replica-${i}`, 1000, 10_000)),
      );
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    });

    it('lists every lease row, expired and released ones included', async () => {
      await store.acquireLease('web', 'replica-a', 1000, 10_000);
      await store.acquireLease('api', 'replica-b', 1000, 10_000);
      await store.acquireLease('db', 'replica-a', 1000, 10_000);
      await store.releaseLease('db', 'replica-a');
      expect((await store.listLeases()).map((l) => [l.name, l.holder, l.expiresAt])).toEqual([
        ['api', 'replica-b', 11_000],
        ['db', 'replica-a', 0],
        ['web', 'replica-a', 11_000],
      ]);
    });

    it('knows which replicas are live from their heartbeats', async () => {
      expect(await store.liveReplicas(1000)).toEqual([]);
      await store.heartbeatReplica('replica-b', 1000, 5000);
      await store.heartbeatReplica('replica-a', 1000, 5000);
      await store.heartbeatReplica('replica-a', 3000, 5000);
      expect(await store.liveReplicas(5999)).toEqual([
        { id: 'replica-a', seenAt: 3000, expiresAt: 8000 },
        { id: 'replica-b', seenAt: 1000, expiresAt: 6000 },
      ]);
      // A replica that stops beating (kill -9) drops out at its expiry; a graceful one leaves at once.
      expect((await store.liveReplicas(6000)).map((r) => r.id)).toEqual(['replica-a']);
      await store.removeReplica('replica-a');
      expect(await store.liveReplicas(6000)).toEqual([]);
      // A replica that comes back is live again.
      await store.heartbeatReplica('replica-b', 9000, 5000);
      expect((await store.liveReplicas(9000)).map((r) => r.id)).toEqual(['replica-b']);
    });

    it('forgets replicas whose heartbeat expired an hour ago', async () => {
      const hour = 60 * 60_000;
      await store.heartbeatReplica('gone', 1000, 5000);
      await store.heartbeatReplica('recent', hour, 5000);
      await store.heartbeatReplica('here', 6001 + hour, 5000);
      // Asked about a time when all three were up, only the rows still kept answer.
      expect((await store.liveReplicas(0)).map((r) => r.id)).toEqual(['here', 'recent']);
    });

    it('records effects under their idempotency key', async () => {
      const r = await store.createRelease(newRelease('web', 'v1'));
      const effect = {
        key: `web#${r.id}:traffic:10`,
        service: 'web',
        releaseId: r.id,
        kind: 'traffic' as const,
        state: 'started' as const,
        holder: 'replica-a',
        at: 5,
        data: { weight: 10 },
      };
      expect(await store.getEffect(effect.key)).toBeUndefined();
      await store.saveEffect(effect);
      await store.saveEffect({ ...effect, state: 'done', at: 6 });
      await store.saveEffect({ ...effect, key: `web#${r.id}:traffic:50`, at: 7, data: { weight: 50 } });
      expect(await store.getEffect(effect.key)).toEqual({ ...effect, state: 'done', at: 6 });
      expect((await store.listEffects(r.id)).map((e) => e.data.weight)).toEqual([10, 50]);
    });
  });
}
