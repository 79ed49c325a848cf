import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PG_URL,
  REQUIRE_REAL,
  probePostgres,
  testSchemas,
  unreachableMessage,
} from '../../test/support/postgres.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000;

function runOnCallStoreSuite(name: string, open: () => Promise<Store>): void {
  describe(`on-call overrides: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('adds overrides and lists those in effect in a range, of one schedule or all', async () => {
      const first = await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'ana',
          startsAt: NOW,
          endsAt: NOW + 8 * HOUR,
          reason: 'swap with bo',
          createdBy: 'admin',
        },
        NOW - HOUR,
      );
      expect(first).toEqual({
        id: first.id,
        schedule: 'primary',
        user: 'ana',
        startsAt: NOW,
        endsAt: NOW + 8 * HOUR,
        reason: 'swap with bo',
        createdBy: 'admin',
        createdAt: NOW - HOUR,
        removedBy: null,
        removedAt: null,
      });
      await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'bo',
          startsAt: NOW + 24 * HOUR,
          endsAt: NOW + 30 * HOUR,
          reason: null,
          createdBy: 'admin',
        },
        NOW,
      );
      await store.oncall.addOverride(
        {
          schedule: 'secondary',
          user: 'cy',
          startsAt: NOW + 2 * HOUR,
          endsAt: NOW + 3 * HOUR,
          reason: null,
          createdBy: 'ana',
        },
        NOW,
      );
      expect((await store.oncall.overrides('primary', NOW, NOW + 48 * HOUR)).map((o) => o.user)).toEqual([
        'ana',
        'bo',
      ]);
      // Ends at the start of the range, or starts at its end: not in it.
      expect(await store.oncall.overrides('primary', NOW + 8 * HOUR, NOW + 24 * HOUR)).toEqual([]);
      expect((await store.oncall.overrides(undefined, NOW, NOW + 48 * HOUR)).map((o) => o.user)).toEqual([
        'ana',
        'cy',
        'bo',
      ]);
      expect(await store.oncall.getOverride(first.id)).toEqual(first);
      expect(await store.oncall.getOverride(first.id + 100)).toBeUndefined();
    });

    it('removes an override once: it stops counting and keeps its row', async () => {
      const added = await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'ana',
          startsAt: NOW,
          endsAt: NOW + HOUR,
          reason: null,
          createdBy: 'admin',
        },
        NOW,
      );
      expect(await store.oncall.removeOverride(added.id, 'bo', NOW + 1)).toBe(true);
      expect(await store.oncall.removeOverride(added.id, 'bo', NOW + 2)).toBe(false);
      expect(await store.oncall.removeOverride(added.id + 1, 'bo', NOW + 2)).toBe(false);
      expect(await store.oncall.overrides('primary', NOW, NOW + HOUR)).toEqual([]);
      expect(await store.oncall.getOverride(added.id)).toMatchObject({ removedBy: 'bo', removedAt: NOW + 1 });
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-oncall-store-'));
let files = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

runOnCallStoreSuite('sqlite', async () => {
  const store = SqliteStore.open(path.join(dir, `state-${files++}.db`));
  await store.migrate();
  return store;
});

const problem = await probePostgres();
const schemas = testSchemas('sc_oncall');
afterAll(() => (problem === undefined ? schemas.dropAll() : undefined));

describe.runIf(problem !== undefined && REQUIRE_REAL)('on-call overrides on PostgreSQL (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(unreachableMessage(problem));
  });
});

if (problem !== undefined && !REQUIRE_REAL) {
  console.warn(`SKIPPING on-call overrides on PostgreSQL: ${unreachableMessage(problem)}`);
} else if (problem === undefined) {
  runOnCallStoreSuite('postgres', async () => {
    const store = PostgresStore.open(PG_URL, { schema: await schemas.create() });
    await store.migrate();
    return store;
  });
}
