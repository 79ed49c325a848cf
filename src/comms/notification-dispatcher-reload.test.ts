/**
 * Replacing the dispatcher's channels, as a reload does: on a real SQLite store, sending to real HTTP
 * receivers that check the Standard Webhooks signatures.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../../test/support/notify-peers.js';
import { type ChannelsConfig, channelsSchema } from '../config/channels-schema.js';
import { NotFoundError } from '../errors.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { NotificationDispatcher } from './notification-dispatcher.js';

const logger = pino({ level: 'silent' });
const OLD_SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;
const NEW_SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;
const notice = {
  event: 'release.rolled_back',
  title: 'web rolled back',
  text: 'x',
  severity: 'error' as const,
};

let dir: string;
const closers: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-dispatch-reload-'));
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function sqlite(): Promise<Store> {
  const store = SqliteStore.open(path.join(dir, 'store.db'));
  await store.migrate();
  closers.push(() => store.close());
  return store;
}

/** A receiver that answers 204 to a request signed with `secret`, 401 otherwise. */
async function verifying(secret: string): Promise<Receiver> {
  const receiver = await startReceiver((request) => {
    try {
      new Webhook(secret).verify(request.body, request.headers);
      return { status: 204 };
    } catch {
      return { status: 401, body: 'invalid signature' };
    }
  });
  closers.push(() => receiver.close());
  return receiver;
}

function channels(list: unknown[]): ChannelsConfig {
  return channelsSchema.parse(list);
}

/** A manual clock at the real time: a Standard Webhooks receiver refuses a timestamp far from its own. */
function clockNow(): ManualClock {
  return new ManualClock(Date.now());
}

function dispatcher(store: Store, config: ChannelsConfig, clock = clockNow()): NotificationDispatcher {
  const d = new NotificationDispatcher({ store, channels: config, clock, logger, holder: 'replica-a' });
  closers.push(() => d.stop());
  return d;
}

