import crypto from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { type Kysely, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../schema.js';
import { openStore } from '../open-store.js';
import { loseNextAcknowledgement, newRelease, runStoreContract } from '../store.case.js';
import type { NewEvent, ReleaseRow } from '../types.js';
import { PostgresStore, leaseBoundLimits } from './postgres-store.js';

const PG_URL = process.env.SHIPCHECK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';

async function reachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The advisory lock Kysely's migrator takes on PostgreSQL (kysely/dist/esm/dialect/postgres/postgres-adapter.js). */
const MIGRATION_LOCK_ID = '3853314791062309107';

/** A connection of the test's own, beside the store's, which it can lock tables and end backends with. */
interface Admin extends pg.Client {
  /** The store's schema. */
  schema: string;
  /** The application_name the store's connections carry, unique to the test. */
  app: string;
  /** Ends every connection of the store; resolves to how many there were. */
  terminate(): Promise<number>;
}

/** A PostgresStore in a fresh schema, its Kysely handle, and an admin connection beside it. */
async function freshStore(options: {
  statementTimeoutMs?: number;
  migrate?: boolean;
}): Promise<{ store: PostgresStore; db: Kysely<Database>; admin: Admin }> {
  const schema = `sc_store_${crypto.randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  const app = `shipcheck-store-${crypto.randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  const terminate = async (): Promise<number> => {
    await client.query('SELECT pg_stat_clear_snapshot()');
    return (
      (
        await client.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [app],
        )
      ).rowCount ?? 0
    );
  };
  const admin = Object.assign(client, { schema, app, terminate });
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${app}`;
  const { statementTimeoutMs } = options;
  const store = PostgresStore.open(url, { schema, ...(statementTimeoutMs ? { statementTimeoutMs } : {}) });
  if (options.migrate !== false) await store.migrate();
  const db = (store as unknown as { db: Kysely<Database> }).db;
  return { store, db, admin };
}

/** A setting as the store's connection sees it. */
async function setting(db: Kysely<Database>, name: string): Promise<string | undefined> {
  const { rows } = await sql<{ value: string }>`SELECT current_setting(${name}) AS value`.execute(db);
  return rows[0]?.value;
}

/** Polls before waitForLockWaiter gives up (a polling bound, not a timing assertion). */
const LOCK_WAITER_POLLS = 500;

/** Waits until a connection named `app` waits for a lock (a table lock or an advisory one). */
async function waitForLockWaiter(admin: pg.Client, app: string): Promise<void> {
  for (let i = 0; i < LOCK_WAITER_POLLS; i++) {
    // Inside a transaction pg_stat_activity keeps the snapshot it first read: take a new one each time.
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const { rowCount } = await admin.query(
      "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [app],
    );
    if ((rowCount ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no connection of ${app} ever waited for a lock`);
}

const problem = await reachable();
const schemas: string[] = [];

