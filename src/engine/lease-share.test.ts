import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { newRelease } from '../store/store.case.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { ReleaseRow, Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { Lease } from './lease.js';
import { LeaseShare } from './lease-share.js';

const TTL = 6000;
/** The engine checks its lease once per reconcile pass, every 200 ms. */
const TICK = 200;
const UNITS = 60;
/** Bound on the simulated time any spread may take to settle, far above what it needs. */
const SETTLE_LIMIT = 10 * TTL;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-lease-share-'));
let n = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const silent = pino({ level: 'silent' });
const units = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `web@env-${String(i).padStart(2, '0')}`);

/** One simulated replica: a LeaseShare and a Lease per unit, checked as the engine checks them. */
interface Replica {
  id: string;
  share: LeaseShare;
  leases: Lease[];
  /** What each lease's last check answered: whether this replica acts on the unit (the engine's `leading`). */
  acting: Map<string, boolean>;
  /** How many of its units have started, in order: the control plane starts them one after another. */
  begun: number;
  state: 'up' | 'killed' | 'left';
}

/** Replicas on one store with one clock, moved a tick at a time, watching that no unit has two drivers. */
class Replicas {
  readonly members = new Map<string, Replica>();
  /** The longest a unit went without a holder: nobody acting on it and no unexpired lease row. */
  longestUnheld = 0;
  private readonly unheldSince = new Map<string, number>();

  private constructor(
    readonly store: Store,
    readonly clock: ManualClock,
    readonly names: string[],
  ) {}

  static async create(count = UNITS): Promise<Replicas> {
    const store = SqliteStore.open(path.join(dir, `state-${n++}.db`));
    await store.migrate();
    return new Replicas(store, new ManualClock(1_000_000), units(count));
  }

  /** A replica that starts all its units at once, or with `oneByOne` one unit per tick. */
  join(id: string, logger: Logger = silent, options: { oneByOne?: boolean } = {}): Replica {
    const { store, clock } = this;
    const share = new LeaseShare({ store, replica: id, ttlMs: TTL, clock, logger });
    const leases = this.names.map(
      (name) => new Lease({ store, name, holder: id, ttlMs: TTL, clock, logger, share }),
    );
    const begun = options.oneByOne ? 0 : leases.length;
    const replica: Replica = { id, share, leases, acting: new Map(), begun, state: 'up' };
    this.members.set(id, replica);
    return replica;
  }

  /** kill -9: the replica stops checking, renewing and beating, and lets nothing go. */
  kill(id: string): void {
    this.members.get(id)!.state = 'killed';
  }

  /** A graceful shutdown, as the control plane's close runs it. */
  async leave(id: string): Promise<void> {
    const replica = this.members.get(id)!;
    await replica.share.leave();
    for (const lease of replica.leases) await lease.release();
    replica.state = 'left';
  }

  up(): Replica[] {
    return [...this.members.values()].filter((r) => r.state === 'up');
  }

  /** One engine tick on every live replica. */
  async tick(): Promise<void> {
    this.clock.advance(TICK);
    for (const replica of this.up()) {
      replica.begun = Math.min(replica.leases.length, replica.begun + 1);
      for (const lease of replica.leases.slice(0, replica.begun))
        replica.acting.set(lease.name, await lease.check());
    }
    await this.watch();
  }

  /** Units each live replica acts on. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.up().map((r) => [r.id, [...r.acting.values()].filter(Boolean).length]));
  }

  /** Every unit driven by exactly one live replica, none of them above the fair share plus one. */
  settled(): boolean {
    const fair = Math.ceil(this.names.length / this.up().length);
    const counts = Object.values(this.counts());
    const total = counts.reduce((a, b) => a + b, 0);
    return total === this.names.length && counts.every((c) => c <= fair + 1);
  }

