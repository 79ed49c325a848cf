import type { Logger } from 'pino';
import type { ReleasePhase } from '../domain/release.js';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';

/**
 * How one replica's units are spread with the other replicas' (docs/decisions/006). Each replica has
 * one LeaseShare, and every Lease of that replica asks it before taking a free lease and at each
 * check of a held one.
 *
 * - Each replica says it is up (a heartbeat row) and reads who else is, and who holds which lease.
 *   It says so only once every one of its units has checked its lease: a replica starts its units
 *   one after another, and a unit given to it before its own start would wait without a holder.
 * - Its fair share is the units over the live replicas, rounded up.
 * - Below its fair share it takes free and expired leases. At or above it, it leaves them to a live
 *   replica below its own, and takes them only when there is none, so no unit is left without a holder.
 * - Above its fair share, while another live replica is below its own, it gives up as many leases as
 *   both sides allow, units without an active release first and never one whose release is running
 *   migrations or rolling back, at most once per refresh. Its own count is exact, so it never gives
 *   up more than its excess, and what it gives up the others can take: the system settles instead
 *   of passing leases around.
 *
 * Whom it counts as live decides only how the units are spread, never who may act: that stays with
 * the lease rows, taken by one statement. A stale view costs at most a refresh's worth of imbalance.
 */

/** The view of the others is read, and this replica's heartbeat written, this often (a fraction of the TTL). */
const REFRESH_FRACTION = 1 / 6;
/**
 * A heartbeat lasts this fraction of the TTL: shorter than a lease, so a replica killed with kill -9
 * has dropped out of the others' count by the time its leases expire, and they take its units at once.
 */
const PRESENCE_FRACTION = 1 / 2;
/**
 * A unit whose release is in one of these phases is never given up: its migrations run outside the
 * reconcile pass, and would go on beside the new holder's; a rollback should not wait for a hand-over.
 */
const PINNED_PHASES: ReadonlySet<ReleasePhase> = new Set(['migrating', 'rolling-back']);

/** What the share needs to know of each of its replica's leases. */
export interface SharedLease {
  /** The unit: `web` or `web@production`. */
  readonly name: string;
  /** Whether this replica holds the unit's lease (and acts on the unit) now. */
  readonly held: boolean;
}

/** What a LeaseShare needs; `replica` names this replica, as its leases do. */
export interface LeaseShareOptions {
  store: Store;
  replica: string;
  /** `server.leaseTtl`: the refresh and the heartbeat are fractions of it. */
  ttlMs: number;
  clock: Clock;
  logger: Logger;
}

/** The spread of leases as this replica last read it from the store. */
interface Spread {
  /** The other live replicas, with the leases each holds. */
  others: Map<string, number>;
  /** Units whose unexpired lease is already this replica's (a restart under the same id). */
  mine: Set<string>;
  /** Units whose lease another replica holds, with its expiry. */
  theirs: Map<string, number>;
}

/** One replica's side of spreading the units' leases over the live replicas. */
export class LeaseShare {
  private readonly leases: SharedLease[] = [];
  /** Units whose lease has been checked at least once: this replica can take them. */
  private readonly started = new Set<string>();
  /**
   * Units asked for right now whose lease was free or expired at the last read: counted as held, so
   * concurrent asks do not overshoot the fair share. Asks for a lease another replica held are not:
   * they nearly always fail, and would crowd out the asks that succeed.
   */
  private readonly asking = new Set<string>();
  /** Units to give up at their next check, with the reason. */
  private readonly toGiveUp = new Map<string, string>();
  private spread: Spread | undefined;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | undefined;
  private storeError: string | undefined;
  private left = false;

  constructor(private readonly options: LeaseShareOptions) {}

  /** Adds one of this replica's units (replacing its earlier lease after a reload); every unit counts towards the fair share. */
  add(lease: SharedLease): void {
    this.remove(lease.name);
    this.leases.push(lease);
  }

  /** Forgets a unit this replica no longer runs (a reload removed it). */
  remove(name: string): void {
    const index = this.leases.findIndex((l) => l.name === name);
    if (index !== -1) this.leases.splice(index, 1);
    this.started.delete(name);
    this.asking.delete(name);
    this.toGiveUp.delete(name);
  }

  /** Units this replica holds now, and those it is asking for. */
  get held(): number {
    return this.leases.filter((l) => l.held && !this.asking.has(l.name)).length + this.asking.size;
  }

  /**
   * Whether this replica may ask for `name`'s lease now (it is not held). A yes counts the unit as held
   * until `asked(name)`. Yes when the store could not be read yet: any holder is better than none.
   */
  async mayTake(name: string): Promise<boolean> {
    this.started.add(name);
    if (this.left) return false;
    await this.refresh();
    const spread = this.spread;
    const may =
      !spread ||
      spread.mine.has(name) ||
      this.held < this.fairShare(spread) ||
      this.deficitOfOthers(spread, this.fairShare(spread)) === 0;
    const theirsUntil = spread?.theirs.get(name) ?? Number.NEGATIVE_INFINITY;
    if (may && theirsUntil <= this.options.clock.now()) this.asking.add(name);
    return may;
  }

