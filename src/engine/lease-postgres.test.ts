import crypto from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../test/support/postgres.js';
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { LeaseLocks } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { Lease, SESSION_PROOF_MS, TAKEOVER_WAIT_MS } from './lease.js';

const TTL = 10_000;
/** How far the clock moves between two looks of the follower: its own poll interval. */
const POLL_MS = 500;
/** The step of a clock that follows real time. */
const STEP_MS = 100;

const pgProblem = await probePostgres();
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the lease's PostgreSQL tests: ${unreachableMessage(pgProblem)}`);

/** A replica as far as leases go: its own store (pool and lock session) in the test's schema. */
interface Replica {
  store: PostgresStore;
  lease: Lease;
  /** Its session locks, when it keeps them. */
  locks: LeaseLocks | undefined;
  /** The application_name of its connections, to end them from outside. */
  app: string;
}

/** Two or more replicas' leases on unit `web` over one fresh schema, on one clock the test moves. */
class Rig {
  readonly clock = new ManualClock(1_000_000);
  readonly schema = `sc_lease_${crypto.randomBytes(5).toString('hex')}`;
  readonly admin = new pg.Client({ connectionString: PG_URL });
  readonly replicas: Replica[] = [];
  proxy: TcpProxy | undefined;

  async start(): Promise<void> {
    await this.admin.connect();
    await this.admin.query(`CREATE SCHEMA ${this.schema}`);
  }

  /** A replica named `holder`; with `viaProxy`, its connections go through a proxy the test can cut. */
  async replica(holder: string, options: { viaProxy?: boolean; locks?: boolean } = {}): Promise<Replica> {
    const app = `shipcheck-lease-${holder}-${crypto.randomBytes(3).toString('hex')}`;
    let base = PG_URL;
    if (options.viaProxy) {
      const target = new URL(PG_URL);
      this.proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
      target.host = `127.0.0.1:${this.proxy.port}`;
      base = target.href;
    }
    const url = `${base}${base.includes('?') ? '&' : '?'}application_name=${app}`;
    const store = PostgresStore.open(url, { schema: this.schema });
    await store.migrate();
    const logger = pino({ level: 'silent' });
    const locks = options.locks === false ? undefined : store.openLeaseLocks(this.clock);
    const lease = new Lease({
      store,
      name: 'web',
      holder,
      ttlMs: TTL,
      clock: this.clock,
      logger,
      ...(locks ? { locks } : {}),
    });
    const replica = { store, lease, locks, app };
    this.replicas.push(replica);
    return replica;
  }

  /** Ends every connection of `replica` from the server's side, as when its process dies. */
  async terminate(replica: Replica): Promise<number> {
    const { rowCount } = await this.admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [replica.app],
    );
    return rowCount ?? 0;
  }

  /** Ends only the session that holds `replica`'s advisory locks. */
  async terminateLockSession(replica: Replica): Promise<number> {
    const { rowCount } = await this.admin.query(
      `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
        WHERE a.application_name = $1
          AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory')`,
      [replica.app],
    );
    return rowCount ?? 0;
  }

  /** The lease row as the database has it, read on the test's own connection. */
  async lease(): Promise<{ holder: string; epoch: number; lockEpoch: number | null }> {
    const { rows } = await this.admin.query<{ holder: string; epoch: number; lock_epoch: number | null }>(
      `SELECT holder, epoch, lock_epoch FROM ${this.schema}.leases WHERE name = 'web'`,
    );
    const row = rows[0]!;
    return { holder: row.holder, epoch: Number(row.epoch), lockEpoch: row.lock_epoch };
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    for (const r of this.replicas) await r.store.close().catch(() => undefined);
    await this.admin.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    await this.admin.end();
  }
}

/** Waits (real time) until `check` holds. */
async function until(what: string, check: () => boolean | Promise<boolean>, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never reached: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)('Lease over PostgreSQL (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(unreachableMessage(pgProblem));
  });
});