  /** Ticks until settled; returns the simulated time it took. */
  async settle(): Promise<number> {
    const start = this.clock.now();
    while (!this.settled()) {
      if (this.clock.now() - start > SETTLE_LIMIT)
        throw new Error(`not settled after ${SETTLE_LIMIT} ms: ${JSON.stringify(this.counts())}`);
      await this.tick();
    }
    return this.clock.now() - start;
  }

  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) await this.tick();
  }

  /** How many times the units have changed hands in all. */
  async handOvers(): Promise<number> {
    const rows = await this.store.listLeases();
    return rows.reduce((sum, l) => sum + l.epoch - 1, 0);
  }

  /** Who holds each unit in the store now. */
  async holders(): Promise<Map<string, string>> {
    const now = this.clock.now();
    const rows = await this.store.listLeases();
    return new Map(rows.filter((l) => l.expiresAt > now).map((l) => [l.name, l.holder]));
  }

  private async watch(): Promise<void> {
    const now = this.clock.now();
    const holders = await this.holders();
    for (const name of this.names) {
      const drivers = this.up().filter((r) => r.acting.get(name));
      expect(drivers.length, `${name} is driven by ${drivers.map((r) => r.id).join(' and ')}`).toBeLessThan(
        2,
      );
      const driver = drivers[0];
      // A replica acts only under its own unexpired lease.
      if (driver) expect(holders.get(name)).toBe(driver.id);
      if (driver || holders.has(name)) {
        this.unheldSince.delete(name);
      } else {
        const since = this.unheldSince.get(name) ?? now;
        this.unheldSince.set(name, since);
        this.longestUnheld = Math.max(this.longestUnheld, now - since + TICK);
      }
    }
  }
}

