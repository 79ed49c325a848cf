/** The installation's notification channels: where notices go (webhook, Slack, email, PagerDuty). */
import { z } from 'zod';

/** Every channel of the installation, by name. */
export const channelsSchema = z
  .array(z.strictObject({ name: z.string().min(1), type: z.string().min(1) }))
  .prefault([])
  .describe('Notification channels of the whole installation, each named for policies and escalation steps.');

export type ChannelsConfig = z.output<typeof channelsSchema>;