describe('NotificationDispatcher.replaceChannels', () => {
  it('adds, rebuilds a changed channel with its new URL and secret, keeps an unchanged one, and removes one', async () => {
    const a = await verifying(OLD_SECRET);
    const b = await verifying(NEW_SECRET);
    const chat = await verifying(OLD_SECRET);
    const store = await sqlite();
    const clock = clockNow();
    const keep = { name: 'keep', type: 'webhook', url: chat.url, secret: OLD_SECRET, timeout: '5s' };
    const d = dispatcher(
      store,
      channels([{ name: 'ops', type: 'webhook', url: a.url, secret: OLD_SECRET, timeout: '5s' }, keep]),
      clock,
    );
    expect(await d.sendTest('ops')).toMatchObject({ delivered: true });
    expect(a.received).toHaveLength(1);
    const kept = d.channel('keep');

    // The rotation: the new secret first, the old one still signing while receivers move over.
    const changes = await d.replaceChannels(
      channels([
        { name: 'ops', type: 'webhook', url: b.url, secrets: [NEW_SECRET, OLD_SECRET], timeout: '5s' },
        // The same config written in another order is no change.
        { timeout: '5s', secret: OLD_SECRET, url: chat.url, type: 'webhook', name: 'keep' },
        { name: 'pager', type: 'webhook', url: chat.url, secret: OLD_SECRET, timeout: '5s' },
      ]),
    );
    expect(changes).toEqual({ added: ['pager'], changed: ['ops'], removed: [] });
    expect(d.channels.map((c) => c.name)).toEqual(['ops', 'keep', 'pager']);
    expect(d.channel('keep')).toBe(kept);

    expect(await d.sendTest('ops')).toMatchObject({ delivered: true });
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(1);
    // Signed with both secrets: B (new) accepted it above, and a receiver still on the old one would too.
    const signed = b.received[0]!;
    expect(signed.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(OLD_SECRET).verify(signed.body, signed.headers)).not.toThrow();
    expect(await d.sendTest('pager')).toMatchObject({ delivered: true });

    // A row waiting for a channel that a reload then removes is retried when due (another replica may
    // not have reloaded yet, and could still send it), and fails once its attempts run out, saying why.
    const [waiting] = await store.notifications.enqueue(
      [{ key: 'k1', to: { channel: 'ops' }, notice }],
      clock.now(),
    );
    expect(await d.replaceChannels(channels([keep]))).toEqual({
      added: [],
      changed: [],
      removed: ['ops', 'pager'],
    });
    await expect(d.sendTest('ops')).rejects.toThrow(NotFoundError);
    await expect(d.sendTest('ops')).rejects.toThrow('no channel "ops"; the channels are keep');
    await d.deliverDue();
    expect(await store.notifications.get(waiting!)).toMatchObject({
      state: 'pending',
      attempts: 1,
      lastError: 'no channel "ops" is configured',
    });
    for (let i = 0; i < 10; i++) {
      clock.advance(11 * 60_000);
      await d.deliverDue();
    }
    expect(await store.notifications.get(waiting!)).toMatchObject({
      state: 'failed',
      attempts: 8,
      lastError: 'no channel "ops" is configured',
    });
    expect(b.received).toHaveLength(1);
  });

  it('delivers a row to a channel this replica does not have yet once a reload adds it', async () => {
    const late = await verifying(NEW_SECRET);
    const store = await sqlite();
    const clock = clockNow();
    const d = dispatcher(store, channels([]), clock);
    // Given a row another replica queued for its new channel, before this one reloaded
    const [id] = await store.notifications.enqueue(
      [{ key: 'k2', to: { channel: 'pager' }, notice }],
      clock.now(),
    );
    await d.deliverDue();
    expect(await store.notifications.get(id!)).toMatchObject({ state: 'pending', attempts: 1 });
    // When this replica reloads with the channel, then the row's next attempt delivers it
    await d.replaceChannels(
      channels([{ name: 'pager', type: 'webhook', url: late.url, secret: NEW_SECRET, timeout: '5s' }]),
    );
    clock.advance(3_000);
    await d.deliverDue();
    expect(await store.notifications.get(id!)).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(late.received).toHaveLength(1);
  });

  it('lets a delivery in flight finish on the channel it started on, and closes that channel after it', async () => {
    // A receiver that holds its answers until told.
    const requests: string[] = [];
    let answer: (() => void) | undefined;
    const held = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      req.resume();
      answer = () => res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          held.closeAllConnections();
          held.close(() => resolve());
        }),
    );
    const heldUrl = `http://127.0.0.1:${(held.address() as AddressInfo).port}`;
    const b = await verifying(OLD_SECRET);
    const store = await sqlite();
    const clock = clockNow();
    const d = dispatcher(
      store,
      channels([{ name: 'ops', type: 'webhook', url: `${heldUrl}/old`, secret: OLD_SECRET, timeout: '30s' }]),
      clock,
    );
    // Watch the old channel object's close (it has none of its own: the dispatcher may call one).
    const old = d.channel('ops');
    const closed: string[] = [];
    old.close = async () => {
      closed.push('ops');
    };
    const [id] = await store.notifications.enqueue(
      [{ key: 'k1', to: { channel: 'ops' }, notice }],
      clock.now(),
    );
    const round = d.deliverDue();
    await waitUntil(() => answer !== undefined);

    expect(
      await d.replaceChannels(
        channels([{ name: 'ops', type: 'webhook', url: b.url, secret: OLD_SECRET, timeout: '5s' }]),
      ),
    ).toEqual({ added: [], changed: ['ops'], removed: [] });
    expect(closed).toEqual([]);
    answer!();
    await round;
    expect(await store.notifications.get(id!)).toMatchObject({ state: 'delivered' });
    expect(requests).toEqual(['/old']);
    expect(closed).toEqual(['ops']);

    expect(await d.sendTest('ops')).toMatchObject({ delivered: true });
    expect(b.received).toHaveLength(1);
    expect(requests).toHaveLength(1);
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error('timed out waiting');
}
