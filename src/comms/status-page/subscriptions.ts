/**
 * The status page's subscribers: subscribing an email address or a webhook endpoint with a
 * confirmation link (double opt-in), confirming, one-click unsubscribing, and the notice of every
 * incident and maintenance update queued in the notification outbox for each confirmed subscriber.
 */
import crypto from 'node:crypto';
import type { NewNotification, Notice, Severity } from '../types.js';
import { InputError, NotFoundError, TooManyRequestsError } from '../../errors.js';
import type {
  PageIncidentRow,
  PageIncidentUpdateRow,
  SubscriberKind,
  SubscriberRow,
} from '../../store/status-page-store.js';
import type { Store } from '../../store/types.js';
import type { Clock } from '../../util/clock.js';
import type { StatusPageConfig } from '../../config/status-page-schema.js';
import { type Impact, statusWords } from './derive.js';

/** Subscriptions one client (address) may ask for per window. */
const SUBSCRIBE_PER_CLIENT = 5;
const SUBSCRIBE_WINDOW_MS = 10 * 60_000;
/** New pending subscriptions the whole page takes per hour: a bound on confirmation mail. */
const PENDING_PER_HOUR = 200;
/** A pending subscriber asked again gets a new confirmation at most this often. */
const RESEND_AFTER_MS = 10 * 60_000;
const EMAIL = /^[^\s@<>()",;:]{1,64}@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;

/** What Subscriptions needs. */
export interface SubscriptionsOptions {
  config: NonNullable<StatusPageConfig>;
  store: Store;
  clock: Clock;
  /** Where the public reaches the page, without a trailing slash. */
  pageUrl: () => string;
}

/** The page's subscribers. */
export class Subscriptions {
  /** Recent asks by client address, for the per-client bound. */
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly options: SubscriptionsOptions) {}

  private get pageUrl(): string {
    return this.options.pageUrl();
  }

  /**
   * Subscribes an email address or a webhook endpoint: a pending subscriber and a confirmation sent
   * to it (a link holding a random token). Answers the same whatever the address's state, so it never
   * tells whether an address is subscribed. `client` (the caller's address) bounds how often one
   * client may ask; the page bounds how many confirmations go out per hour (TooManyRequestsError).
   */
  async subscribe(input: { email?: string; endpoint?: string }, client: string): Promise<void> {
    let kind: SubscriberKind;
    let address: string;
    if (input.email !== undefined && input.endpoint === undefined) {
      kind = 'email';
      address = input.email.trim().toLowerCase();
      if (address.length > 254 || !EMAIL.test(address))
        throw new InputError(`"${input.email}" is not an email address`);
    } else if (input.endpoint !== undefined && input.email === undefined) {
      kind = 'webhook';
      address = input.endpoint.trim();
      let url: URL;
      try {
        url = new URL(address);
      } catch {
        throw new InputError(`"${input.endpoint}" is not a URL; give the endpoint as https://...`);
      }
      if (
        (url.protocol !== 'https:' && url.protocol !== 'http:') ||
        address.length > 2000 ||
        url.username ||
        url.password
      )
        throw new InputError(
          'the endpoint must be an http(s) URL without credentials, at most 2000 characters',
        );
    } else throw new InputError('give subscriber[email] or subscriber[endpoint], one of them');

    const now = this.options.clock.now();
    const times = (this.recent.get(client) ?? []).filter((t) => t > now - SUBSCRIBE_WINDOW_MS);
    if (times.length >= SUBSCRIBE_PER_CLIENT)
      throw new TooManyRequestsError(
        'too many subscriptions asked from this address; try again later',
        (times[0] as number) + SUBSCRIBE_WINDOW_MS - now,
      );
    if ((await this.options.store.statusPage.pendingSince(now - 3_600_000)) >= PENDING_PER_HOUR)
      throw new TooManyRequestsError(
        'the page takes no more subscriptions this hour; try again later',
        3_600_000,
      );
    times.push(now);
    this.recent.set(client, times);
    if (this.recent.size > 10_000) this.recent.clear();

    const { subscriber, confirmToken } = await this.options.store.statusPage.subscribe(
      kind,
      address,
      now,
      RESEND_AFTER_MS,
    );
    if (confirmToken === undefined) return;
    const confirmUrl = `${this.pageUrl}/subscribe/confirm?token=${encodeURIComponent(confirmToken)}`;
    const notice: Notice = {
      event: 'status_page.subscription_confirm',
      title: `Confirm your subscription to ${this.options.config.name}`,
      text:
        `Someone asked for ${this.options.config.name}'s incident and maintenance updates to be sent to ${address}. ` +
        `To confirm, open ${confirmUrl}\nIf it was not you, ignore this message: nothing will be sent.`,
      severity: 'info',
      url: confirmUrl,
      data: { confirmUrl, page: this.options.config.name, unsubscribeUrl: this.unsubscribeUrl(subscriber) },
    };
    await this.options.store.notifications.enqueue(
      [
        {
          key: `status-page:confirm:${subscriber.id}:${crypto.createHash('sha256').update(confirmToken).digest('hex').slice(0, 16)}`,
          to: { subscriber: subscriber.id },
          notice,
        },
      ],
      now,
    );
  }

  /** How many subscribers there are, by kind and state (never who). */
  async subscriberCounts(): Promise<{ kind: string; state: string; count: number }[]> {
    return this.options.store.statusPage.subscriberCounts();
  }

  /** Confirms a subscription by its link's token; NotFoundError for an unknown or used one. */
  async confirm(token: string): Promise<SubscriberRow> {
    const subscriber = await this.options.store.statusPage.confirm(token, this.options.clock.now());
    if (!subscriber) throw new NotFoundError('this confirmation link is unknown or was used already');
    return subscriber;
  }

  /** The pending subscriber a confirmation link's token would confirm (nothing changes); undefined for an unknown or used one. */
  async pendingByConfirmToken(token: string): Promise<SubscriberRow | undefined> {
    return this.options.store.statusPage.pendingByConfirmToken(token);
  }

  /** The subscriber an unsubscribe link's token belongs to (nothing changes); undefined for an unknown one. */
  async byUnsubscribeToken(token: string): Promise<SubscriberRow | undefined> {
    return this.options.store.statusPage.subscriberByUnsubscribeToken(token);
  }

  /** Unsubscribes by the token of a notice's link; NotFoundError for an unknown token. */
  async unsubscribe(token: string): Promise<void> {
    const done = await this.options.store.statusPage.unsubscribe(token, this.options.clock.now());
    if (!done) throw new NotFoundError('this unsubscribe link is unknown');
  }

  /** The one-click unsubscribe link of a subscriber's notices. */
  unsubscribeUrl(subscriber: SubscriberRow): string {
    return `${this.pageUrl}/unsubscribe?token=${encodeURIComponent(subscriber.unsubscribeToken)}`;
  }

  /** Enqueues the incident's newest update for every confirmed subscriber (keys: update id and subscriber id). */
  async notifySubscribers(
    incident: PageIncidentRow,
    what: 'created' | 'updated' | 'resolved',
  ): Promise<number> {
    const update = incident.updates[0];
    if (!update) return 0;
    let afterId = 0;
    let count = 0;
    for (;;) {
      const page = await this.options.store.statusPage.confirmedSubscribers(afterId, 500);
      if (page.length === 0) return count;
      const items: NewNotification[] = page.map((subscriber) => ({
        key: `status-page:update:${update.publicId}:subscriber:${subscriber.id}`,
        to: { subscriber: subscriber.id },
        notice: this.noticeOf(incident, update, what, subscriber),
      }));
      await this.options.store.notifications.enqueue(items, this.options.clock.now());
      count += items.length;
      afterId = (page[page.length - 1] as SubscriberRow).id;
    }
  }

  private noticeOf(
    incident: PageIncidentRow,
    update: PageIncidentUpdateRow,
    what: 'created' | 'updated' | 'resolved',
    subscriber: SubscriberRow,
  ): Notice {
    const unsubscribeUrl = this.unsubscribeUrl(subscriber);
    const url = `${this.pageUrl}#${incident.kind}-${incident.publicId}`;
    return {
      event: `status_page.${incident.kind}.${what}`,
      title: `[${this.options.config.name}] ${incident.name}: ${statusWords(update.status)}`,
      text: `${update.body}\n\n${url}\nUnsubscribe: ${unsubscribeUrl}`,
      severity: severityOf(incident.impact),
      url,
      data: {
        unsubscribeUrl,
        page: this.options.config.name,
        incident: incident.publicId,
        kind: incident.kind,
        status: update.status,
        impact: incident.impact,
        components: incident.components,
      },
    };
  }
}

function severityOf(impact: string): Severity {
  switch (impact as Impact) {
    case 'critical':
      return 'critical';
    case 'major':
      return 'error';
    case 'minor':
      return 'warning';
    default:
      return 'info';
  }
}

/**
 * A subscriber's address as the link pages show it: enough for its owner to recognise, not the whole
 * of it (a forwarded link shows little). `ann@example.com` is `a…@example.com`; an endpoint is its
 * scheme and host, `https://hooks.example.com/…`.
 */
export function maskedAddress(subscriber: Pick<SubscriberRow, 'kind' | 'address'>): string {
  if (subscriber.kind === 'email') {
    const at = subscriber.address.lastIndexOf('@');
    if (at <= 0) return '…';
    return `${subscriber.address.slice(0, 1)}…${subscriber.address.slice(at)}`;
  }
  try {
    const url = new URL(subscriber.address);
    return `${url.protocol}//${url.host}/…`;
  } catch {
    return '…';
  }
}