afterAll(async () => {
  if (problem !== undefined || schemas.length === 0) return;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('PostgreSQL store limits under a lease', () => {
  it('ends a write and all its retries well within the lease TTL', () => {
    expect(leaseBoundLimits(10_000)).toEqual({
      retryLimitMs: 3333,
      connectTimeoutMs: 3333,
      statementTimeoutMs: 3333,
    });
    for (const ttl of [3000, 5000, 10_000, 30_000, 60_000, 600_000]) {
      const limits = leaseBoundLimits(ttl);
      // The last try starts before the retry limit and lasts at most one connect or one statement
      const worst = limits.retryLimitMs + Math.max(limits.connectTimeoutMs, limits.statementTimeoutMs);
      expect(worst).toBeLessThanOrEqual((ttl * 2) / 3);
    }
    // Long TTLs keep the store's own limits
    expect(leaseBoundLimits(600_000)).toEqual({
      retryLimitMs: 30_000,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 10_000,
    });
  });
  it('stops trying a write again once its retry limit has passed', async () => {
    // A server that takes every connection and drops it at once, as a database going away would
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const store = PostgresStore.open(`postgres://shipcheck@127.0.0.1:${port}/none`, { retryLimitMs: 500 });
    try {
      const write = store.releaseLease('web', 'replica-a');
      await expect(write).rejects.toThrow(/Connection terminated|ECONNRESET/);
      // Tries at 0, 100 and 300 ms; the next would start past the limit (30 s of tries without it)
      expect(connections).toBeGreaterThanOrEqual(2);
      expect(connections).toBeLessThanOrEqual(4);
    } finally {
      await store.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe.runIf(problem !== undefined && REQUIRE_REAL)('PostgreSQL store (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(`PostgreSQL at ${PG_URL} is not reachable: ${problem}`);
  });
});

if (problem !== undefined && !REQUIRE_REAL) {
  console.warn(
    `SKIPPING the PostgreSQL store contract: PostgreSQL at ${PG_URL} is not reachable (${problem})`,
  );
} else if (problem === undefined) {
  // Every test gets a fresh schema, so the contract runs exactly as it does on a new SQLite file.
  runStoreContract('postgres', async () => {
    const schema = `sc_store_${crypto.randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const store = PostgresStore.open(PG_URL, { schema });
    await store.migrate();
    return store;
  });

  describe('PostgreSQL store', () => {
    it('migrates while other schemas of the database are dropped around it', async () => {
      // Given schemas of others, each with tables, that go away while stores migrate beside them
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      const others = Array.from({ length: 24 }, () => `sc_other_${crypto.randomBytes(5).toString('hex')}`);
      schemas.push(...others);
      for (const other of others) {
        await admin.query(`CREATE SCHEMA ${other}`);
        for (const table of ['a', 'b', 'c', 'd'])
          await admin.query(`CREATE TABLE ${other}.${table} (id int)`);
      }
      const stores = Array.from({ length: 4 }, () => {
        const schema = `sc_store_${crypto.randomBytes(5).toString('hex')}`;
        schemas.push(schema);
        return { schema, store: PostgresStore.open(PG_URL, { schema }) };
      });
      try {
        for (const { schema } of stores) await admin.query(`CREATE SCHEMA ${schema}`);
        // When they migrate while the other schemas are dropped one by one
        const dropping = (async () => {
          for (const other of others) await admin.query(`DROP SCHEMA ${other} CASCADE`);
        })();
        const migrated = await Promise.allSettled(stores.map(({ store }) => store.migrate()));
        await dropping;
        // Then every migration succeeds: a catalog look-up that met a vanishing schema is tried again
        expect(migrated.filter((result) => result.status === 'rejected')).toEqual([]);
        for (const { store } of stores) expect(await store.getService('web')).toBeUndefined();
      } finally {
        for (const { store } of stores) await store.close();
        await admin.end();
      }
    });

    it('survives its connections being ended, in use or idle, and goes on on new ones', async () => {
      const schema = `sc_store_${crypto.randomBytes(5).toString('hex')}`;
      schemas.push(schema);
      const app = `shipcheck-store-${crypto.randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const terminate = async (): Promise<number> =>
        (
          await admin.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
            [app],
          )
        ).rowCount ?? 0;
      const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${app}`;
      const store = PostgresStore.open(url, { schema });
      try {
        await store.migrate();
        const db = (store as unknown as { db: Kysely<Database> }).db;
        // A connection checked out for a transaction, idle between two statements, is ended under it:
        // its client emits 'error' with no query to hand it to, which must not bring the process down.
        const inTransaction = db.transaction().execute(async (tx) => {
          await sql`SELECT 1`.execute(tx);
          expect(await terminate()).toBeGreaterThan(0);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await sql`SELECT 1`.execute(tx);
        });
        await expect(inTransaction).rejects.toThrow();
        // Idle pooled connections ended too; the next write reconnects (and is retried if it must be).
        await terminate();
        const release = await store.createRelease(newRelease('web', 'v1'));
        await terminate();
        const moved = await store.updateRelease(release.id, { weight: 20 }, 2000);
        expect(moved.weight).toBe(20);
        expect((await store.getRelease(release.id))?.weight).toBe(20);
      } finally {
        await store.close();
        await admin.end();
      }
    });

    it('cancels a statement held up past its limit with a clear error instead of waiting', async () => {
      // Given a store whose statements may run 500 ms, and a table another client keeps locked
      const { store, db, admin } = await freshStore({ statementTimeoutMs: 500 });
      try {
        expect(await setting(db, 'statement_timeout')).toBe('500ms');
        // The URL names the application; without it, the store's connections show as shipcheck
        expect(await setting(db, 'application_name')).toBe(admin.app);
        const unnamed = PostgresStore.open(PG_URL);
        const unnamedDb = (unnamed as unknown as { db: Kysely<Database> }).db;
        expect(await setting(unnamedDb, 'application_name').finally(() => unnamed.close())).toBe('shipcheck');
        const release = await store.createRelease(newRelease('web', 'v1'));
        // When a statement sleeps, or waits for the lock, longer than that
        const slept = sql`SELECT pg_sleep(60)`.execute(db);
        await admin.query('BEGIN');
        await admin.query(`LOCK TABLE ${admin.schema}.releases IN ACCESS EXCLUSIVE MODE`);
        const read = store.getRelease(release.id);
        // Then PostgreSQL cancels each, and the caller gets its error (not a connection error, not retried)
        const timedOut = { code: '57014', message: expect.stringMatching(/statement timeout/) };
        await expect(slept).rejects.toMatchObject(timedOut);
        await expect(read).rejects.toMatchObject(timedOut);
        await admin.query('ROLLBACK');
        // And the store goes on once the lock is let go
        expect((await store.getRelease(release.id))?.version).toBe('v1');
      } finally {
        await admin.query('ROLLBACK').catch(() => undefined);
        await store.close();
        await admin.end();
      }
    });

    it('migrates under a longer limit, then gives the connection back with the short one', async () => {
      // Given a store whose statements may run 500 ms, and another migrator holding the migration lock
      const { store, db, admin } = await freshStore({ statementTimeoutMs: 500, migrate: false });
      try {
        await admin.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        // When this store migrates, it waits for that lock longer than a statement may run
        const migrated = store.migrate().then(
          () => 'migrated',
          (err: unknown) => err,
        );
        await waitForLockWaiter(admin, admin.app);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await admin.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
        // Then the migration is not cancelled, and every pooled connection has the short limit again
        expect(await migrated).toBe('migrated');
        expect((await store.createRelease(newRelease('web', 'v1'))).version).toBe('v1');
        const limits = await Promise.all(Array.from({ length: 3 }, () => setting(db, 'statement_timeout')));
        expect(limits).toEqual(['500ms', '500ms', '500ms']);
      } finally {
        await admin.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
        await store.close();
        await admin.end();
      }
    });

    it('retries a write whose connection is ended while it waits, and the write lands', async () => {
      // Given a write held up by a lock another client keeps on its table
      const { store, admin } = await freshStore({});
      try {
        const release = await store.createRelease(newRelease('web', 'v1'));
        await admin.query('BEGIN');
        await admin.query(`LOCK TABLE ${admin.schema}.releases IN ACCESS EXCLUSIVE MODE`);
        const moved = store.updateRelease(release.id, { weight: 20 }, 2000);
        await waitForLockWaiter(admin, admin.app);
        // When its connection is ended under it (a failover, an operator's pg_terminate_backend)
        expect(await admin.terminate()).toBeGreaterThan(0);
        // Then the store tries it again on a new connection, which waits for the lock in its turn
        await waitForLockWaiter(admin, admin.app);
        await admin.query('ROLLBACK');
        expect((await moved).weight).toBe(20);
        expect((await store.getRelease(release.id))?.weight).toBe(20);
      } finally {
        await admin.query('ROLLBACK').catch(() => undefined);
        await store.close();
        await admin.end();
      }
    });

    it('retries a write whose commit was not acknowledged, and the write is applied once', async () => {
      // Given a store whose writes each commit and then report a dropped connection, once
      const { store, admin } = await freshStore({});
      const dropped = (): Error =>
        Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      const announce = (release: ReleaseRow): NewEvent => ({
        service: 'web',
        releaseId: release.id,
        at: release.updatedAt,
        type: 'release.weight',
        message: `weight ${release.weight}%`,
        data: {},
      });
      try {
        // When the store's own retry runs each write again on a new connection
        loseNextAcknowledgement(store, dropped());
        const created = await store.createReleaseWithEvent(newRelease('web', 'v1'), announce, 'deploy-1');
        loseNextAcknowledgement(store, dropped());
        const moved = await store.updateReleaseWithEvent(created.release.id, { weight: 10 }, 2000, announce);
        loseNextAcknowledgement(store, dropped());
        await store.addEvent({
          service: 'web',
          releaseId: null,
          at: 3,
          type: 'note',
          message: 'n',
          data: {},
        });
        // Then each was applied once: one release, one event per write
        expect(moved.release.weight).toBe(10);
        const { rows } = await admin.query<{ type: string }>(
          `SELECT type FROM ${admin.schema}.events ORDER BY id`,
        );
        expect(rows.map((r) => r.type)).toEqual(['release.weight', 'release.weight', 'note']);
        expect(await store.listReleases('web', 10)).toHaveLength(1);
        expect(created.event?.releaseId).toBe(created.release.id);
      } finally {
        await store.close();
        await admin.end();
      }
    });

    it('leaves a release unchanged when its connection closes between the transition and its event', async () => {
      // Given a release, and the events table held in a mode that lets reads through but makes inserts wait
      const { store, admin } = await freshStore({});
      try {
        const release = await store.createRelease(newRelease('web', 'v1'));
        await admin.query('BEGIN');
        await admin.query(`LOCK TABLE ${admin.schema}.events IN SHARE MODE`);
        const announce = (r: ReleaseRow): NewEvent => ({
          service: 'web',
          releaseId: r.id,
          at: 2000,
          type: 'release.weight',
          message: `weight ${r.weight}%`,
          data: {},
        });
        const moved = store.updateReleaseWithEvent(
          release.id,
          { phase: 'canary', weight: 10 },
          2000,
          announce,
        );
        // When the transition has updated the release and waits to insert its event
        await waitForLockWaiter(admin, admin.app);
        await admin.query('SAVEPOINT probe');
        await expect(
          admin.query(`SELECT 1 FROM ${admin.schema}.releases WHERE id = $1 FOR UPDATE NOWAIT`, [release.id]),
        ).rejects.toMatchObject({ code: '55P03' });
        await admin.query('ROLLBACK TO SAVEPOINT probe');
        // And its connection is closed under it
        expect(await admin.terminate()).toBeGreaterThan(0);
        // Then the release is as it was, with no event: the update went with the transaction
        await waitForLockWaiter(admin, admin.app);
        const seen = await admin.query<{ weight: number; phase: string }>(
          `SELECT weight, phase FROM ${admin.schema}.releases WHERE id = $1`,
          [release.id],
        );
        expect(seen.rows).toEqual([{ weight: 0, phase: 'starting' }]);
        expect((await admin.query(`SELECT 1 FROM ${admin.schema}.events`)).rowCount).toBe(0);
        // And the store's retry, once the table is free, writes both once
        await admin.query('ROLLBACK');
        expect((await moved).release).toMatchObject({ phase: 'canary', weight: 10 });
        expect(await store.listEvents({ releaseId: release.id, limit: 10 })).toHaveLength(1);
      } finally {
        await admin.query('ROLLBACK').catch(() => undefined);
        await store.close();
        await admin.end();
      }
    });

    it('reports an unreachable server with the URL and the reason, without the password', async () => {
      await expect(openStore('postgres://shipcheck:secret@127.0.0.1:9/nope')).rejects.toThrow(
        /^store postgres:\/\/shipcheck:\*\*\*@127\.0\.0\.1:9\/nope: cannot use PostgreSQL \(ECONNREFUSED\)$/,
      );
    });
  });
}
