/**
 * Sends the notification outbox (store.notifications): every due `pending` row, claimed by
 * compare-and-set so that replicas sharing a PostgreSQL store never send one row at once, retried
 * with exponential backoff and full jitter from the durable row, and given up as `failed` with its
 * last error after the last attempt. A `{user}` row fans out to one row per contact method, each
 * delivered, logged and retried on its own.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { ChannelsConfig, EmailChannelConfig } from '../config/channels-schema.js';
import { ConflictError, NotFoundError, errorMessage } from '../errors.js';
import {
  createChannel,
  createContactChannel,
  type ContactTarget,
} from '../providers/notify/create-channel.js';
import type { DeliveryResult, NotifyChannel } from '../providers/notify/types.js';
import type { Sealer } from '../security/sealed-params.js';
import type { NotificationRow } from '../store/notification-store.js';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { ContactMethods } from './contact-methods.js';
import type { NotificationMetrics } from './notification-metrics.js';
import type { Notice } from './types.js';

/** When retries happen and how many there are. */
export interface RetryPolicy {
  /** The first retry waits up to this long. */
  baseMs: number;
  /** No retry waits longer than this. */
  capMs: number;
  /** After this many attempts a row is given up (`failed`). */
  maxAttempts: number;
}

/** 2 s, 4 s, 8 s ... up to 10 minutes, 8 attempts in all. */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 2000, capMs: 10 * 60_000, maxAttempts: 8 };
/** How long a claim holds a row: longer than any send takes, short enough for a crash to cost little. */
export const CLAIM_MS = 60_000;
/** Rows read per query. */
const BATCH = 50;
/** Passes over new rows (fan-outs) within one delivery round, at most. */
const MAX_ROUNDS = 5;

/**
 * Full jitter: a random wait in [0, min(cap, base * 2^(attempt-1))] after the `attempt`-th failed
 * attempt (1 for the first), so retries of many rows spread out instead of arriving together.
 */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Where a status-page subscriber receives notices. */
export type SubscriberAddress = { email: string } | { webhook: string };

/** What the dispatcher needs. */
export interface DispatcherOptions {
  store: Store;
  /** The installation's channels (`channels:`). */
  channels: ChannelsConfig;
  /** Opens users' contact methods; without it a `{user}` row fails (nothing can be opened). */
  sealer?: Sealer;
  clock: Clock;
  logger: Logger;
  /** This replica's name in claims. */
  holder: string;
  metrics?: NotificationMetrics;
  /** In [0, 1): the jitter's source; Math.random unless a test fixes it. */
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** Where a status-page subscriber is reached; absent, `{subscriber}` rows fail. */
  subscriberAddress?: (id: number) => Promise<SubscriberAddress | undefined>;
}

/** How a send went, as the API and the checklist report it. */
export interface SendOutcome {
  notification: NotificationRow;
  delivered: boolean;
  /** Why not: the server's answer. */
  error?: string;
}

/** What replacing the channels changed, by channel name. */
export interface ChannelChanges {
  added: string[];
  /** Same name, another config (a URL, a secret, the recipients...): rebuilt. */
  changed: string[];
  removed: string[];
}

/** Where a row goes once resolved: a channel to send through, or why it cannot go (for good). */
type Resolved =
  | { channel: NotifyChannel; type: string; close: boolean; gone: (reason: string) => Promise<void> }
  | { fail: string; type: string }
  | { later: string; type: string }
  | { fannedOut: number };

