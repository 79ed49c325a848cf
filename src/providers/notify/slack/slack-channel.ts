import type { Notice, Severity } from '../../../comms/types.js';
import { hostOf, postJson } from '../http-post.js';
import type { DeliveryResult, NotifyChannel, SendContext } from '../types.js';

/** Slack caps a header block's text at 150 characters. */
const MAX_HEADER_CHARS = 150;
/** A mark before the title, by severity. */
const MARK: Record<Severity, string> = {
  critical: ':rotating_light:',
  error: ':red_circle:',
  warning: ':warning:',
  info: ':information_source:',
};

/** The Slack incoming-webhook message for a notice: `text` for notifications, blocks for the channel. */
export function slackMessage(notice: Notice): { text: string; blocks: unknown[] } {
  const header = `${notice.title}`.slice(0, MAX_HEADER_CHARS);
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: header, emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: `${MARK[notice.severity]} ${notice.text}` } },
  ];
  const facts = [
    notice.service ? `*service* ${notice.service}` : undefined,
    `*event* ${notice.event}`,
    `*severity* ${notice.severity}`,
  ].filter((f): f is string => f !== undefined);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: facts.join('  ·  ') }] });
  if (notice.url)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `<${notice.url}|Open in shipcheck>` },
    });
  return { text: `${notice.title}: ${notice.text}${notice.url ? ` ${notice.url}` : ''}`, blocks };
}

/** Posts notices to a Slack incoming webhook. */
export class SlackChannel implements NotifyChannel {
  readonly type = 'slack';
  readonly target: string;

  constructor(private readonly options: { url: string; timeoutMs: number }) {
    this.target = hostOf(options.url);
  }

  async send(notice: Notice, _context: SendContext): Promise<DeliveryResult> {
    return postJson(this.options.url, JSON.stringify(slackMessage(notice)), {
      timeoutMs: this.options.timeoutMs,
    });
  }
}