describe.runIf(pgProblem === undefined)('Lease with a session lock on PostgreSQL', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.close();
  });

  it('lets a follower take over well before the TTL once the holder is killed, and act only after the wait', async () => {
    rig = new Rig();
    await rig.start();
    const a = await rig.replica('a');
    const b = await rig.replica('b');
    // Given a holding the lease, bound to its session lock, and b asking in vain
    expect(await a.lease.check()).toBe(true);
    expect(await rig.lease()).toEqual({ holder: 'a', epoch: 1, lockEpoch: 1 });
    rig.clock.advance(POLL_MS);
    expect(await b.lease.check()).toBe(false);
    // When a's process dies: its sessions end (it never checks again)
    const killedAt = rig.clock.now();
    expect(await rig.terminate(a)).toBeGreaterThan(0);
    // Then b, asking every half second, finds the session lock free and takes the lease over
    await until('b takes the lease over', async () => {
      rig.clock.advance(POLL_MS);
      await b.lease.check();
      return (await rig.lease()).holder === 'b';
    });
    expect(await rig.lease()).toEqual({ holder: 'b', epoch: 2, lockEpoch: 2 });
    const tookAt = rig.clock.now();
    // And acts only once the old holder's last proof has surely lapsed
    expect(await b.lease.check()).toBe(false);
    expect(b.lease.stillHeld()).toBe(false);
    rig.clock.advance(TAKEOVER_WAIT_MS - 1);
    expect(await b.lease.check()).toBe(false);
    rig.clock.advance(1);
    expect(await b.lease.check()).toBe(true);
    expect(b.lease.stillHeld()).toBe(true);
    // Well before the TTL: by the clock, not by wall time
    expect(rig.clock.now() - killedAt).toBeLessThan(TTL / 4);
    expect(rig.clock.now() - tookAt).toBe(TAKEOVER_WAIT_MS);
    // And the old holder, had it lived, would have stopped acting at once
    expect(a.lease.stillHeld()).toBe(false);
    expect(await a.lease.check()).toBe(false);
  });

  it('stops the holder at once when its lock session ends, and lets it resume when nobody took over', async () => {
    rig = new Rig();
    await rig.start();
    const a = await rig.replica('a');
    expect(await a.lease.check()).toBe(true);
    expect(a.lease.stillHeld()).toBe(true);
    // When only its lock session is ended (an operator, a pooler in between)
    expect(await rig.terminateLockSession(a)).toBe(1);
    // Then it stops acting as soon as the session's end reaches it, without the clock moving
    await until('a notices', () => !a.lease.stillHeld());
    expect(await a.lease.check()).toBe(false);
    // And, as nobody took the unit, it takes its lock again on a new session and goes on in the same epoch
    expect(await a.lease.check()).toBe(true);
    expect(await rig.lease()).toEqual({ holder: 'a', epoch: 1, lockEpoch: 1 });
  });

  it('stops a holder cut off from the database, and the follower acts only after it stopped', async () => {
    rig = new Rig();
    await rig.start();
    const a = await rig.replica('a', { viaProxy: true });
    const b = await rig.replica('b');
    expect(await a.lease.check()).toBe(true);
    rig.clock.advance(POLL_MS);
    expect(await b.lease.check()).toBe(false);
    // When the network between a and the database is cut: nothing is closed, bytes just stop
    rig.proxy!.freeze();
    const cutAt = rig.clock.now();
    // Then the clock runs on (about as fast as real time) and each side looks as it would
    let aStoppedAt: number | undefined;
    let bActsAt: number | undefined;
    // The clock moves by 100 ms after at least 100 ms of real time, so it never runs ahead of the
    // server's own timers.
    for (let step = 0; bActsAt === undefined; step++) {
      if (step > 300) throw new Error('b never acted');
      await new Promise((resolve) => setTimeout(resolve, STEP_MS));
      rig.clock.advance(STEP_MS);
      if (aStoppedAt === undefined && !a.lease.stillHeld()) aStoppedAt = rig.clock.now();
      if (await b.lease.check()) bActsAt = rig.clock.now();
      // The follower never acts while the holder may still act
      if (bActsAt !== undefined) expect(a.lease.stillHeld()).toBe(false);
    }
    // a stopped once its last proof of the session was older than SESSION_PROOF_MS
    expect(aStoppedAt).toBeDefined();
    expect(aStoppedAt! - cutAt).toBeLessThanOrEqual(SESSION_PROOF_MS + 200);
    // b acted after it, at least TAKEOVER_WAIT_MS after it took the lock, and before the TTL: the
    // server ended a's silent session (idle_session_timeout) and let its lock go
    expect(bActsAt! - aStoppedAt!).toBeGreaterThanOrEqual(TAKEOVER_WAIT_MS - SESSION_PROOF_MS);
    // (PostgreSQL 14 and later; an older server ends the session only by its TCP keepalive, and b may
    // then take the lease at its expiry instead)
    const { rows } = await rig.admin.query<{ v: string }>('SHOW server_version_num');
    if (Number(rows[0]?.v) >= 140000) expect(bActsAt! - cutAt).toBeLessThan(TTL);
    expect(await rig.lease()).toMatchObject({ holder: 'b', epoch: 2 });
    // And a, still cut off, does not act: it cannot prove its session
    expect(await a.lease.check()).toBe(false);
  });

  it('proves its session with a heartbeat begun now, not with one begun before the proof was due', async () => {
    rig = new Rig();
    await rig.start();
    const a = await rig.replica('a');
    expect(await a.lease.check()).toBe(true);
    // Given a heartbeat under way when the last proof grows too old (the clock moves while it waits)
    const running = a.locks!.prove(5_000);
    rig.clock.advance(SESSION_PROOF_MS + STEP_MS);
    expect(a.lease.stillHeld()).toBe(false);
    // Then the holder's check does not take that heartbeat's old answer as a proof, and runs another
    expect(await a.lease.check()).toBe(true);
    expect(await running).toBe(true);
    expect(a.lease.stillHeld()).toBe(true);
  });

  it('waits for the TTL while the holder keeps its session lock but cannot renew', async () => {
    rig = new Rig();
    await rig.start();
    const a = await rig.replica('a');
    const b = await rig.replica('b');
    expect(await a.lease.check()).toBe(true);
    const renewedAt = rig.clock.now();
    // When a's renewals fail (its pool cannot reach the database) while its lock session lives on
    a.store.acquireLease = () => Promise.reject(new Error('Connection terminated unexpectedly'));
    // Then b cannot prove a gone, and gets nothing while a may still act on its last renewal
    let aActed = true;
    while (rig.clock.now() - renewedAt < TTL * 0.8 - POLL_MS) {
      rig.clock.advance(POLL_MS);
      aActed = await a.lease.check();
      expect(aActed).toBe(true);
      expect(await b.lease.check()).toBe(false);
    }
    // Once a stops acting (80% of the TTL since its renewal), it lets its lock go, and b proves it gone
    rig.clock.set(renewedAt + TTL * 0.8);
    expect(await a.lease.check()).toBe(false);
    rig.clock.advance(POLL_MS);
    expect(await b.lease.check()).toBe(false);
    expect(await rig.lease()).toMatchObject({ holder: 'b', epoch: 2 });
    rig.clock.advance(TAKEOVER_WAIT_MS);
    expect(await b.lease.check()).toBe(true);
    expect(rig.clock.now() - renewedAt).toBeLessThan(TTL);
  });

  it('never takes a lease over from a holder that keeps no session lock', async () => {
    rig = new Rig();
    await rig.start();
    // A holder without session locks (SQLite's kind of lease, or an older replica in a rolling upgrade)
    const a = await rig.replica('a', { locks: false });
    const b = await rig.replica('b');
    expect(await a.lease.check()).toBe(true);
    expect(await rig.lease()).toEqual({ holder: 'a', epoch: 1, lockEpoch: null });
    // The lock is free, but the row does not say the holder keeps it: b waits for the expiry
    for (let i = 0; i < 5; i++) {
      rig.clock.advance(POLL_MS);
      expect(await b.lease.check()).toBe(false);
    }
    expect(await rig.lease()).toEqual({ holder: 'a', epoch: 1, lockEpoch: null });
    rig.clock.advance(TTL);
    expect(await b.lease.check()).toBe(true);
    expect(await rig.lease()).toEqual({ holder: 'b', epoch: 2, lockEpoch: 2 });
  });
});
