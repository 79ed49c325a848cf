import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres/postgres-store.js';
import { KEPT_SNAPSHOTS } from './query-snapshot-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';
import { PG_URL, testSchemas } from '../../test/support/postgres.js';

const schemas = testSchemas('sc_qsnap');

async function postgresStore(): Promise<Store> {
  const store = PostgresStore.open(PG_URL, { schema: await schemas.create() });
  await store.migrate();
  return store;
}

async function sqliteStore(): Promise<Store> {
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  return store;
}

afterAll(() => schemas.dropAll());

describe.each([
  ['SQLite', sqliteStore],
  ['PostgreSQL', postgresStore],
])('the query snapshot store on %s', (_name, open) => {
  it('keeps one snapshot per unit, version and database, replaced when recorded again', async () => {
    const store = await open();
    try {
      const snapshots = store.querySnapshots;
      const db = 'postgres://app:***@db/app';
      await snapshots.record({ unit: 'web', version: 'v1', target: db, takenAt: 1_000, data: { n: 1 } });
      await snapshots.record({ unit: 'web', version: 'v2', target: db, takenAt: 2_000, data: { n: 2 } });
      await snapshots.record({ unit: 'web', version: 'v2', target: db, takenAt: 3_000, data: { n: 3 } });
      await snapshots.record({ unit: 'web', version: 'v2', target: 'other', takenAt: 3_500, data: { n: 4 } });
      expect(await snapshots.find('web', 'v2', db)).toEqual({
        unit: 'web',
        version: 'v2',
        target: db,
        takenAt: 3_000,
        data: { n: 3 },
      });
      expect(await snapshots.find('web', 'v3', db)).toBeUndefined();
      expect(await snapshots.find('api', 'v2', db)).toBeUndefined();
      expect((await snapshots.previous('web', db, 'v2', 3_000))?.version).toBe('v1');
      expect(await snapshots.previous('web', db, 'v2', 1_000)).toBeUndefined();
      expect((await snapshots.previous('web', db, 'v3', 9_000))?.data).toEqual({ n: 3 });
    } finally {
      await store.close();
    }
  });

  it("keeps a unit's newest snapshots only", async () => {
    const store = await open();
    try {
      const snapshots = store.querySnapshots;
      for (let i = 0; i < KEPT_SNAPSHOTS + 5; i += 1) {
        await snapshots.record({ unit: 'web', version: `v${i}`, target: 'db', takenAt: i, data: {} });
      }
      await snapshots.record({ unit: 'api', version: 'v0', target: 'db', takenAt: 0, data: {} });
      expect(await snapshots.find('web', 'v4', 'db')).toBeUndefined();
      expect(await snapshots.find('web', 'v5', 'db')).toBeDefined();
      expect(await snapshots.find('web', `v${KEPT_SNAPSHOTS + 4}`, 'db')).toBeDefined();
      expect(await snapshots.find('api', 'v0', 'db')).toBeDefined();
    } finally {
      await store.close();
    }
  });
});