describe('LeaseShare', () => {
  it('spreads the units over replicas that join one after another, and then leaves them be', async () => {
    const sim = await Replicas.create();
    sim.join('a');
    await sim.settle();
    expect(sim.counts()).toEqual({ a: 60 });

    sim.join('b');
    await sim.settle();
    for (const count of Object.values(sim.counts())) expect(count).toBeLessThanOrEqual(31);

    sim.join('c');
    await sim.settle();
    const counts = Object.values(sim.counts());
    for (const count of counts) expect(count).toBeLessThanOrEqual(21);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60);

    // Settled means settled: for five TTLs no lease changes hands, and every unit keeps its holder.
    const before = await sim.holders();
    await sim.run(5 * TTL);
    expect(await sim.holders()).toEqual(before);
    expect(sim.longestUnheld).toBeLessThan(TTL);
    await sim.store.close();
  });

  it("spreads a killed replica's units over the survivors once its leases expire", async () => {
    const sim = await Replicas.create();
    for (const id of ['a', 'b', 'c']) sim.join(id);
    await sim.settle();
    const killed = (await sim.holders()).values().next().value!;
    const lastRenewal = Math.max(
      ...(await sim.store.listLeases()).filter((l) => l.holder === killed).map((l) => l.expiresAt - TTL),
    );

    // When one replica stops renewing without letting go (kill -9)
    sim.kill(killed);
    await sim.settle();

    // Then the other two hold all 60 once its leases have expired, each within its fair share plus one
    expect(sim.clock.now()).toBeGreaterThanOrEqual(lastRenewal + TTL);
    const counts = sim.counts();
    expect(Object.keys(counts)).toHaveLength(2);
    for (const count of Object.values(counts)) expect(count).toBeLessThanOrEqual(31);
    expect(new Set((await sim.holders()).values())).toEqual(new Set(Object.keys(counts)));
    // And no unit went without a holder for as long as a TTL
    expect(sim.longestUnheld).toBeLessThan(TTL);
    await sim.run(3 * TTL);
    expect(sim.settled()).toBe(true);
    await sim.store.close();
  });

  it('gives a replica that starts its units one by one its share once they have all started', async () => {
    const sim = await Replicas.create();
    sim.join('a');
    await sim.settle();
    // Sixty ticks to start every unit: two TTLs, during which a unit given to it would have no holder.
    sim.join('b', silent, { oneByOne: true });
    await sim.settle();
    expect(sim.counts()).toEqual({ a: 30, b: 30 });
    expect(sim.longestUnheld).toBeLessThan(TTL);
    // Thirty units changed hands, each once: none went back and forth.
    await sim.run(3 * TTL);
    expect(await sim.handOvers()).toBe(30);
    await sim.store.close();
  });

  it('hands a replica that shuts down gracefully its units over at once', async () => {
    const sim = await Replicas.create();
    for (const id of ['a', 'b', 'c']) sim.join(id);
    await sim.settle();
    await sim.leave('c');
    const took = await sim.settle();
    // Well before any of c's leases could have expired.
    expect(took).toBeLessThan(TTL / 2);
    expect(Object.keys(sim.counts()).sort()).toEqual(['a', 'b']);
    expect(sim.longestUnheld).toBeLessThan(TTL / 2);
    await sim.store.close();
  });

  it('gives up units between releases first, never one running migrations, and says why at info', async () => {
    const sim = await Replicas.create(6);
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    sim.join('a', pino({ level: 'info' }, sink));
    await sim.settle();
    // Given a replica holding six units: two idle, two mid-release, two running migrations or rolling back
    const [idle1, idle2, canary, starting, migrating, rollingBack] = sim.names as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const release = async (unit: string, phase: ReleaseRow['phase']): Promise<void> => {
      await sim.store.createRelease({ ...newRelease(unit, 'v2'), phase });
    };
    await release(canary, 'canary');
    await release(starting, 'starting');
    await release(migrating, 'migrating');
    await release(rollingBack, 'rolling-back');

    // When another replica joins (a fair share of three each)
    sim.join('b');
    await sim.settle();

    // Then a gave up the two idle units and one mid-release, and kept those it must not hand over
    expect(sim.counts()).toEqual({ a: 3, b: 3 });
    const holders = await sim.holders();
    expect([idle1, idle2, migrating, rollingBack].map((u) => holders.get(u))).toEqual(['b', 'b', 'a', 'a']);
    expect([canary, starting].map((u) => holders.get(u)).sort()).toEqual(['a', 'b']);
    const givenUp = lines.filter((l) => l.reason === 'rebalancing');
    expect(givenUp).toHaveLength(3);
    for (const line of givenUp) {
      expect(line.level).toBe(30);
      expect(line.msg).toBe(
        'giving the lease up: rebalancing: this replica holds 6 of 6 units, 3 above its fair share of 3 with 2 live replicas',
      );
    }
    await sim.store.close();
  });

  it('keeps a unit it meant to give up when its release has begun migrating since', async () => {
    const sim = await Replicas.create(2);
    sim.join('a');
    await sim.settle();
    const releases = await Promise.all(sim.names.map((u) => sim.store.createRelease(newRelease(u, 'v2'))));
    // Given a plan to give a unit up, made from a read that saw both releases starting, after which
    // both began their migrations
    const activeReleases = sim.store.activeReleases.bind(sim.store);
    let read = false;
    sim.store.activeReleases = async () => {
      const rows = await activeReleases();
      if (!read) {
        for (const r of releases) await sim.store.updateRelease(r.id, { phase: 'migrating' }, 2000);
        read = true;
      }
      return rows;
    };
    await sim.store.heartbeatReplica('quiet', sim.clock.now(), 10 * TTL);

    // Then a keeps both units while their migrations run
    while (!read) await sim.tick();
    for (let t = 0; t < 2 * TTL; t += TICK) {
      await sim.tick();
      expect(sim.counts()).toEqual({ a: 2 });
    }
    // And gives one up once they are past them
    for (const r of releases) await sim.store.updateRelease(r.id, { phase: 'starting' }, 3000);
    await sim.run(TTL);
    expect(sim.counts()).toEqual({ a: 1 });
    await sim.store.close();
  });

  it('leaves free units to a live replica below its share, and takes them itself once there is none', async () => {
    const sim = await Replicas.create(4);
    const a = sim.join('a');
    // Given another replica that says it is up but holds nothing
    await sim.store.heartbeatReplica('quiet', sim.clock.now(), 3 * TTL);
    await sim.tick();

    // Then a takes its fair share of two and leaves the rest
    await sim.run(2 * TTL);
    expect(sim.counts()).toEqual({ a: 2 });

    // When the quiet replica's heartbeat lapses, a takes the rest: a unit never waits for a holder that is gone
    await sim.run(2 * TTL);
    expect(sim.counts()).toEqual({ a: 4 });
    expect([...a.acting.values()].every(Boolean)).toBe(true);
    await sim.store.close();
  });

  it('does not take back what it gave up while another replica is below its share', async () => {
    const sim = await Replicas.create(4);
    sim.join('a');
    await sim.settle();
    // Given a replica that says it is up but takes nothing, a gives it two units
    await sim.store.heartbeatReplica('quiet', sim.clock.now(), 10 * TTL);
    while (sim.counts().a !== 2) await sim.tick();
    // Then a keeps to its share as long as the other one is there, instead of passing units back and forth
    for (let t = 0; t < 3 * TTL; t += TICK) {
      await sim.tick();
      expect(sim.counts()).toEqual({ a: 2 });
    }
    await sim.store.close();
  });

  it('takes any free lease while it cannot read the other replicas', async () => {
    const sim = await Replicas.create(4);
    sim.store.liveReplicas = () => Promise.reject(new Error('Connection terminated unexpectedly'));
    sim.join('a');
    await sim.settle();
    expect(sim.counts()).toEqual({ a: 4 });
    await sim.store.close();
  });
});
