import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, Migrator, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { CodeMigrationProvider } from '../migrations/index.js';
import type { Database } from '../schema.js';
import { newRelease, runStoreContract } from '../store.case.js';
import { SqliteStore } from './sqlite-store.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-sqlite-'));
let n = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

runStoreContract('sqlite', async () => {
  const store = SqliteStore.open(path.join(dir, `state-${n++}.db`));
  await store.migrate();
  return store;
});

describe('SqliteStore', () => {
  it('keeps committed transitions across a reopen of the file', async () => {
    const file = path.join(dir, 'reopen', 'state.db');
    const a = SqliteStore.open(file);
    await a.migrate();
    const r = await a.createRelease(newRelease('web', 'v2'));
    await a.updateRelease(r.id, { phase: 'canary', weight: 10 }, 2000);
    await a.close();
    const b = SqliteStore.open(file);
    await b.migrate();
    expect(await b.activeRelease('web')).toMatchObject({ version: 'v2', phase: 'canary', weight: 10 });
    await b.close();
  });

  it('keeps the rows of a store written before idempotency keys, and keys new writes', async () => {
    // Given a store at the migration before keys, with a release and an event written then
    const store = SqliteStore.open(path.join(dir, 'upgrade', 'state.db'));
    const db = (store as unknown as { db: Kysely<Database> }).db;
    const migrator = new Migrator({ db, provider: new CodeMigrationProvider('sqlite') });
    expect((await migrator.migrateTo('005_security')).error).toBeUndefined();
    const at = 1000;
    await sql`INSERT INTO releases (service, version, kind, state, phase, step, weight, step_started_at,
      phase_started_at, created_at, updated_at, active)
      VALUES ('web', 'v1', 'deploy', 'progressing', 'starting', 0, 0, ${at}, ${at}, ${at}, ${at}, 1)`.execute(
      db,
    );
    await sql`INSERT INTO events (service, release_id, at, type, message, data)
      VALUES ('web', 1, ${at}, 'release.created', 'old', '{}')`.execute(db);
    // When it is migrated to the latest schema
    await store.migrate();
    // Then the old rows read as before, and new writes go on beside them
    const old = await store.activeRelease('web');
    expect(old).toMatchObject({ id: 1, version: 'v1' });
    const moved = await store.updateReleaseWithEvent(1, { weight: 10 }, 2000, (r) => ({
      service: 'web',
      releaseId: r.id,
      at: 2000,
      type: 'release.weight',
      message: 'new',
      data: {},
    }));
    expect(moved.release.weight).toBe(10);
    await store.addEvent({
      service: 'web',
      releaseId: null,
      at: 3000,
      type: 'note',
      message: 'another',
      data: {},
    });
    expect((await store.listEvents({ limit: 10 })).map((e) => e.message)).toEqual(['old', 'new', 'another']);
    await store.close();
  });
});
