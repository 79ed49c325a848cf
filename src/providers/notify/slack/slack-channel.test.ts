import { afterEach, describe, expect, it } from 'vitest';
import {
  type Receiver,
  closedUrl,
  httpContractPeer,
  startReceiver,
} from '../../../../test/support/notify-peers.js';
import { REFUSAL, runNotifyChannelContract } from '../notify-channel.case.js';
import { SlackChannel } from './slack-channel.js';

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** Answers as Slack's incoming webhooks do: `ok`, or 400 `invalid_payload` when text or blocks are wrong. */
function slackLike(body: string): { status: number; body: string } {
  const message = JSON.parse(body) as { text?: unknown; blocks?: { type?: unknown }[] };
  const valid =
    typeof message.text === 'string' &&
    Array.isArray(message.blocks) &&
    message.blocks.every((b) =>
      ['header', 'section', 'context', 'divider', 'actions'].includes(String(b.type)),
    );
  return valid ? { status: 200, body: 'ok' } : { status: 400, body: 'invalid_payload' };
}

describe('SlackChannel', () => {
  it('posts text and blocks: a header with the title, the text, and a link to the notice', async () => {
    receiver = await startReceiver((request) => slackLike(request.body));
    const channel = new SlackChannel({ url: `${receiver.url}/services/T000/B000/XXXX`, timeoutMs: 5000 });
    const result = await channel.send(
      {
        event: 'release.succeeded',
        title: 'web 1.4.2 is live',
        text: 'every step passed',
        severity: 'info',
        service: 'web',
        url: 'https://shipcheck.example.com/releases/3',
      },
      { id: 'n-1', at: Date.now() },
    );
    expect(result).toMatchObject({ delivered: true, status: 200 });
    const message = JSON.parse(receiver.received[0]!.body) as {
      text: string;
      blocks: { type: string; text?: { text: string } }[];
    };
    expect(message.text).toContain('web 1.4.2 is live');
    expect(message.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'web 1.4.2 is live', emoji: true },
    });
    expect(message.blocks[1]?.text?.text).toContain('every step passed');
    expect(message.blocks.at(-1)?.text?.text).toBe(
      '<https://shipcheck.example.com/releases/3|Open in shipcheck>',
    );
    expect(channel.target).toBe(receiver.url);
  });

  it("carries Slack's answer when refused", async () => {
    receiver = await startReceiver(() => ({ status: 404, body: 'no_service' }));
    const channel = new SlackChannel({ url: receiver.url, timeoutMs: 5000 });
    const result = await channel.send(
      { event: 'test', title: 't', text: 'x', severity: 'info' },
      { id: 'n-2', at: Date.now() },
    );
    expect(result).toEqual({ delivered: false, status: 404, error: 'HTTP 404: no_service' });
  });
});

runNotifyChannelContract('slack', async () => {
  const peer = await httpContractPeer(REFUSAL);
  const secret = 'XXXXSECRETPART';
  return {
    channel: new SlackChannel({ url: `${peer.url}/services/T000/B000/${secret}`, timeoutMs: 5000 }),
    unreachable: new SlackChannel({ url: await closedUrl(), timeoutMs: 5000 }),
    peer,
    secret,
  };
});
