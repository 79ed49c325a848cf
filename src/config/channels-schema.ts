/** The installation's notification channels: where notices go (webhook, Slack, email, PagerDuty). */
import { z } from 'zod';
import { duration } from './schema-values.js';
import { orSecret } from './secret-ref.js';

/** A Standard Webhooks signing secret: `whsec_` and the base64 of the key. */
const WHSEC = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** A Standard Webhooks signing secret, plain or as a secret reference. */
export const whsecSchema = orSecret(
  z
    .string()
    .regex(
      WHSEC,
      'expected a Standard Webhooks secret: whsec_ and base64, e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    ),
);

const httpUrl = z
  .string()
  .url('expected an absolute URL')
  .regex(/^https?:\/\//, 'expected an http:// or https:// URL');

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/i, 'a name is letters, digits, - and _, e.g. ops-hook')
  .describe('The name policies, escalation steps and the CLI use for the channel.');

const timeout = duration.prefault('10s').describe('Longest one delivery may take.');

/** Attempts before a notification is given up, by default. */
export const DEFAULT_MAX_ATTEMPTS = 8;

const maxAttempts = z
  .number()
  .int()
  .min(1)
  .max(50)
  .prefault(DEFAULT_MAX_ATTEMPTS)
  .describe(
    'Attempts before a notification to this channel is given up (failed); retries back off from 2s up to 10m.',
  );

const webhookChannel = z.strictObject({
  name,
  type: z.literal('webhook'),
  url: orSecret(httpUrl).describe('Where each notice is POSTed as JSON.'),
  secret: whsecSchema.optional().describe('The Standard Webhooks signing secret (whsec_...).'),
  secrets: z
    .array(whsecSchema)
    .min(1)
    .optional()
    .describe('Several signing secrets while rotating, newest first: one v1 signature per secret.'),
  headers: z
    .record(z.string(), orSecret(z.string()))
    .prefault({})
    .describe('Extra request headers, e.g. Authorization; a value may be a secret reference.'),
  timeout,
  maxAttempts,
});

const slackChannel = z.strictObject({
  name,
  type: z.literal('slack'),
  url: orSecret(httpUrl).describe('The Slack incoming-webhook URL (https://hooks.slack.com/services/...).'),
  timeout,
  maxAttempts,
});

const smtpSchema = z
  .strictObject({
    host: z.string().min(1).describe('The SMTP server.'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .prefault(587)
      .describe('Its port: 587 (STARTTLS), 465 (TLS) or 25.'),
    secure: z
      .boolean()
      .optional()
      .describe('TLS from the first byte (port 465); STARTTLS is used when offered otherwise.'),
    user: z.string().min(1).optional().describe('The user name to sign in with.'),
    password: orSecret(z.string().min(1)).optional().describe('The password; a secret reference is best.'),
  })
  .describe('The SMTP server mail goes through.');

const emailChannel = z
  .strictObject({
    name,
    type: z.literal('email'),
    smtp: smtpSchema.optional(),
    url: orSecret(z.string().regex(/^smtps?:\/\//, 'expected smtp://user:password@host:port or smtps://...'))
      .optional()
      .describe('The SMTP server as one URL, instead of smtp.'),
    from: z.string().min(3).describe('The sender, e.g. "shipcheck <shipcheck@example.com>".'),
    to: z.array(z.string().min(3)).min(1).describe('Who receives this channel’s mail.'),
    timeout,
    maxAttempts,
  })
  .refine((c) => (c.smtp === undefined) !== (c.url === undefined), {
    message: 'give either smtp: {host, port, ...} or url: smtp://...',
  });

const pagerdutyChannel = z.strictObject({
  name,
  type: z.literal('pagerduty'),
  routingKey: orSecret(z.string().min(1)).describe(
    'The integration (routing) key of an Events API v2 integration.',
  ),
  url: httpUrl.prefault('https://events.pagerduty.com').describe('The Events API base URL.'),
  timeout,
  maxAttempts,
});

/** One channel: a discriminated union over `type`. */
export const channelSchema = z.discriminatedUnion('type', [
  webhookChannel,
  slackChannel,
  emailChannel,
  pagerdutyChannel,
]);

/** Every channel of the installation, by name. */
export const channelsSchema = z
  .array(channelSchema)
  .prefault([])
  .superRefine((channels, ctx) => {
    const seen = new Set<string>();
    channels.forEach((channel, index) => {
      if (seen.has(channel.name))
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `channel name "${channel.name}" is used twice`,
        });
      seen.add(channel.name);
    });
  })
  .describe('Notification channels of the whole installation, each named for policies and escalation steps.');

/** The validated `channels:` list. */
export type ChannelsConfig = z.output<typeof channelsSchema>;
/** One configured channel. */
export type ChannelConfig = ChannelsConfig[number];
/** The SMTP settings of an email channel. */
export type EmailChannelConfig = Extract<ChannelConfig, { type: 'email' }>;
