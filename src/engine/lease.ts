import type { Logger } from 'pino';
import type { LeaseLocks, LeaseRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import type { LeaseShare } from './lease-share.js';

/** A holder renews after this fraction of the TTL, so two renewals can fail before the lease lapses. */
const RENEW_FRACTION = 1 / 3;
/** When the store cannot be reached, a holder keeps acting only up to this fraction of the TTL. */
const SAFE_FRACTION = 0.8;
/** A replica without the lease asks for it at most this often. */
const FOLLOWER_POLL_MS = 500;
/**
 * A holder whose lease is bound to its session lock acts only while a heartbeat of that session that
 * began at most this long ago was answered (docs/decisions/009).
 */
export const SESSION_PROOF_MS = 600;
/**
 * A replica that takes a lease over because the holder's session lock was free acts this long after
 * it took the lock: by then the old holder's last proof has lapsed, so it has stopped acting, with
 * a margin for an action it began just before (docs/decisions/009).
 */
export const TAKEOVER_WAIT_MS = 800;

/**
 * Thrown before an action when this replica may no longer act on the unit: the reconcile pass ends
 * there, and the next one checks the lease again. Never shown to a user.
 */
export class LeaseLostError extends Error {
  constructor(unit: string) {
    super(`${unit}: this replica no longer surely holds the lease; not acting`);
    this.name = this.constructor.name;
  }
}

/** A lease row this replica holds, when it was renewed, and from when it may act on it. */
interface Taken {
  row: LeaseRow;
  renewedAt: number;
  actFrom: number;
}

/** What a lease needs; `holder` names this replica. */
export interface LeaseOptions {
  store: Store;
  /** The unit the lease covers: `web` or `web@production`. */
  name: string;
  holder: string;
  ttlMs: number;
  clock: Clock;
  logger: Logger;
  /** This replica's share of the units: when to take a free lease and when to give one up. */
  share?: LeaseShare;
  /**
   * This replica's session locks (PostgreSQL): a holder keeps its unit's lock, so that the others
   * take over about a second after its session ends instead of at the TTL (docs/decisions/009).
   */
  locks?: LeaseLocks;
}

/**
 * This replica's claim on one unit (a service or service@environment). Only the holder reconciles:
 * it starts and stops instances, shifts traffic, runs migrations and checks. The others serve the API
 * from the shared store and take over when the holder stops renewing (kill -9) or lets go (shutdown),
 * or gives the unit up so that the replicas share the units (see LeaseShare).
 */
export class Lease {
  private heldSince: number | undefined;
  /** Given up to rebalance: this replica stopped acting at the last check, and lets go at the next. */
  private givingUp = false;
  private renewedAt = Number.NEGATIVE_INFINITY;
  private nextTryAt = Number.NEGATIVE_INFINITY;
  private storeError: string | undefined;
  /** Whether the held epoch is bound to this replica's session lock: then it acts only while it proves the session. */
  private bound = false;
  /** After a takeover on a free session lock, this replica acts from this time on (TAKEOVER_WAIT_MS). */
  private actFrom = Number.NEGATIVE_INFINITY;
  /** The lease's epoch while held: it grows each time the unit changes hands. */
  epoch = 0;

  constructor(private readonly options: LeaseOptions) {
    options.share?.add(this);
  }

  get holder(): string {
    return this.options.holder;
  }

  /** The unit the lease covers. */
  get name(): string {
    return this.options.name;
  }

  /** Whether this replica held the lease at the last check. */
  get held(): boolean {
    return this.heldSince !== undefined;
  }

  /**
   * True when this replica holds the lease now. Renews it once a third of the TTL has passed; a
   * replica without it asks again every half second, so a lapsed lease is taken within that. With a
   * share, a free lease is asked for only when the share allows, and a held one given up when it says.
   */
  /** True while this replica is giving the lease up of its own accord (rebalancing), not losing it. */
  get handingOver(): boolean {
    return this.givingUp;
  }

  async check(): Promise<boolean> {
    const { name, ttlMs, clock, logger, share } = this.options;
    if (this.givingUp) return this.letGo(clock.now());
    if (this.held && share) {
      const reason = await share.giveUp(name);
      if (reason !== undefined) {
        // False now, so the engine steps down in this pass; the lease goes at the next check, once
        // nothing of this replica acts on the unit any more, and never two replicas act at once.
        logger.info({ lease: name, reason: 'rebalancing' }, `giving the lease up: ${reason}`);
        this.heldSince = undefined;
        this.givingUp = true;
        return false;
      }
    }
    if (this.held && this.bound && !(await this.sessionProved())) {
      this.stopActing('stopped acting: its database session ended or does not answer');
      return false;
    }
    // Read after the share and the session, which may have waited on the store: renewing goes by the time now.
    const now = clock.now();
    if (this.held && now - this.renewedAt < ttlMs * RENEW_FRACTION) return now >= this.actFrom;
    if (!this.held && now < this.nextTryAt) return false;
    const asking = !this.held && share !== undefined;
    if (asking && !(await share.mayTake(name))) {
      this.nextTryAt = now + FOLLOWER_POLL_MS;
      return false;
    }
    try {
      return await this.acquire();
    } finally {
      if (asking) share.asked(name);
    }
  }

  /**
   * Whether this replica may act on the unit at this very moment, by the time read now: it holds the
   * lease, renewed it less than SAFE_FRACTION of the TTL ago, and, when the lease is bound to its
   * session lock, proved that session within SESSION_PROOF_MS. The engine asks before each action,
   * so that time spent on store writes and slow providers since the pass began counts.
   */
  stillHeld(): boolean {
    if (!this.held) return false;
    const now = this.options.clock.now();
    if (now < this.actFrom || now - this.renewedAt >= this.options.ttlMs * SAFE_FRACTION) return false;
    return !this.bound || this.locks?.holds(this.options.name, now - SESSION_PROOF_MS) === true;
  }

  /**
   * As `stillHeld()`, but a session proof that is merely old (a busy event loop) is renewed with one
   * heartbeat before the answer is no. For what runs beside the passes, such as a migration.
   */
  async confirm(): Promise<boolean> {
    if (this.stillHeld()) return true;
    if (!this.held || !this.bound) return false;
    const now = this.options.clock.now();
    if (now < this.actFrom || now - this.renewedAt >= this.options.ttlMs * SAFE_FRACTION) return false;
    return (await this.sessionProved()) && this.stillHeld();
  }

  private get locks(): LeaseLocks | undefined {
    return this.options.locks;
  }

  /** Whether the session lock is held and recently proved; asks the session once more when the proof is merely old (a busy event loop). */
  private async sessionProved(): Promise<boolean> {
    const { name, clock } = this.options;
    const locks = this.locks;
    if (!locks) return true;
    if (locks.holds(name, clock.now() - SESSION_PROOF_MS)) return true;
    if (!(await locks.prove(SESSION_PROOF_MS))) return false;
    return locks.holds(name, clock.now() - SESSION_PROOF_MS);
  }

  /** Stops acting at once; the row stays, so another replica proves this one gone or waits for the TTL. */
  private stopActing(why: string): void {
    const { name, logger } = this.options;
    logger.warn({ lease: name }, why);
    this.heldSince = undefined;
    this.bound = false;
    this.nextTryAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Takes or renews the lease. The session lock comes first: once this replica holds it, no other can
   * prove this one gone, so the row the statement returns is this replica's to act on.
   */
  private async acquire(): Promise<boolean> {
    const { store, name, holder, ttlMs, clock, logger } = this.options;
    const locks = this.locks;
    let locked = false;
    try {
      locked = locks ? await locks.lock(name) : false;
      const now = clock.now();
      const row = await store.acquireLease(name, holder, now, ttlMs, locked);
      const lease: Taken | undefined = row
        ? { row, renewedAt: now, actFrom: this.held ? this.actFrom : Number.NEGATIVE_INFINITY }
        : locked
          ? await this.takeOver()
          : undefined;
      if (this.storeError !== undefined) logger.info({ lease: name }, 'the store answers again');
      this.storeError = undefined;
      if (!lease) {
        if (this.held) logger.warn({ lease: name }, 'lost the lease to another replica');
        this.heldSince = undefined;
        this.bound = false;
        this.nextTryAt = clock.now() + FOLLOWER_POLL_MS;
        if (locked) await locks?.unlock(name);
        return false;
      }
      if (!this.held || lease.row.epoch !== this.epoch) this.heldSince = lease.renewedAt;
      this.renewedAt = lease.renewedAt;
      this.epoch = lease.row.epoch;
      this.bound = lease.row.lockEpoch === lease.row.epoch;
      this.actFrom = lease.actFrom;
      // Judged by the time after the write: a renewal that took long may have come too late to act on.
      return this.stillHeld();
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.storeError)
        logger.warn({ err, lease: name }, `renewing the lease failed: ${message}`);
      this.storeError = message;
      // The time after the failed write: a write retried for long must not count as recent.
      const now = clock.now();
      this.nextTryAt = now + FOLLOWER_POLL_MS;
      // Nobody else can take the lease before it expires, so a holder may go on until shortly before.
      if (this.held && now - this.renewedAt < ttlMs * SAFE_FRACTION) return now >= this.actFrom;
      if (this.held) logger.warn({ lease: name }, 'stopped acting: the lease could not be renewed in time');
      this.heldSince = undefined;
      this.bound = false;
      if (locked) await locks?.unlock(name).catch(() => undefined);
      return false;
    }
  }

  /**
   * Another replica holds the row, and this one just took the unit's session lock. When the row says
   * its holder keeps that lock at its epoch, the holder's session is gone: take the lease over now,
   * and act once TAKEOVER_WAIT_MS has passed since the lock was taken, when the old holder, which acts
   * only on a proof younger than SESSION_PROOF_MS, has surely stopped.
   */
  private async takeOver(): Promise<Taken | undefined> {
    const { store, name, holder, ttlMs, clock, logger } = this.options;
    // Read after the lock was taken: the old holder's last proof began before its session ended.
    const lockedAt = clock.now();
    const row = await store.getLease(name);
    if (!row || row.holder === holder || row.lockEpoch !== row.epoch) return undefined;
    const now = clock.now();
    const taken = await store.takeOverLease(name, holder, row, now, ttlMs);
    if (!taken) return undefined;
    const actFrom = lockedAt + TAKEOVER_WAIT_MS;
    logger.warn(
      { lease: name, from: row.holder, epoch: taken.epoch },
      `took the lease over from ${row.holder}, whose database session is gone; acting in ${TAKEOVER_WAIT_MS} ms`,
    );
    return { row: taken, renewedAt: now, actFrom };
  }

  /** The second half of giving up: the engine stepped down at the last check; others may take over now. */
  private async letGo(now: number): Promise<boolean> {
    const { store, name, holder, logger } = this.options;
    this.givingUp = false;
    this.bound = false;
    this.nextTryAt = now + FOLLOWER_POLL_MS;
    await store
      .releaseLease(name, holder)
      .catch((err: unknown) =>
        logger.warn(
          { err, lease: name },
          'letting the lease go failed; another replica takes it at its expiry',
        ),
      );
    await this.locks?.unlock(name).catch(() => undefined);
    return false;
  }

  /** Lets the lease go at once so another replica takes over without waiting for the TTL. */
  async release(): Promise<void> {
    if (!this.held && !this.givingUp) return;
    this.heldSince = undefined;
    this.givingUp = false;
    this.bound = false;
    await this.options.store.releaseLease(this.options.name, this.options.holder);
    await this.locks?.unlock(this.options.name).catch(() => undefined);
  }
}
