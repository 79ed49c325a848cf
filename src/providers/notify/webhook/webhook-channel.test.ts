import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Receiver,
  closedUrl,
  httpContractPeer,
  startReceiver,
} from '../../../../test/support/notify-peers.js';
import { REFUSAL, runNotifyChannelContract } from '../notify-channel.case.js';
import type { Notice } from '../../../comms/types.js';
import { WebhookChannel } from './webhook-channel.js';

const notice: Notice = {
  event: 'release.rolled_back',
  title: 'web 1.4.2 rolled back',
  text: 'error_rate 21.4% > 5% for 5s on canary',
  severity: 'error',
  service: 'web',
  url: 'https://shipcheck.example.com/releases/12',
};

function newSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64')}`;
}

let receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers) await r.close();
  receivers = [];
});

/** A receiver that verifies each request with the standardwebhooks package and each given secret. */
async function verifyingReceiver(secrets: string[]): Promise<Receiver & { verifiedWith: number[] }> {
  const verifiedWith: number[] = [];
  const receiver = await startReceiver((request) => {
    const index = secrets.findIndex((secret) => {
      try {
        new Webhook(secret).verify(request.body, request.headers);
        return true;
      } catch {
        return false;
      }
    });
    verifiedWith.push(index);
    return index < 0 ? { status: 401, body: 'invalid signature' } : { status: 204 };
  });
  receivers.push(receiver);
  return Object.assign(receiver, { verifiedWith });
}

describe('WebhookChannel', () => {
  it('signs the Standard Webhooks way: a receiver with the secret verifies the notice', async () => {
    const secret = newSecret();
    const receiver = await verifyingReceiver([secret]);
    const channel = new WebhookChannel({ url: `${receiver.url}/hook`, secrets: [secret], timeoutMs: 5000 });
    const result = await channel.send(notice, { id: 'notification-1', at: Date.now() });
    expect(result).toMatchObject({ delivered: true, status: 204 });
    expect(receiver.verifiedWith).toEqual([0]);
    const [request] = receiver.received;
    expect(request?.headers['webhook-id']).toBe('notification-1');
    expect(JSON.parse(request!.body)).toMatchObject({
      id: 'notification-1',
      type: 'release.rolled_back',
      data: notice,
    });
    expect(channel.target).toBe(receiver.url);
  });

  it('keeps the webhook id across retries, so a receiver can drop a repeat', async () => {
    const secret = newSecret();
    const receiver = await verifyingReceiver([secret]);
    const channel = new WebhookChannel({ url: receiver.url, secrets: [secret], timeoutMs: 5000 });
    await channel.send(notice, { id: 'k-7', at: Date.now() });
    await channel.send(notice, { id: 'k-7', at: Date.now() + 1000 });
    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual(['k-7', 'k-7']);
  });

  it('sends one signature per secret while rotating: receivers on the old or the new secret verify', async () => {
    const [fresh, old] = [newSecret(), newSecret()];
    const onOld = await verifyingReceiver([old]);
    const onNew = await verifyingReceiver([fresh]);
    for (const receiver of [onOld, onNew]) {
      const channel = new WebhookChannel({ url: receiver.url, secrets: [fresh, old], timeoutMs: 5000 });
      expect(await channel.send(notice, { id: 'rotating', at: Date.now() })).toMatchObject({
        delivered: true,
      });
      expect(receiver.received[0]?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    }
    expect(onOld.verifiedWith).toEqual([0]);
    expect(onNew.verifiedWith).toEqual([0]);
  });

  it("carries the server's answer when refused, and says a 410 means gone", async () => {
    const receiver = await verifyingReceiver([newSecret()]);
    const channel = new WebhookChannel({ url: receiver.url, secrets: [newSecret()], timeoutMs: 5000 });
    expect(await channel.send(notice, { id: 'x', at: Date.now() })).toEqual({
      delivered: false,
      status: 401,
      error: 'HTTP 401: invalid signature',
    });
    receiver.answer = () => ({ status: 410, body: 'endpoint removed' });
    expect(await channel.send(notice, { id: 'x', at: Date.now() })).toEqual({
      delivered: false,
      status: 410,
      gone: true,
      error: 'HTTP 410: endpoint removed',
    });
  });

  it('says why nothing answered', async () => {
    const receiver = await startReceiver();
    const url = receiver.url;
    await receiver.close();
    const channel = new WebhookChannel({ url, secrets: [], timeoutMs: 5000 });
    const result = await channel.send(notice, { id: 'x', at: Date.now() });
    expect(result.delivered).toBe(false);
    expect(!result.delivered && result.error).toMatch(/ECONNREFUSED/);
  });
});

runNotifyChannelContract('webhook', async () => {
  const peer = await httpContractPeer(REFUSAL, 204);
  const secret = 'hook-token-s3cret';
  return {
    channel: new WebhookChannel({
      url: `${peer.url}/hook?token=${secret}`,
      secrets: [newSecret()],
      timeoutMs: 5000,
    }),
    unreachable: new WebhookChannel({ url: await closedUrl(), secrets: [], timeoutMs: 5000 }),
    peer,
    secret,
  };
});
