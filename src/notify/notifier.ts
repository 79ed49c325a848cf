import type { Logger } from 'pino';
import type { EffectRow, EventRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';

/** A new driver looks this many events back for deliveries its predecessor may not have finished. */
const LOOKBACK_EVENTS = 200;
/** Events read from the store per pass. */
const BATCH = 100;
/** A failed delivery is retried after 1 s, 2 s, 4 s, ... and given up after this many attempts. */
const MAX_ATTEMPTS = 6;
const FIRST_RETRY_MS = 1000;
const MAX_RESPONSE_CHARS = 200;
/** An event older than this when first met is recorded as handled without acting on it (see communicate). */
const COMMUNICATE_WITHIN_MS = 3600_000;

/** One webhook: where events go, which ones, with which extra headers. */
export interface Webhook {
  url: string;
  /** Event types, `kind.*`, or `*`. */
  events: readonly string[];
  headers: Record<string, string>;
}

export interface NotifierOptions {
  /** The unit whose events are sent: `web` or `web@production`. */
  service: string;
  webhooks: readonly Webhook[];
  timeoutMs: number;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** This replica's name, recorded with each delivery. */
  holder: string;
  /**
   * Acts on each event once, before its webhooks (the release communication policy): recorded as
   * done under `UNIT#RELEASE:communicate:EVENT`, so a replica that takes over does not act again. A
   * throw is retried like a failed delivery, and holds the later events back.
   */
  onEvent?: (event: EventRow) => Promise<void>;
}

/** Whether an event type matches a pattern: exact, `kind.*`, or `*`. */
export function eventMatches(type: string, patterns: readonly string[]): boolean {
  return patterns.some(
    (p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))),
  );
}

/**
 * Sends a unit's events to its webhooks, in order, each once per webhook. The events table is its
 * outbox: the engine writes each release transition with the event announcing it in one transaction
 * (Store.updateReleaseWithEvent), and the store writes each event once even when it retries, so every
 * change has exactly one event to send. Every delivery is recorded
 * under an idempotency key (`web#12:notify:0:345`: release, webhook, event) that also goes out as the
 * `Idempotency-Key` header: a replica that takes over skips what is done, and a receiver can drop the
 * one repeat that a crash between sending and recording can cause.
 */
export class Notifier {
  /** Events up to this id are delivered or given up; undefined until the first pass. */
  private cursor: number | undefined;
  private readonly attempts = new Map<string, { count: number; retryAt: number }>();
  private running: Promise<void> | undefined;

  constructor(private readonly options: NotifierOptions) {}

  /** Starts a delivery pass in the background unless one is running. */
  kick(): void {
    this.running ??= this.deliver()
      .catch((err: unknown) => this.options.logger.warn({ err }, 'delivering notifications failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Waits for the pass under way, if any. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Forgets where it was (the lease changed hands): the next pass looks back for unfinished deliveries. */
  reset(): void {
    this.cursor = undefined;
    this.attempts.clear();
  }

  /** Delivers what is due, oldest first; stops at an event whose delivery waits for a retry. */
  async deliver(): Promise<void> {
    const { store, service } = this.options;
    this.cursor ??= Math.max(0, (await store.lastEventId(service)) - LOOKBACK_EVENTS);
    for (;;) {
      const events = await store.listEvents({ service, afterId: this.cursor, limit: BATCH });
      for (const event of events) {
        if (!(await this.deliverEvent(event))) return;
        this.cursor = event.id;
      }
      if (events.length < BATCH) return;
    }
  }

  /** True when every webhook has the event (or gave up on it); false when one waits for a retry. */
  private async deliverEvent(event: EventRow): Promise<boolean> {
    if (this.options.onEvent && !(await this.communicate(event, this.options.onEvent))) return false;
    let settled = true;
    for (const [index, webhook] of this.options.webhooks.entries()) {
      if (!eventMatches(event.type, webhook.events)) continue;
      const key = `${this.options.service}#${event.releaseId ?? '-'}:notify:${index}:${event.id}`;
      if (!(await this.deliverTo(webhook, key, event))) settled = false;
    }
    return settled;
  }

  /** True once `act` has run for the event (now or before), or was given up; false while it waits for a retry. */
  private async communicate(event: EventRow, act: (event: EventRow) => Promise<void>): Promise<boolean> {
    const key = `${this.options.service}#${event.releaseId ?? '-'}:communicate:${event.id}`;
    const stale = this.options.clock.now() - event.at > COMMUNICATE_WITHIN_MS;
    return this.attempt(
      key,
      event,
      { kind: 'communication', type: event.type, ...(stale ? { stale } : {}) },
      async () => {
        // Nobody is paged for last week's rollback: an event this old was written before the policy
        // existed, or while every replica was down for longer than an incident is worth reopening.
        if (stale) return undefined;
        try {
          await act(event);
          return undefined;
        } catch (err) {
          return err instanceof Error ? err.message : String(err);
        }
      },
    );
  }

  private async deliverTo(webhook: Webhook, key: string, event: EventRow): Promise<boolean> {
    return this.attempt(key, event, { url: webhook.url, type: event.type }, () =>
      this.post(webhook, key, event),
    );
  }

  /**
   * Runs `work` for the event under `key` unless its effect is recorded as settled: `started` before,
   * `done` after success; a failure waits 1 s, 2 s, 4 s... and is recorded `failed` after the last attempt.
   */
  private async attempt(
    key: string,
    event: EventRow,
    about: Record<string, unknown>,
    work: () => Promise<string | undefined>,
  ): Promise<boolean> {
    const { store, clock, logger, holder } = this.options;
    const now = clock.now();
    const tried = this.attempts.get(key);
    if (tried && now < tried.retryAt) return false;
    const recorded = await store.getEffect(key);
    if (recorded && recorded.state !== 'started') return true;
    const effect: EffectRow = {
      key,
      service: this.options.service,
      releaseId: event.releaseId,
      kind: 'notification',
      state: 'started',
      holder,
      at: now,
      data: { ...about, event: event.id },
    };
    await store.saveEffect(effect);
    const problem = await work();
    if (problem === undefined) {
      this.attempts.delete(key);
      await store.saveEffect({ ...effect, state: 'done', at: clock.now() });
      return true;
    }
    const count = (tried?.count ?? 0) + 1;
    if (count >= MAX_ATTEMPTS) {
      this.attempts.delete(key);
      logger.error(
        { ...about, event: event.id },
        `notification given up after ${count} attempts: ${problem}`,
      );
      await store.saveEffect({
        ...effect,
        state: 'failed',
        at: clock.now(),
        data: { ...effect.data, problem },
      });
      return true;
    }
    logger.warn({ ...about, event: event.id, attempt: count }, `notification failed: ${problem}`);
    this.attempts.set(key, { count, retryAt: clock.now() + FIRST_RETRY_MS * 2 ** (count - 1) });
    return false;
  }

  /** POSTs the event; undefined on a 2xx answer, else what went wrong. */
  private async post(webhook: Webhook, key: string, event: EventRow): Promise<string | undefined> {
    const [service, environment] = this.options.service.split('@');
    try {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'shipcheck',
          'idempotency-key': key,
          ...webhook.headers,
        },
        body: JSON.stringify({ service, environment: environment ?? null, event }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (res.ok) {
        await res.body?.cancel();
        return undefined;
      }
      const body = (await res.text()).slice(0, MAX_RESPONSE_CHARS);
      return `HTTP ${res.status}${body ? `: ${body}` : ''}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return e.name === 'TimeoutError'
        ? `no answer within ${this.options.timeoutMs} ms`
        : (e.cause?.code ?? e.message);
    }
  }
}
