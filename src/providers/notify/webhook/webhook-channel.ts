import type { Notice } from '../../../comms/types.js';
import { hostOf, postJson } from '../http-post.js';
import type { DeliveryResult, NotifyChannel, SendContext } from '../types.js';
import { webhookHeaders } from './signature.js';

/** What a webhook channel needs. */
export interface WebhookChannelOptions {
  url: string;
  /** Signing secrets (`whsec_...`), newest first; none sends the notice unsigned. */
  secrets: readonly string[];
  headers?: Record<string, string>;
  timeoutMs: number;
}

/** The JSON body a webhook receives: the notice, with its id and when it was sent. */
export function webhookBody(notice: Notice, context: SendContext): string {
  return JSON.stringify({
    id: context.id,
    type: notice.event,
    timestamp: new Date(context.at).toISOString(),
    data: notice,
  });
}

/** POSTs each notice as JSON, signed the Standard Webhooks way; an HTTP 410 answer means the endpoint is gone. */
export class WebhookChannel implements NotifyChannel {
  readonly type = 'webhook';
  readonly target: string;

  constructor(private readonly options: WebhookChannelOptions) {
    this.target = hostOf(options.url);
  }

  async send(notice: Notice, context: SendContext): Promise<DeliveryResult> {
    const body = webhookBody(notice, context);
    const signed = webhookHeaders(this.options.secrets, context.id, Math.floor(context.at / 1000), body);
    return postJson(this.options.url, body, {
      headers: { ...this.options.headers, ...signed },
      timeoutMs: this.options.timeoutMs,
    });
  }
}
