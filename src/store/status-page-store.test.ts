import crypto from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { tokenHash } from './status-page-store.js';
import type { Store } from './types.js';

const PG_URL = process.env.SHIPCHECK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

async function postgresStore(): Promise<Store> {
  const schema = `sc_status_${crypto.randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const store = PostgresStore.open(PG_URL, { schema });
  await store.migrate();
  return store;
}

async function sqliteStore(): Promise<Store> {
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  return store;
}

afterAll(async () => {
  if (schemas.length === 0) return;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe.each([
  ['SQLite', sqliteStore],
  ['PostgreSQL', postgresStore],
])('the status page store on %s', (_name, open) => {
  it('keeps component history, and the status in force before a time', async () => {
    const store = await open();
    try {
      const sp = store.statusPage;
      await sp.recordStatus('api', 'operational', 1_000);
      await sp.recordStatus('api', 'major_outage', 5_000);
      await sp.recordStatus('db', 'operational', 2_000);
      await sp.recordStatus('api', 'operational', 9_000);
      const latest = await sp.latestStatuses();
      expect(latest.get('api')).toEqual({ component: 'api', status: 'operational', from: 9_000 });
      expect(latest.get('db')?.status).toBe('operational');
      const history = await sp.history('api', 6_000);
      expect(history.firstAt).toBe(1_000);
      expect(history.rows.map((r) => [r.status, r.from])).toEqual([
        ['major_outage', 5_000],
        ['operational', 9_000],
      ]);
      expect((await sp.history('none', 0)).firstAt).toBeNull();
    } finally {
      await store.close();
    }
  });

  it('sets, replaces and clears an override', async () => {
    const store = await open();
    try {
      const sp = store.statusPage;
      await sp.setOverride({
        component: 'api',
        status: 'major_outage',
        until: 10,
        reason: 'r',
        setBy: 'ann',
        setAt: 1,
      });
      await sp.setOverride({
        component: 'api',
        status: 'partial_outage',
        until: null,
        reason: null,
        setBy: 'bob',
        setAt: 2,
      });
      expect((await sp.overrides()).get('api')).toEqual({
        component: 'api',
        status: 'partial_outage',
        until: null,
        reason: null,
        setBy: 'bob',
        setAt: 2,
      });
      expect(await sp.clearOverride('api')).toBe(true);
      expect(await sp.clearOverride('api')).toBe(false);
      expect((await sp.overrides()).size).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('keeps incidents with their updates, newest update first, linked to an internal incident', async () => {
    const store = await open();
    try {
      const sp = store.statusPage;
      const created = await sp.createIncident(
        {
          kind: 'incident',
          name: 'Errors on the API',
          status: 'investigating',
          impact: 'major',
          components: ['api'],
          internalIncidentId: 42,
          startedAt: 100,
          monitoringAt: null,
          resolvedAt: null,
          scheduledFor: null,
          scheduledUntil: null,
        },
        { status: 'investigating', body: 'Looking', affectedComponents: null },
        100,
      );
      expect(created.publicId).toMatch(/^[a-z0-9]{12}$/);
      expect(created.internalIncidentId).toBe(42);
      const resolved = await sp.addUpdate(
        created.id,
        { status: 'resolved', resolvedAt: 200 },
        {
          status: 'resolved',
          body: 'Fixed',
          affectedComponents: [
            { code: 'api', name: 'API', old_status: 'major_outage', new_status: 'operational' },
          ],
        },
        200,
      );
      expect(resolved).toMatchObject({
        status: 'resolved',
        resolvedAt: 200,
        updatedAt: 200,
        impact: 'major',
      });
      expect(resolved.updates.map((u) => u.body)).toEqual(['Fixed', 'Looking']);
      expect(resolved.updates[0]?.affectedComponents?.[0]?.new_status).toBe('operational');
      expect((await sp.incidentByPublicId(created.publicId))?.id).toBe(created.id);
      expect(await sp.listIncidents('incident', { statuses: ['investigating'] })).toEqual([]);
      expect((await sp.listIncidents('incident')).map((i) => i.id)).toEqual([created.id]);
      expect(await sp.listIncidents('maintenance')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('subscribes with a hashed confirmation token, confirms once, and unsubscribes', async () => {
    const store = await open();
    try {
      const sp = store.statusPage;
      const first = await sp.subscribe('email', 'ann@example.com', 1_000, 600_000);
      expect(first.confirmToken).toBeDefined();
      const token = first.confirmToken as string;
      // Only the hash is kept.
      const db = (
        store as unknown as {
          db: {
            selectFrom: (t: string) => {
              selectAll: () => { execute: () => Promise<Record<string, unknown>[]> };
            };
          };
        }
      ).db;
      const rows = await db.selectFrom('status_subscribers').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(token);
      expect(rows[0]?.confirm_hash).toBe(tokenHash(token));
      // Asked again too soon: nothing new to send.
      expect((await sp.subscribe('email', 'ann@example.com', 2_000, 600_000)).confirmToken).toBeUndefined();
      expect(await sp.subscriberAddress(first.subscriber.id)).toEqual({ email: 'ann@example.com' });
      expect(await sp.confirmedSubscribers()).toEqual([]);
      // Looking a token up (the link's GET) changes nothing.
      expect(await sp.pendingByConfirmToken(token)).toMatchObject({
        address: 'ann@example.com',
        state: 'pending',
      });
      expect(await sp.pendingByConfirmToken('nope')).toBeUndefined();
      expect(await sp.confirmedSubscribers()).toEqual([]);
      expect((await sp.confirm(token, 3_000))?.state).toBe('confirmed');
      expect(await sp.confirm(token, 3_000)).toBeUndefined();
      expect(await sp.pendingByConfirmToken(token)).toBeUndefined();
      expect((await sp.confirmedSubscribers()).map((s) => s.address)).toEqual(['ann@example.com']);
      expect((await sp.subscribe('email', 'ann@example.com', 700_000, 600_000)).confirmToken).toBeUndefined();
      const hook = await sp.subscribe('webhook', 'https://hooks.example.com/x', 3_000, 600_000);
      expect(await sp.subscriberAddress(hook.subscriber.id)).toEqual({
        webhook: 'https://hooks.example.com/x',
      });
      expect(await sp.subscriberCounts()).toEqual([
        { kind: 'email', state: 'confirmed', count: 1 },
        { kind: 'webhook', state: 'pending', count: 1 },
      ]);
      expect(await sp.pendingSince(0)).toBe(1);
      const unsubscribed = await sp.unsubscribe(first.subscriber.unsubscribeToken, 4_000);
      expect(unsubscribed?.state).toBe('unsubscribed');
      expect(await sp.unsubscribe('nope', 4_000)).toBeUndefined();
      expect(await sp.subscriberAddress(first.subscriber.id)).toBeUndefined();
      expect(await sp.confirmedSubscribers()).toEqual([]);
      // Subscribing again starts over with a new confirmation.
      const again = await sp.subscribe('email', 'ann@example.com', 5_000, 600_000);
      expect(again.confirmToken).toBeDefined();
      expect(again.subscriber.state).toBe('pending');
    } finally {
      await store.close();
    }
  });
});
