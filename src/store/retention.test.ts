import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PG_URL,
  REQUIRE_REAL,
  probePostgres,
  testSchemas,
  unreachableMessage,
} from '../../test/support/postgres.js';
import type { IncidentState } from '../comms/incidents/types.js';
import type { IncidentTables } from './incident-store.js';
import type { NotificationState } from './notification-store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { type PruneCounts, type PruneOptions, PRUNED_TABLES, type RetentionPolicy } from './retention.js';
import type { Database } from './schema.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { newRelease } from './store.case.js';
import type { ReleaseRow, Store } from './types.js';

const DAY = 86_400_000;
/** The clock every test reads: retention counts back from it. */
const NOW = 1_800_000_000_000;
const POLICY: RetentionPolicy = { measurementsMs: 14 * DAY, releasesMs: 365 * DAY, eventsMs: 365 * DAY };

/** Options for a pass at NOW, with no pause. */
function at(now: number, extra: Partial<PruneOptions> = {}): PruneOptions {
  return { now, batchSize: 500, pause: async () => undefined, ...extra };
}

/** The store's Kysely handle, to count rows the Store interface has no count for. */
function dbOf(store: Store): Kysely<Database> {
  return (store as unknown as { db: Kysely<Database> }).db;
}

async function countRows(store: Store): Promise<Record<(typeof PRUNED_TABLES)[number], number>> {
  const db = dbOf(store).withTables<IncidentTables>();
  const counts = {} as Record<(typeof PRUNED_TABLES)[number], number>;
  for (const table of PRUNED_TABLES) {
    const row = await db
      .selectFrom(table as 'incidents')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}

/** A release of `service` created at `createdAt` and, with `endedAt`, ended then; with a bit of everything. */
async function seedRelease(
  store: Store,
  service: string,
  createdAt: number,
  endedAt: number | undefined,
  rows = { events: 3, measurements: 4, items: 2, effects: 2 },
): Promise<ReleaseRow> {
  let release = await store.createRelease(newRelease(service, `v${createdAt}`, createdAt));
  for (let i = 0; i < rows.events; i++)
    await store.addEvent({
      service,
      releaseId: release.id,
      at: createdAt + i,
      type: 'step',
      message: 'm',
      data: {},
    });
  for (let i = 0; i < rows.measurements; i++) await store.addMeasurement(measurement(release, createdAt + i));
  await store.createChecklist(
    Array.from({ length: rows.items }, (_, i) => ({
      releaseId: release.id,
      id: `item-${i}`,
      position: i,
      section: 'Deployment',
      title: `item ${i}`,
      kind: 'manual',
      gate: 'pre-deploy' as const,
      params: {},
      hint: null,
      automated: false,
      state: 'pending' as const,
      evidence: [],
      updatedAt: createdAt,
    })),
  );
  for (let i = 0; i < rows.effects; i++)
    await store.saveEffect({
      key: `${service}#${release.id}:traffic:${i}`,
      service,
      releaseId: release.id,
      kind: 'traffic',
      state: 'done',
      holder: 'r',
      at: createdAt + i,
      data: {},
    });
  if (endedAt !== undefined)
    release = await store.updateRelease(
      release.id,
      { state: 'succeeded', phase: 'completed', endedAt },
      endedAt,
    );
  return release;
}

/**
 * A notification written at `createdAt` and, unless it stays pending, settled in `state` at
 * `settledAt`. Returns its id.
 */
async function seedNotification(
  store: Store,
  name: string,
  createdAt: number,
  state: NotificationState,
  settledAt = createdAt,
): Promise<number> {
  const [id] = await store.notifications.enqueue(
    [
      {
        key: name,
        to: { channel: 'ops' },
        notice: { event: 'test', title: name, text: 't', severity: 'info' },
      },
    ],
    createdAt,
  );
  if (id === undefined) throw new Error(`notification ${name} was not written`);
  if (state === 'pending') return id;
  expect(await store.notifications.claim(id, 'r', settledAt, settledAt + 60_000)).toBe(true);
  const outcome = state === 'delivered' ? { state } : { state, error: 'HTTP 500' };
  expect(await store.notifications.settle(id, 'r', outcome, settledAt)).toBe(true);
  return id;
}

/**
 * An incident opened at `openedAt` with `entries` timeline entries in all, and, unless it stays
 * `triggered`, acknowledged or resolved at `changedAt`. Returns its id.
 */
async function seedIncident(
  store: Store,
  key: string,
  openedAt: number,
  state: IncidentState,
  changedAt = openedAt,
  entries = 3,
): Promise<number> {
  const note = { actor: 'alice', kind: 'note' as const, message: 'looking' };
  const { incident } = await store.incidents.open(
    { key, title: key, severity: 'error', source: 'manual', nextEscalationAt: null },
    { actor: 'alice', kind: 'triggered', message: 'opened' },
    note,
    openedAt,
  );
  const more = Array.from({ length: entries - (state === 'triggered' ? 1 : 2) }, () => note);
  if (more.length > 0) await store.incidents.addEntries(incident.id, more, openedAt);
  if (state === 'acknowledged')
    await store.incidents.update(
      incident.id,
      { states: ['triggered'] },
      { state, acknowledgedBy: 'alice', acknowledgedAt: changedAt },
      [{ actor: 'alice', kind: 'acknowledged', message: 'mine' }],
      changedAt,
    );
  if (state === 'resolved')
    await store.incidents.update(
      incident.id,
      { states: ['triggered'] },
      { state, resolvedBy: 'alice', resolvedAt: changedAt },
      [{ actor: 'alice', kind: 'resolved', message: 'fixed' }],
      changedAt,
    );
  return incident.id;
}

function measurement(release: ReleaseRow, takenAt: number, verdict: 'pass' | 'fail' = 'pass') {
  return {
    releaseId: release.id,
    service: release.service,
    at: takenAt,
    trigger: 'error_rate > 5%',
    metric: 'error_rate',
    version: release.version,
    value: 0.01,
    threshold: 0.05,
    verdict,
    windowMs: 60_000,
    requests: 100,
    message: 'ok',
    inputs: {},
  };
}

/** What the retention suite runs on: a fresh, migrated, empty store each time. */
function runRetentionSuite(name: string, create: () => Promise<Store>): void {
  describe(`store retention: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await create();
    });
    afterEach(async () => {
      await store.close();
    });

    it('prunes measurements past their period, but not failed ones nor those of an active release', async () => {
      const ended = await seedRelease(store, 'web', NOW - 30 * DAY, NOW - 29 * DAY, {
        events: 0,
        measurements: 0,
        items: 0,
        effects: 0,
      });
      const old = NOW - 20 * DAY;
      for (let i = 0; i < 5; i++) await store.addMeasurement(measurement(ended, old + i));
      await store.addMeasurement(measurement(ended, old, 'fail'));
      for (let i = 0; i < 3; i++) await store.addMeasurement(measurement(ended, NOW - DAY + i));
      const active = await seedRelease(store, 'api', NOW - 40 * DAY, undefined, {
        events: 0,
        measurements: 4,
        items: 0,
        effects: 0,
      });

      const counts = await store.retention.prune(POLICY, at(NOW));

      expect(counts).toMatchObject({ measurements: 5, releases: 0 });
      const left = await store.listMeasurements(ended.id, 100);
      expect(left.map((m) => [m.verdict, m.at >= NOW - 14 * DAY])).toEqual([
        ['fail', false],
        ['pass', true],
        ['pass', true],
        ['pass', true],
      ]);
      expect(await store.listMeasurements(active.id, 100)).toHaveLength(4);
    });

    it('prunes ended releases past their period with all they hold, and keeps recent and active ones', async () => {
      const gone = await seedRelease(store, 'web', NOW - 400 * DAY, NOW - 399 * DAY);
      const alsoGone = await seedRelease(store, 'web', NOW - 380 * DAY, NOW - 370 * DAY);
      const recent = await seedRelease(store, 'web', NOW - 100 * DAY, NOW - 100 * DAY);
      await seedRelease(store, 'web', NOW - 50 * DAY, NOW - 50 * DAY);
      // Created long ago and still in flight: nothing of it goes.
      const active = await seedRelease(store, 'api', NOW - 500 * DAY, undefined);
      // The newest release of its service, however old: it says what the service runs.
      const newest = await seedRelease(store, 'jobs', NOW - 600 * DAY, NOW - 600 * DAY);
      const before = await countRows(store);

      const counts = await store.retention.prune(POLICY, at(NOW));

      // Two releases, each with 3 events, 4 measurements, 2 items and 2 effects; and the 4 old
      // measurements of each of the three ended releases kept.
      expect(counts).toEqual({
        releases: 2,
        events: 6,
        measurements: 8 + 12,
        release_samples: 0,
        checklist_items: 4,
        effects: 4,
        notifications: 0,
        incident_updates: 0,
        incidents: 0,
      });
      const after = await countRows(store);
      for (const table of PRUNED_TABLES) expect(after[table]).toBe(before[table] - (counts?.[table] ?? 0));
      expect(await store.getRelease(gone.id)).toBeUndefined();
      expect(await store.getRelease(alsoGone.id)).toBeUndefined();
      expect(await store.listEvents({ releaseId: gone.id, limit: 10 })).toEqual([]);
      expect(await store.listChecklist(gone.id)).toEqual([]);
      expect(await store.listEffects(gone.id)).toEqual([]);
      for (const kept of [recent, active, newest]) {
        expect(await store.getRelease(kept.id)).toBeDefined();
        expect(await store.listEvents({ releaseId: kept.id, limit: 10 })).toHaveLength(3);
        expect(await store.listChecklist(kept.id)).toHaveLength(2);
        expect(await store.listEffects(kept.id)).toHaveLength(2);
      }
      // Old measurements of kept releases that ended went by their own, shorter period.
      expect(await store.listMeasurements(recent.id, 10)).toEqual([]);
      expect(await store.listMeasurements(newest.id, 10)).toEqual([]);
      expect(await store.listMeasurements(active.id, 10)).toHaveLength(4);
      expect((await store.activeRelease('api'))?.id).toBe(active.id);
    });

    it('prunes events and effects of no release past their period, and never the audit log', async () => {
      for (const when of [NOW - 400 * DAY, NOW - 366 * DAY, NOW - 10 * DAY]) {
        await store.addEvent({
          service: 'web',
          releaseId: null,
          at: when,
          type: 'replica.leading',
          message: 'm',
          data: {},
        });
        await store.saveEffect({
          key: `web:notify:${when}`,
          service: 'web',
          releaseId: null,
          kind: 'notification',
          state: 'done',
          holder: 'r',
          at: when,
          data: {},
        });
      }
      for (let seq = 1; seq <= 3; seq++)
        await store.security.appendAudit(() => ({
          seq,
          at: NOW - 1000 * DAY,
          actor: 'user:alice',
          action: 'release.deploy',
          target: null,
          service: 'web',
          address: null,
          result: 'ok',
          reason: null,
          data: {},
          prev: '',
          hash: `h${seq}`,
        }));

      const counts = await store.retention.prune(POLICY, at(NOW));

      expect(counts).toMatchObject({ events: 2, effects: 2 });
      const events = await store.listEvents({ service: 'web', limit: 10 });
      expect(events.map((e) => e.at)).toEqual([NOW - 10 * DAY]);
      expect(await store.getEffect(`web:notify:${NOW - 10 * DAY}`)).toBeDefined();
      expect(await store.getEffect(`web:notify:${NOW - 400 * DAY}`)).toBeUndefined();
      expect(await store.security.auditHead()).toEqual({ seq: 3, hash: 'h3' });
      const audit = await dbOf(store)
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(audit.n)).toBe(3);
    });

    it("keeps a service's two newest successes past their period: the stable version and the rollback target", async () => {
      const old = (daysAgo: number) => seedRelease(store, 'web', NOW - daysAgo * DAY, NOW - daysAgo * DAY);
      const first = await old(900);
      const target = await old(800);
      const stable = await old(700);
      const failed = await store.createRelease(newRelease('web', 'v-bad', NOW - 600 * DAY));
      await store.updateRelease(failed.id, { state: 'rolled_back', phase: 'completed' }, NOW - 600 * DAY);

      const counts = await store.retention.prune(POLICY, at(NOW));

      expect(counts?.releases).toBe(1);
      expect(await store.getRelease(first.id)).toBeUndefined();
      const kept = await store.listReleases('web', 10);
      expect(kept.map((r) => r.id)).toEqual([failed.id, stable.id, target.id]);
    });

    it('removes no more than a batch between two pauses', async () => {
      const batchSize = 4;
      for (let i = 0; i < 7; i++)
        await seedRelease(store, 'web', NOW - (800 - i) * DAY, NOW - (700 - i) * DAY);
      await seedRelease(store, 'web', NOW - DAY, NOW - DAY);
      await seedRelease(store, 'web', NOW, NOW);
      let last = await countRows(store);
      const removedPerStatement: number[] = [];
      const pause = async (): Promise<void> => {
        const now = await countRows(store);
        removedPerStatement.push(PRUNED_TABLES.reduce((sum, t) => sum + last[t] - now[t], 0));
        last = now;
      };

      const counts = await store.retention.prune(POLICY, at(NOW, { batchSize, pause }));

      // 7 releases x (3 events + 4 measurements + 2 items + 2 effects) and the 7 releases themselves.
      expect(total(counts)).toBe(7 * 11 + 7);
      expect(removedPerStatement.reduce((a, b) => a + b, 0)).toBe(total(counts));
      expect(Math.max(...removedPerStatement)).toBe(batchSize);
      expect(removedPerStatement.every((n) => n <= batchSize)).toBe(true);
    });

    it('prunes delivered and failed notifications past their period, and never a pending one', async () => {
      const old = NOW - 400 * DAY;
      const delivered = await seedNotification(store, 'delivered', old, 'delivered', old + 1);
      const failed = await seedNotification(store, 'failed', old, 'failed', old + 60_000);
      // Written long ago, but settled within the period: it counts from its last change.
      const lateDelivery = await seedNotification(store, 'late', old, 'delivered', NOW - 10 * DAY);
      const recent = await seedNotification(store, 'recent', NOW - DAY, 'delivered');
      const recentFailure = await seedNotification(store, 'recent-failure', NOW - DAY, 'failed');
      // Never sent, however old: the outbox still owes it.
      const waiting = await seedNotification(store, 'waiting', NOW - 1000 * DAY, 'pending');
      // Given up long ago, then sent again by hand: pending once more, and kept.
      const retried = await seedNotification(store, 'retried', old, 'failed', old + 1);
      expect(await store.notifications.retry(retried, old + 2)).toBe(true);

      const counts = await store.retention.prune(POLICY, at(NOW));

      expect(counts).toMatchObject({ notifications: 2, events: 0, releases: 0, incidents: 0 });
      expect(await store.notifications.get(delivered)).toBeUndefined();
      expect(await store.notifications.get(failed)).toBeUndefined();
      const left = await store.notifications.list();
      expect(left.map((n) => n.id).sort((a, b) => a - b)).toEqual(
        [lateDelivery, recent, recentFailure, waiting, retried].sort((a, b) => a - b),
      );
      expect(await store.notifications.counts()).toEqual({ pending: 2, failed: 1 });
      expect(await store.notifications.due(NOW, 10)).toEqual([waiting, retried]);
    });

    it('prunes resolved incidents past their period with their timelines, and never an open one', async () => {
      const gone = await seedIncident(store, 'gone', NOW - 500 * DAY, 'resolved', NOW - 400 * DAY, 4);
      const alsoGone = await seedIncident(store, 'also-gone', NOW - 370 * DAY, 'resolved', NOW - 366 * DAY);
      // Opened long ago, resolved within the period.
      const lateResolved = await seedIncident(store, 'late', NOW - 500 * DAY, 'resolved', NOW - 10 * DAY);
      // Open however old: nobody has resolved them yet.
      const triggered = await seedIncident(store, 'triggered', NOW - 1000 * DAY, 'triggered');
      const acknowledged = await seedIncident(
        store,
        'acked',
        NOW - 1000 * DAY,
        'acknowledged',
        NOW - 900 * DAY,
      );
      // The status page showed the gone one: the page's incident stays, with its own updates.
      const page = await store.statusPage.createIncident(
        {
          kind: 'incident',
          name: 'Errors on the API',
          status: 'investigating',
          impact: 'major',
          components: [],
          internalIncidentId: gone,
          startedAt: NOW - 500 * DAY,
          monitoringAt: null,
          resolvedAt: null,
          scheduledFor: null,
          scheduledUntil: null,
        },
        { status: 'investigating', body: 'Looking', affectedComponents: null },
        NOW - 500 * DAY,
      );
      const before = await countRows(store);

      const counts = await store.retention.prune(POLICY, at(NOW));

      expect(counts).toMatchObject({ incidents: 2, incident_updates: 4 + 3, releases: 0, notifications: 0 });
      const after = await countRows(store);
      for (const table of PRUNED_TABLES) expect(after[table]).toBe(before[table] - (counts?.[table] ?? 0));
      for (const id of [gone, alsoGone]) {
        expect(await store.incidents.get(id)).toBeUndefined();
        expect(await store.incidents.timeline(id)).toEqual([]);
      }
      for (const id of [lateResolved, triggered, acknowledged]) {
        expect(await store.incidents.get(id)).toBeDefined();
        expect(await store.incidents.timeline(id)).toHaveLength(3);
      }
      expect((await store.incidents.list()).map((i) => i.id)).toEqual([
        acknowledged,
        triggered,
        lateResolved,
      ]);
      const shown = await store.statusPage.incidentByPublicId(page.publicId);
      expect(shown).toMatchObject({ name: 'Errors on the API', internalIncidentId: gone });
      expect(shown?.updates).toHaveLength(1);
      // A new incident never takes the number of one pruned.
      expect(await seedIncident(store, 'next', NOW, 'triggered')).toBeGreaterThan(acknowledged);
    });

    it('removes no more notifications and incident timeline entries than a batch between two pauses', async () => {
      const batchSize = 3;
      const old = NOW - 400 * DAY;
      for (let i = 0; i < 7; i++) await seedNotification(store, `d${i}`, old + i, 'delivered');
      for (let i = 0; i < 4; i++) await seedNotification(store, `f${i}`, old + i, 'failed');
      await seedNotification(store, 'pending', old, 'pending');
      await seedNotification(store, 'recent', NOW, 'delivered');
      // Seven incidents of 2 to 8 entries: a timeline longer than a batch goes over several statements.
      for (let i = 0; i < 7; i++) await seedIncident(store, `i${i}`, old + i, 'resolved', old + i, 2 + i);
      await seedIncident(store, 'open', old, 'triggered');
      let last = await countRows(store);
      const removedPerStatement: number[] = [];
      const pause = async (): Promise<void> => {
        const now = await countRows(store);
        removedPerStatement.push(PRUNED_TABLES.reduce((sum, t) => sum + last[t] - now[t], 0));
        last = now;
      };

      const counts = await store.retention.prune(POLICY, at(NOW, { batchSize, pause }));

      expect(counts).toMatchObject({
        notifications: 11,
        incidents: 7,
        incident_updates: 2 + 3 + 4 + 5 + 6 + 7 + 8,
      });
      expect(removedPerStatement.reduce((a, b) => a + b, 0)).toBe(total(counts));
      expect(Math.max(...removedPerStatement)).toBe(batchSize);
      expect(removedPerStatement.every((n) => n <= batchSize)).toBe(true);
      expect(await store.notifications.counts()).toEqual({ pending: 1, failed: 0 });
      expect((await store.incidents.list()).map((i) => i.key)).toEqual(['open']);
    });

    it('stops between two statements once aborted, and the next pass finishes the work', async () => {
      for (let i = 0; i < 3; i++)
        await seedRelease(store, 'web', NOW - (800 - i) * DAY, NOW - (700 - i) * DAY);
      await seedRelease(store, 'web', NOW - DAY, NOW - DAY);
      await seedRelease(store, 'web', NOW, NOW);
      const abort = new AbortController();
      let pauses = 0;
      const pause = async (): Promise<void> => {
        if (++pauses === 2) abort.abort();
      };

      const first = await store.retention.prune(
        POLICY,
        at(NOW, { batchSize: 2, pause, signal: abort.signal }),
      );
      expect(pauses).toBe(2);
      expect(total(first)).toBe(4);
      const second = await store.retention.prune(POLICY, at(NOW, { batchSize: 2 }));
      expect(total(first) + total(second)).toBe(3 * 11 + 3);
      expect((await store.listReleases('web', 10)).map((r) => r.createdAt)).toEqual([NOW, NOW - DAY]);
    });
  });
}

function total(counts: PruneCounts | undefined): number {
  return counts ? PRUNED_TABLES.reduce((sum, t) => sum + counts[t], 0) : 0;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-retention-'));
let files = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

runRetentionSuite('sqlite', async () => {
  const store = SqliteStore.open(path.join(dir, `state-${files++}.db`));
  await store.migrate();
  return store;
});

const problem = await probePostgres();
const schemas = testSchemas('sc_retention');
afterAll(() => (problem === undefined ? schemas.dropAll() : undefined));

describe.runIf(problem !== undefined && REQUIRE_REAL)('store retention on PostgreSQL (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(unreachableMessage(problem));
  });
});

if (problem !== undefined && !REQUIRE_REAL) {
  console.warn(`SKIPPING store retention on PostgreSQL: ${unreachableMessage(problem)}`);
} else if (problem === undefined) {
  runRetentionSuite('postgres', async () => {
    const store = PostgresStore.open(PG_URL, { schema: await schemas.create() });
    await store.migrate();
    return store;
  });

  describe('store retention on PostgreSQL', () => {
    it('runs one pass at a time over replicas sharing a schema, and none is held up by another schema', async () => {
      const schema = await schemas.create();
      const a = PostgresStore.open(PG_URL, { schema });
      const b = PostgresStore.open(PG_URL, { schema });
      const elsewhere = PostgresStore.open(PG_URL, { schema: await schemas.create() });
      try {
        await a.migrate();
        await elsewhere.migrate();
        await seedRelease(a, 'web', NOW - 800 * DAY, NOW - 700 * DAY);
        await seedRelease(a, 'web', NOW - DAY, NOW - DAY);
        await seedRelease(a, 'web', NOW, NOW);
        let holding!: () => void;
        const held = new Promise<void>((resolve) => (holding = resolve));
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        let first = true;
        const pause = async (): Promise<void> => {
          if (!first) return;
          first = false;
          holding();
          await released;
        };
        const running = a.retention.prune(POLICY, at(NOW, { pause }));
        await held;

        // Replica b shares a's schema: it skips its pass while a prunes.
        expect(await b.retention.prune(POLICY, at(NOW))).toBeUndefined();
        // Another installation's schema has a lock of its own.
        expect(await elsewhere.retention.prune(POLICY, at(NOW))).toEqual({
          releases: 0,
          events: 0,
          measurements: 0,
          release_samples: 0,
          checklist_items: 0,
          effects: 0,
          notifications: 0,
          incident_updates: 0,
          incidents: 0,
        });
        release();
        expect(total(await running)).toBe(11 + 1);
        // Once a is done, b's pass runs (and finds nothing left).
        expect(total(await b.retention.prune(POLICY, at(NOW)))).toBe(0);
        const { rows } = await sql<{ n: string }>`
          SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext(${schema})::oid
        `.execute(dbOf(a));
        expect(Number(rows[0]?.n)).toBe(0);
      } finally {
        await Promise.all([a.close(), b.close(), elsewhere.close()]);
      }
    });
  });
}