  /** The ask `mayTake` allowed is over, whether the lease was taken or not. */
  asked(name: string): void {
    this.asking.delete(name);
  }

  /**
   * Why this replica should give up `name`'s lease now (it holds it), or undefined to keep it. Called
   * at the start of the unit's reconcile pass, so the release phase it reads is the one the pass
   * would act on.
   */
  async giveUp(name: string): Promise<string | undefined> {
    this.started.add(name);
    if (this.left) return undefined;
    // Not awaited: a holder's renewal must not wait on the other replicas' rows. The plan a refresh
    // makes applies from the next check on.
    void this.refresh();
    const reason = this.toGiveUp.get(name);
    if (reason === undefined) return undefined;
    this.toGiveUp.delete(name);
    // The plan is up to a refresh old; since then the unit's release may have begun migrating.
    const release = await this.options.store.activeRelease(name).then(
      (r) => r ?? null,
      () => undefined,
    );
    if (release === undefined || (release && PINNED_PHASES.has(release.phase))) return undefined;
    // Given up, it is no longer this replica's to resume, whatever the last read said.
    this.spread?.mine.delete(name);
    return reason;
  }

  /**
   * Graceful shutdown, before the leases are let go: the others stop counting this replica at once,
   * so they take its units without waiting for its heartbeat to lapse. It takes and gives up no more.
   */
  async leave(): Promise<void> {
    this.left = true;
    this.toGiveUp.clear();
    await this.refreshing;
    await this.options.store
      .removeReplica(this.options.replica)
      .catch((err: unknown) =>
        this.options.logger.warn(
          { err },
          'leaving failed; the other replicas count this one until its heartbeat lapses',
        ),
      );
  }

  private fairShare(spread: Spread): number {
    return Math.ceil(this.leases.length / (spread.others.size + 1));
  }

  /** How many leases the other live replicas lack to reach their fair share. */
  private deficitOfOthers(spread: Spread, fair: number): number {
    let deficit = 0;
    for (const count of spread.others.values()) deficit += Math.max(0, fair - count);
    return deficit;
  }

  /** Reads the spread again once a refresh is due; callers at the same time share one read. */
  private async refresh(): Promise<void> {
    const now = this.options.clock.now();
    if (this.left || now - this.refreshedAt < this.options.ttlMs * REFRESH_FRACTION) return;
    this.refreshing ??= this.read(now).finally(() => (this.refreshing = undefined));
    await this.refreshing;
  }

  private async read(now: number): Promise<void> {
    const { store, replica, ttlMs, logger } = this.options;
    this.refreshedAt = now;
    try {
      if (this.started.size >= this.leases.length)
        await store.heartbeatReplica(replica, now, ttlMs * PRESENCE_FRACTION);
      const [replicas, leases] = await Promise.all([store.liveReplicas(now), store.listLeases()]);
      const others = new Map(replicas.filter((r) => r.id !== replica).map((r) => [r.id, 0]));
      const mine = new Set<string>();
      const theirs = new Map<string, number>();
      for (const lease of leases) {
        if (lease.expiresAt <= now) continue;
        if (lease.holder === replica) mine.add(lease.name);
        else theirs.set(lease.name, lease.expiresAt);
        const count = others.get(lease.holder);
        if (count !== undefined) others.set(lease.holder, count + 1);
      }
      this.spread = { others, mine, theirs };
      if (this.storeError !== undefined) logger.info('the store answers again; spreading leases again');
      this.storeError = undefined;
      await this.planGivingUp(this.spread);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.storeError)
        logger.warn({ err }, `reading the other replicas failed: ${message}; keeping the last view`);
      this.storeError = message;
    }
  }

  /** Picks the leases to give up before the next refresh: none unless this replica is above its share. */
  private async planGivingUp(spread: Spread): Promise<void> {
    this.toGiveUp.clear();
    const fair = this.fairShare(spread);
    const held = this.held;
    const count = Math.min(held - fair, this.deficitOfOthers(spread, fair));
    if (count <= 0 || this.left) return;
    // A unit between releases hands over at no cost; one mid-release is resumed from the store.
    const releases = await this.options.store.activeReleases();
    const busy = new Set(releases.map((r) => r.service));
    const pinned = new Set(releases.filter((r) => PINNED_PHASES.has(r.phase)).map((r) => r.service));
    const candidates = this.leases
      .filter((l) => l.held && !pinned.has(l.name))
      .reverse()
      .sort((a, b) => Number(busy.has(a.name)) - Number(busy.has(b.name)));
    const reason =
      `rebalancing: this replica holds ${held} of ${this.leases.length} units, ` +
      `${held - fair} above its fair share of ${fair} with ${spread.others.size + 1} live replicas`;
    for (const lease of candidates.slice(0, count)) this.toGiveUp.set(lease.name, reason);
  }
}