/** Sends due notifications; one per control plane, `start`ed by `shipcheck up`. */
export class NotificationDispatcher {
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private current: ChannelsConfig;
  private configured: ReadonlyMap<string, ChannelsConfig[number]>;
  private readonly built = new Map<string, NotifyChannel>();
  private mailer: EmailChannelConfig | undefined;
  /** Sends under way, by channel object: a replaced channel is closed once its last one ends. */
  private readonly sending = new Map<NotifyChannel, number>();
  /** Channels a replacement took out while they were sending; closed when that ends. */
  private readonly retired = new Set<NotifyChannel>();
  /** Users' contact methods, when a key ring opens them. */
  readonly contactMethods: ContactMethods | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DispatcherOptions) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.random = options.random ?? Math.random;
    this.current = options.channels;
    this.configured = new Map(options.channels.map((c) => [c.name, c]));
    this.mailer = mailerOf(options.channels);
    this.contactMethods = options.sealer
      ? new ContactMethods(options.store.notifications, options.sealer)
      : undefined;
  }

  /** The configured channels, in config order. */
  get channels(): ChannelsConfig {
    return this.current;
  }

  /**
   * Makes `channels` the configured ones (a reload): an added channel can be sent to at once, a
   * changed one is built again from its new config on its next send, and the built objects of changed
   * and removed ones are closed (an email channel's SMTP transport) — at once, or when the send under
   * way on one ends, so a delivery in flight finishes where it started. A row to a channel that is no
   * longer configured fails when it comes due, as any row to an unknown channel does.
   */
  async replaceChannels(channels: ChannelsConfig): Promise<ChannelChanges> {
    const changes: ChannelChanges = { added: [], changed: [], removed: [] };
    const next = new Map(channels.map((c) => [c.name, c]));
    for (const config of channels) {
      const before = this.configured.get(config.name);
      if (!before) changes.added.push(config.name);
      else if (canonical(before) !== canonical(config)) changes.changed.push(config.name);
    }
    for (const name of this.configured.keys()) if (!next.has(name)) changes.removed.push(name);
    this.current = channels;
    this.configured = next;
    this.mailer = mailerOf(channels);
    const closing: NotifyChannel[] = [];
    for (const name of [...changes.changed, ...changes.removed]) {
      const old = this.built.get(name);
      if (!old) continue;
      this.built.delete(name);
      if ((this.sending.get(old) ?? 0) > 0) this.retired.add(old);
      else closing.push(old);
    }
    for (const channel of closing) await channel.close?.().catch(() => undefined);
    return changes;
  }

  /** The channel object of a configured channel; NotFoundError for an unknown name. */
  channel(name: string): NotifyChannel {
    const config = this.configured.get(name);
    if (!config) {
      const names = [...this.configured.keys()];
      throw new NotFoundError(
        `no channel "${name}"; ${names.length === 0 ? 'no channel is configured (channels: in the control-plane file)' : `the channels are ${names.join(', ')}`}`,
      );
    }
    let built = this.built.get(name);
    if (!built) {
      built = createChannel(config);
      this.built.set(name, built);
    }
    return built;
  }

  /** Delivers what is due every `intervalMs` until `stop`. */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops the timer, waits for the round under way, and closes the channels. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
    for (const channel of [...this.built.values(), ...this.retired])
      await channel.close?.().catch(() => undefined);
    this.built.clear();
    this.retired.clear();
  }

  /** Starts a delivery round in the background (right after an enqueue); one more follows a round under way. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.deliverDue();
      } while (this.again);
    })()
      .catch((err: unknown) => this.options.logger.warn({ err }, 'delivering notifications failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Waits for the round under way, if any. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** One delivery round: sends every row due now that no other sender holds. Returns how many it tried. */
  async deliverDue(): Promise<number> {
    const { store, clock } = this.options;
    let tried = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const ids = await store.notifications.due(clock.now(), BATCH);
      let fannedOut = false;
      for (const id of ids) {
        const outcome = await this.deliverOne(id);
        if (outcome === 'fanned-out') fannedOut = true;
        if (outcome !== 'skipped') tried++;
      }
      if (!fannedOut && ids.length < BATCH) break;
    }
    return tried;
  }

  /**
   * Sends a test notice through a channel now, records it in the delivery log, and says how it went.
   * It is tried once: a failed test is `failed` at once rather than retried. NotFoundError for an
   * unknown channel, ConflictError for a disabled one.
   */
  async sendTest(name: string, notice?: Partial<Notice>): Promise<SendOutcome> {
    const { store, clock } = this.options;
    this.channel(name);
    const disabled = (await store.notifications.disabledChannels()).find((c) => c.name === name);
    if (disabled)
      throw new ConflictError(
        `channel ${name} is disabled (${disabled.reason}); enable it with "shipcheck notify enable ${name}"`,
      );
    const now = clock.now();
    const key = `test:${name}:${now}:${crypto.randomUUID()}`;
    const [id] = await store.notifications.enqueue(
      [
        {
          key,
          to: { channel: name },
          notice: {
            event: 'test',
            title: 'shipcheck test notification',
            text: `This is a test of the channel ${name}. If you can read it, the channel works.`,
            severity: 'info',
            ...notice,
          },
        },
      ],
      now,
      // Written claimed, so that the timer's round cannot take it first and retry it later.
      { holder: this.options.holder, until: now + CLAIM_MS },
    );
    if (id === undefined) throw new ConflictError(`a test of ${name} is already being sent`);
    await this.deliverOne(id, { maxAttempts: 1 }, true);
    const row = (await store.notifications.get(id))!;
    return {
      notification: row,
      delivered: row.state === 'delivered',
      ...(row.state === 'delivered' ? {} : { error: row.lastError ?? 'not delivered' }),
    };
  }

  /** Enables a channel a 410 disabled; NotFoundError for an unknown one. */
  async enable(name: string): Promise<void> {
    this.channel(name);
    await this.options.store.notifications.setChannelDisabled(name, null, this.options.clock.now());
  }

  /** Claims, sends and records one row; `skipped` when another sender holds it or it is not pending. */
  private async deliverOne(
    id: number,
    override: Partial<RetryPolicy> = {},
    claimed = false,
  ): Promise<'skipped' | 'fanned-out' | 'sent'> {
    const { store, clock, holder, logger } = this.options;
    const now = clock.now();
    if (!claimed && !(await store.notifications.claim(id, holder, now, now + CLAIM_MS))) return 'skipped';
    const row = await store.notifications.get(id);
    if (!row) return 'skipped';
    let resolved: Resolved;
    try {
      resolved = await this.resolve(row);
    } catch (err) {
      // The store or the key ring failed: worth another attempt, like a failed send.
      await this.record(row, { type: 'unknown' }, { delivered: false, error: errorMessage(err) }, override);
      return 'sent';
    }
    if ('fannedOut' in resolved) return 'fanned-out';
    if ('later' in resolved) {
      await this.record(row, resolved, { delivered: false, error: resolved.later }, override);
      return 'sent';
    }
    if ('fail' in resolved) {
      await store.notifications.settle(id, holder, { state: 'failed', error: resolved.fail }, clock.now());
      this.options.metrics?.attempt(resolved.type, 'failed');
      logger.error(
        { notification: id, to: row.channel },
        `notification ${id} to ${row.channel} failed: ${resolved.fail}`,
      );
      return 'sent';
    }
    // A channel may allow more or fewer attempts than the default.
    const own = 'channel' in row.to ? this.configured.get(row.to.channel)?.maxAttempts : undefined;
    if (own !== undefined && override.maxAttempts === undefined) override = { ...override, maxAttempts: own };
    let result: DeliveryResult;
    try {
      result = await resolved.channel.send(row.notice, { id: row.key, at: clock.now() });
    } catch (err) {
      result = { delivered: false, error: errorMessage(err) };
    } finally {
      // A contact's channel is its own; a configured one is let go (and closed if a reload replaced it).
      if (resolved.close) await resolved.channel.close?.().catch(() => undefined);
      else await this.release(resolved.channel);
    }
    await this.record(row, resolved, result, override);
    return 'sent';
  }

  /** Writes an attempt's outcome: delivered, pending again after a backoff, or failed for good. */
  private async record(
    row: NotificationRow,
    resolved: { type: string; gone?: (reason: string) => Promise<void> },
    result: DeliveryResult,
    override: Partial<RetryPolicy>,
  ): Promise<void> {
    const { store, clock, holder, logger, metrics } = this.options;
    const now = clock.now();
    if (result.delivered) {
      await store.notifications.settle(row.id, holder, { state: 'delivered' }, now);
      metrics?.attempt(resolved.type, 'delivered');
      return;
    }
    const policy = { ...this.retry, ...override };
    const attempt = row.attempts + 1;
    if (result.gone && resolved.gone) {
      const reason = `${result.error} (the endpoint is gone: disabled until enabled again)`;
      await store.notifications.settle(row.id, holder, { state: 'failed', error: reason }, now);
      await resolved.gone(reason);
      metrics?.attempt(resolved.type, 'failed');
      logger.error({ notification: row.id, to: row.channel }, reason);
      return;
    }
    if (attempt >= policy.maxAttempts) {
      await store.notifications.settle(row.id, holder, { state: 'failed', error: result.error }, now);
      metrics?.attempt(resolved.type, 'failed');
      logger.error(
        { notification: row.id, to: row.channel, attempts: attempt },
        `notification ${row.id} to ${row.channel} failed after ${attempt} attempt(s): ${result.error}`,
      );
      return;
    }
    const nextAttemptAt = now + backoffMs(attempt, policy, this.random);
    await store.notifications.settle(
      row.id,
      holder,
      { state: 'pending', error: result.error, nextAttemptAt },
      now,
    );
    metrics?.attempt(resolved.type, 'retry');
    logger.warn(
      { notification: row.id, to: row.channel, attempts: attempt, nextAttemptAt },
      `notification ${row.id} to ${row.channel} not delivered (${result.error}); retrying`,
    );
  }

  /** Where a row goes; a `{user}` row without a method is fanned out here. */
  private async resolve(row: NotificationRow): Promise<Resolved> {
    const { store, clock, holder } = this.options;
    const to = row.to;
    if ('channel' in to) {
      const config = this.configured.get(to.channel);
      // Not failed at once: another replica may have it already (a reload that has not reached this
      // one yet), or a reload here may bring it back. Retried as a failed send is, until attempts run out.
      if (!config) return { later: `no channel "${to.channel}" is configured`, type: 'unknown' };
      const disabled = (await store.notifications.disabledChannels()).find((c) => c.name === to.channel);
      if (disabled)
        return { fail: `channel ${to.channel} is disabled: ${disabled.reason}`, type: config.type };
      return {
        // Held from here, so that a reload before the send cannot close it under the send.
        channel: this.hold(this.channel(to.channel)),
        type: config.type,
        close: false,
        gone: async (reason) => {
          const at = clock.now();
          await store.notifications.setChannelDisabled(to.channel, { at, reason }, at);
          const pending = await store.notifications.pendingOf(to.channel);
          await store.notifications.failPending(
            pending.map((r) => r.id),
            reason,
            at,
          );
        },
      };
    }
    if ('subscriber' in to) {
      const address = await this.options.subscriberAddress?.(to.subscriber);
      if (!address) return { fail: `no subscriber ${to.subscriber}`, type: 'subscriber' };
      const target: ContactTarget =
        'email' in address
          ? { type: 'email', address: address.email }
          : { type: 'webhook', url: address.webhook };
      return this.contactChannel(target, async () => undefined);
    }
    const user = await store.security.getUserByName(to.user);
    if (!user) return { fail: `no user "${to.user}"`, type: 'user' };
    if (user.disabledAt !== null) return { fail: `user ${to.user} is disabled`, type: 'user' };
    if (!this.contactMethods)
      return { fail: 'contact methods cannot be opened here (no key ring)', type: 'user' };
    if (to.contactMethod === undefined) {
      const methods = (await store.notifications.contacts.list(user.id)).filter((m) => m.disabledAt === null);
      // Nobody to reach is a failure to see, not a delivery.
      if (methods.length === 0) return { fail: `${to.user} has no enabled contact method`, type: 'user' };
      await store.notifications.enqueue(
        methods.map((m) => ({
          key: `${row.key}/contact-${m.id}`,
          to: { user: to.user, contactMethod: m.id },
          notice: row.notice,
        })),
        clock.now(),
      );
      await store.notifications.markFannedOut(row.id, holder, methods.length, clock.now());
      return { fannedOut: methods.length };
    }
    const method = await store.notifications.contacts.get(to.contactMethod);
    if (!method || method.userId !== user.id)
      return { fail: `${to.user} has no contact method ${to.contactMethod} (removed?)`, type: 'user' };
    if (method.disabledAt !== null)
      return {
        fail: `contact method ${method.id} of ${to.user} is disabled: ${method.disabledReason ?? ''}`,
        type: method.type,
      };
    const methodId = method.id;
    return this.contactChannel(this.contactMethods.open(method), async (reason) => {
      const at = clock.now();
      await store.notifications.contacts.setDisabled(methodId, { at, reason });
      const pending = (await store.notifications.pendingOf(row.channel)).filter(
        (r) => 'user' in r.to && r.to.contactMethod === methodId,
      );
      await store.notifications.failPending(
        pending.map((r) => r.id),
        reason,
        at,
      );
    });
  }

  /** Counts a send on a configured channel. */
  private hold(channel: NotifyChannel): NotifyChannel {
    this.sending.set(channel, (this.sending.get(channel) ?? 0) + 1);
    return channel;
  }

  /** Ends a send {@link hold} counted; the last one on a channel a reload replaced closes it. */
  private async release(channel: NotifyChannel): Promise<void> {
    const left = (this.sending.get(channel) ?? 1) - 1;
    if (left > 0) {
      this.sending.set(channel, left);
      return;
    }
    this.sending.delete(channel);
    if (this.retired.delete(channel)) await channel.close?.().catch(() => undefined);
  }

  private contactChannel(target: ContactTarget, gone: (reason: string) => Promise<void>): Resolved {
    const channel = createContactChannel(target, this.mailer);
    if (typeof channel === 'string') return { fail: channel, type: target.type };
    return { channel, type: target.type, close: true, gone };
  }
}

/** The installation's first email channel: mail to people goes through its SMTP server. */
function mailerOf(channels: ChannelsConfig): EmailChannelConfig | undefined {
  return channels.find((c): c is EmailChannelConfig => c.type === 'email');
}

/** A channel's config as text that does not depend on the order of its keys, to compare two. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
