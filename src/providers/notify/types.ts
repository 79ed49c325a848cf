/**
 * The contract of a notification channel: it renders a channel-neutral notice (comms/types.ts) in its
 * own format and delivers it once. A failed delivery is data (a DeliveryResult), never a throw, so the
 * dispatcher can record it and retry.
 */
import type { Notice } from '../../comms/types.js';

/** What one attempt to deliver achieved. */
export type DeliveryResult =
  | { delivered: true; status?: number; detail?: string }
  | {
      delivered: false;
      /** One line a person can act on, with the server's answer: `HTTP 401: invalid token`. */
      error: string;
      /** The HTTP status, or the SMTP reply code, when the peer answered. */
      status?: number;
      /** The endpoint said it is gone for good (HTTP 410): stop sending to it. */
      gone?: boolean;
    };

/** What a send knows besides the notice. */
export interface SendContext {
  /** Stable across retries of one notification (its key): the webhook id, the idempotency key. */
  id: string;
  /** The time of this attempt, epoch ms (the webhook timestamp). */
  at: number;
}

/**
 * Carries notices to one destination. Implementations: webhook/, slack/, email/, pagerduty/.
 * `send` never throws for a peer's failure: it resolves to `delivered: false` with the peer's answer.
 * Sending the same `context.id` twice is a retry: receivers may use it to drop the repeat.
 */
export interface NotifyChannel {
  /** Stable id used in config and logs, e.g. 'webhook'. */
  readonly type: string;
  /** Where it sends, safe to show (host only, no secret). */
  readonly target: string;
  /** Delivers `notice` once. */
  send(notice: Notice, context: SendContext): Promise<DeliveryResult>;
  /** Releases what it holds (SMTP connections); idempotent. */
  close?(): Promise<void>;
}
