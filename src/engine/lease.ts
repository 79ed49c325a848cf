import type { Logger } from 'pino';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import type { LeaseShare } from './lease-share.js';

/** A holder renews after this fraction of the TTL, so two renewals can fail before the lease lapses. */
const RENEW_FRACTION = 1 / 3;
/** When the store cannot be reached, a holder keeps acting only up to this fraction of the TTL. */
const SAFE_FRACTION = 0.8;
/** A replica without the lease asks for it at most this often. */
const FOLLOWER_POLL_MS = 500;

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
    // Read after the share, which may have waited on the store: renewing goes by the time now.
    const now = clock.now();
    if (this.held && now - this.renewedAt < ttlMs * RENEW_FRACTION) return true;
    if (!this.held && now < this.nextTryAt) return false;
    const asking = !this.held && share !== undefined;
    if (asking && !(await share.mayTake(name))) {
      this.nextTryAt = now + FOLLOWER_POLL_MS;
      return false;
    }
    try {
      return await this.acquire(now);
    } finally {
      if (asking) share.asked(name);
    }
  }

  private async acquire(now: number): Promise<boolean> {
    const { store, name, holder, ttlMs, logger } = this.options;
    try {
      const lease = await store.acquireLease(name, holder, now, ttlMs);
      if (this.storeError !== undefined) logger.info({ lease: name }, 'the store answers again');
      this.storeError = undefined;
      if (!lease) {
        if (this.held) logger.warn({ lease: name }, 'lost the lease to another replica');
        this.heldSince = undefined;
        this.nextTryAt = now + FOLLOWER_POLL_MS;
        return false;
      }
      if (!this.held) this.heldSince = now;
      this.renewedAt = now;
      this.epoch = lease.epoch;
      return true;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.storeError)
        logger.warn({ err, lease: name }, `renewing the lease failed: ${message}`);
      this.storeError = message;
      this.nextTryAt = now + FOLLOWER_POLL_MS;
      // Nobody else can take the lease before it expires, so a holder may go on until shortly before.
      if (this.held && now - this.renewedAt < ttlMs * SAFE_FRACTION) return true;
      if (this.held) logger.warn({ lease: name }, 'stopped acting: the lease could not be renewed in time');
      this.heldSince = undefined;
      return false;
    }
  }

  /** The second half of giving up: the engine stepped down at the last check; others may take over now. */
  private async letGo(now: number): Promise<boolean> {
    const { store, name, holder, logger } = this.options;
    this.givingUp = false;
    this.nextTryAt = now + FOLLOWER_POLL_MS;
    await store
      .releaseLease(name, holder)
      .catch((err: unknown) =>
        logger.warn(
          { err, lease: name },
          'letting the lease go failed; another replica takes it at its expiry',
        ),
      );
    return false;
  }

  /** Lets the lease go at once so another replica takes over without waiting for the TTL. */
  async release(): Promise<void> {
    if (!this.held && !this.givingUp) return;
    this.heldSince = undefined;
    this.givingUp = false;
    await this.options.store.releaseLease(this.options.name, this.options.holder);
  }
}
