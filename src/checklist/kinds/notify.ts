import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import type { CheckKind, CheckResult } from '../types.js';

const notifyParamsSchema = z.strictObject({
  channels: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe('The channels to test, by name; every configured channel when absent.'),
});

/** Validated `notify` params. */
export type NotifyParams = z.output<typeof notifyParamsSchema>;

/**
 * `notify`: the seed's "alerting channels work". Sends a test notice through each channel now (each
 * is recorded in the delivery log) and passes when every one is delivered; fails with the server's
 * answer otherwise. Inconclusive when no channel is configured, for a person to sign.
 */
export const notifyCheck: CheckKind<NotifyParams> = {
  kind: 'notify',
  params: notifyParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const tester = context.notify;
    const configured = tester?.channels.map((c) => c.name) ?? [];
    if (tester === undefined || configured.length === 0)
      return {
        ok: false,
        inconclusive: true,
        summary:
          'no notification channel is configured (channels: in the control-plane file); sign once alerts reach people',
      };
    const names = params.channels ?? configured;
    const results: { channel: string; delivered: boolean; error?: string; notification?: number }[] = [];
    for (const name of names) {
      try {
        const outcome = await tester.sendTest(name);
        results.push({
          channel: name,
          delivered: outcome.delivered,
          notification: outcome.notification.id,
          ...(outcome.error !== undefined ? { error: outcome.error } : {}),
        });
      } catch (err) {
        results.push({ channel: name, delivered: false, error: errorMessage(err) });
      }
    }
    const failed = results.filter((r) => !r.delivered);
    return {
      ok: failed.length === 0,
      summary:
        failed.length === 0
          ? `a test notice reached ${names.length === 1 ? `channel ${names[0]}` : `all ${names.length} channels: ${names.join(', ')}`}`
          : failed.map((r) => `channel ${r.channel}: ${r.error ?? 'not delivered'}`).join('; '),
      value: results.length - failed.length,
      data: { channels: results },
    };
  },
};
