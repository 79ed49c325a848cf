import type { Logger } from 'pino';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';

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
}

/**
 * This replica's claim on one unit (a service or service@environment). Only the holder reconciles:
 * it starts and stops instances, shifts traffic, runs migrations and checks. The others serve the API
 * from the shared store and take over when the holder stops renewing (kill -9) or lets go (shutdown).
 */
export class Lease {
  private heldSince: number | undefined;
  private renewedAt = Number.NEGATIVE_INFINITY;
  private nextTryAt = Number.NEGATIVE_INFINITY;
  private storeError: string | undefined;
  /** The lease's epoch while held: it grows each time the unit changes hands. */
  epoch = 0;

  constructor(private readonly options: LeaseOptions) {}

  get holder(): string {
    return this.options.holder;
  }

  /** Whether this replica held the lease at the last check. */
  get held(): boolean {
    return this.heldSince !== undefined;
  }

  /**
   * True when this replica holds the lease now. Renews it once a third of the TTL has passed; a
   * replica without it asks again every half second, so a lapsed lease is taken within that.
   */
  async check(): Promise<boolean> {
    const { store, name, holder, ttlMs, clock, logger } = this.options;
    const now = clock.now();
    if (this.held && now - this.renewedAt < ttlMs * RENEW_FRACTION) return true;
    if (!this.held && now < this.nextTryAt) return false;
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

  /** Lets the lease go at once so another replica takes over without waiting for the TTL. */
  async release(): Promise<void> {
    if (!this.held) return;
    this.heldSince = undefined;
    await this.options.store.releaseLease(this.options.name, this.options.holder);
  }
}
