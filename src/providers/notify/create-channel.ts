import type { ChannelConfig, EmailChannelConfig } from '../../config/channels-schema.js';
import { EmailChannel, type SmtpSettings } from './email/email-channel.js';
import { PagerDutyChannel } from './pagerduty/pagerduty-channel.js';
import { SlackChannel } from './slack/slack-channel.js';
import type { NotifyChannel } from './types.js';
import { WebhookChannel } from './webhook/webhook-channel.js';

/** PagerDuty's Events API, when a contact method names no other. */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com';
/** How long a contact method's delivery may take (they have no config of their own). */
export const CONTACT_TIMEOUT_MS = 10_000;

/** A user's contact method as sent: its type and its opened (plain) values. */
export type ContactTarget =
  | { type: 'email'; address: string }
  | { type: 'webhook'; url: string; secret?: string }
  | { type: 'slack'; url: string }
  | { type: 'pagerduty'; routingKey: string; url?: string };

/** The SMTP settings of an email channel config. */
export function smtpOf(config: EmailChannelConfig): SmtpSettings {
  if (config.url !== undefined) return { url: config.url };
  const smtp = config.smtp!;
  return { host: smtp.host, port: smtp.port, secure: smtp.secure, user: smtp.user, password: smtp.password };
}

/** The channel a `channels:` entry describes. */
export function createChannel(config: ChannelConfig): NotifyChannel {
  switch (config.type) {
    case 'webhook':
      return new WebhookChannel({
        url: config.url,
        secrets: [...(config.secrets ?? []), ...(config.secret !== undefined ? [config.secret] : [])],
        headers: config.headers,
        timeoutMs: config.timeout,
      });
    case 'slack':
      return new SlackChannel({ url: config.url, timeoutMs: config.timeout });
    case 'email':
      return new EmailChannel({
        smtp: smtpOf(config),
        from: config.from,
        to: config.to,
        timeoutMs: config.timeout,
      });
    case 'pagerduty':
      return new PagerDutyChannel({
        routingKey: config.routingKey,
        url: config.url,
        timeoutMs: config.timeout,
      });
  }
}

/**
 * The channel that reaches one contact method (of a user, or a status-page subscriber). Mail goes
 * through the SMTP server and sender of `mailer`, the installation's first email channel; without one
 * it cannot go, and the answer says why.
 */
export function createContactChannel(
  target: ContactTarget,
  mailer: EmailChannelConfig | undefined,
): NotifyChannel | string {
  switch (target.type) {
    case 'email':
      if (mailer === undefined)
        return 'no channel of type email is configured, and mail to people goes through the first one';
      return new EmailChannel({
        smtp: smtpOf(mailer),
        from: mailer.from,
        to: [target.address],
        timeoutMs: mailer.timeout,
      });
    case 'webhook':
      return new WebhookChannel({
        url: target.url,
        secrets: target.secret !== undefined ? [target.secret] : [],
        timeoutMs: CONTACT_TIMEOUT_MS,
      });
    case 'slack':
      return new SlackChannel({ url: target.url, timeoutMs: CONTACT_TIMEOUT_MS });
    case 'pagerduty':
      return new PagerDutyChannel({
        routingKey: target.routingKey,
        url: target.url ?? PAGERDUTY_EVENTS_URL,
        timeoutMs: CONTACT_TIMEOUT_MS,
      });
  }
}
