import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PG_URL,
  REQUIRE_REAL,
  probePostgres,
  testSchemas,
  unreachableMessage,
} from '../../test/support/postgres.js';
import { type Receiver, startReceiver, startSmtp } from '../../test/support/notify-peers.js';
import { type ChannelsConfig, channelsSchema } from '../config/channels-schema.js';
import { loadKeyRing } from '../security/key-ring.js';
import type { Sealer } from '../security/sealed-params.js';
import { open, seal } from '../security/secret-box.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { ContactMethods } from './contact-methods.js';
import {
  DEFAULT_RETRY,
  NotificationDispatcher,
  backoffMs,
  type DispatcherOptions,
} from './notification-dispatcher.js';
import { NotificationMetrics } from './notification-metrics.js';
import type { NewNotification } from './types.js';

const logger = pino({ level: 'silent' });
let dir: string;
const receivers: Receiver[] = [];
const stores: Store[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-dispatch-'));
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
  for (const s of stores.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function receiver(answer?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}

async function sqlite(file = path.join(dir, 'store.db')): Promise<Store> {
  const store = SqliteStore.open(file);
  await store.migrate();
  stores.push(store);
  return store;
}

function sealer(): Sealer {
  const ring = loadKeyRing({ env: {}, file: path.join(dir, 'master.key'), now: Date.now() });
  return { seal: (text, aad) => seal(ring, text, aad), open: (sealed, aad) => open(ring, sealed, aad) };
}

function webhookChannel(name: string, url: string): ChannelsConfig[number] {
  return channelsSchema.parse([{ name, type: 'webhook', url, timeout: '5s' }])[0]!;
}

const notice = {
  event: 'release.rolled_back',
  title: 'web rolled back',
  text: 'error rate 21%',
  severity: 'error' as const,
};

function dispatcher(
  store: Store,
  channels: ChannelsConfig,
  extra: Partial<DispatcherOptions> = {},
): NotificationDispatcher {
  return new NotificationDispatcher({
    store,
    channels,
    clock: new ManualClock(),
    logger,
    holder: 'replica-a',
    random: () => 1,
    ...extra,
  });
}

async function enqueue(store: Store, items: NewNotification[], at: number): Promise<number[]> {
  return store.notifications.enqueue(items, at);
}

describe('backoffMs', () => {
  it('waits a random time up to base * 2^(attempt-1), capped', () => {
    const policy = { baseMs: 2000, capMs: 600_000, maxAttempts: 8 };
    expect([1, 2, 3, 4].map((n) => backoffMs(n, policy, () => 1))).toEqual([2000, 4000, 8000, 16000]);
    expect(backoffMs(20, policy, () => 1)).toBe(600_000);
    expect(backoffMs(3, policy, () => 0.5)).toBe(4000);
    expect(backoffMs(3, policy, () => 0)).toBe(0);
  });
});

describe('NotificationDispatcher', () => {
  it('retries with backoff from the durable row, then delivers', async () => {
    let answers = 0;
    const hook = await receiver(() => (++answers <= 2 ? { status: 503, body: 'busy' } : { status: 200 }));
    const store = await sqlite();
    const clock = new ManualClock();
    const d = dispatcher(store, [webhookChannel('ops', hook.url)], { clock, random: () => 0.5 });
    const [id] = await enqueue(store, [{ key: 'k1', to: { channel: 'ops' }, notice }], clock.now());

    expect(await d.deliverDue()).toBe(1);
    let row = (await store.notifications.get(id!))!;
    expect(row).toMatchObject({ state: 'pending', attempts: 1, lastError: 'HTTP 503: busy' });
    expect(row.nextAttemptAt).toBe(clock.now() + 1000);

    // Not due yet: nothing is sent.
    clock.advance(999);
    expect(await d.deliverDue()).toBe(0);
    clock.advance(1);
    await d.deliverDue();
    row = (await store.notifications.get(id!))!;
    expect(row).toMatchObject({ state: 'pending', attempts: 2 });
    expect(row.nextAttemptAt).toBe(clock.now() + 2000);

    clock.advance(2000);
    await d.deliverDue();
    row = (await store.notifications.get(id!))!;
    expect(row).toMatchObject({ state: 'delivered', attempts: 3, lastError: null, deliveredAt: clock.now() });
    expect(hook.received.map((r) => r.headers['webhook-id'])).toEqual(['k1', 'k1', 'k1']);
  });

  it('gives up after the last attempt: failed with its last error, counted, never lost silently', async () => {
    const hook = await receiver(() => ({ status: 500, body: 'boom' }));
    const store = await sqlite();
    const clock = new ManualClock();
    const registry = new Registry();
    // The channel allows 3 attempts instead of the default 8.
    const [ops] = channelsSchema.parse([{ name: 'ops', type: 'webhook', url: hook.url, maxAttempts: 3 }]);
    const d = dispatcher(store, [ops!], { clock, metrics: new NotificationMetrics(registry) });
    const [id] = await enqueue(store, [{ key: 'k', to: { channel: 'ops' }, notice }], clock.now());
    for (let i = 0; i < 3; i++) {
      await d.deliverDue();
      clock.advance(DEFAULT_RETRY.capMs);
    }
    expect(await store.notifications.get(id!)).toMatchObject({
      state: 'failed',
      attempts: 3,
      lastError: 'HTTP 500: boom',
    });
    expect(await store.notifications.counts()).toEqual({ pending: 0, failed: 1 });
    const metrics = await registry.metrics();
    expect(metrics).toContain('shipcheck_notifications_failed_total{type="webhook"} 1');
    expect(metrics).toContain('shipcheck_notification_attempts_total{type="webhook",outcome="retry"} 2');
    expect(await d.deliverDue()).toBe(0);
    expect(hook.received).toHaveLength(3);

    // Sent back to pending, it goes again.
    hook.answer = () => ({ status: 200 });
    expect(await store.notifications.retry(id!, clock.now())).toBe(true);
    await d.deliverDue();
    expect(await store.notifications.get(id!)).toMatchObject({ state: 'delivered', attempts: 1 });
  });

  it('sends after a restart what was pending: a new dispatcher on the same SQLite file', async () => {
    const hook = await receiver(() => ({ status: 503, body: 'down' }));
    const file = path.join(dir, 'restart.db');
    const clock = new ManualClock();
    const first = await sqlite(file);
    await enqueue(
      first,
      [
        { key: 'a', to: { channel: 'ops' }, notice },
        { key: 'b', to: { channel: 'ops' }, notice },
      ],
      clock.now(),
    );
    await dispatcher(first, [webhookChannel('ops', hook.url)], { clock }).deliverDue();
    // A sender killed while it held a claim: the row stays claimed until the claim lapses.
    await first.notifications.claim(2, 'killed', clock.now(), clock.now() + 60_000);
    await first.close();
    stores.splice(stores.indexOf(first), 1);

    hook.answer = () => ({ status: 200 });
    clock.advance(2000);
    const second = await sqlite(file);
    const d = dispatcher(second, [webhookChannel('ops', hook.url)], { clock, holder: 'replica-b' });
    await d.deliverDue();
    expect((await second.notifications.list()).map((r) => [r.key, r.state])).toEqual([
      ['b', 'pending'],
      ['a', 'delivered'],
    ]);
    clock.advance(60_000);
    await d.deliverDue();
    expect((await second.notifications.list()).map((r) => r.state)).toEqual(['delivered', 'delivered']);
  });

  it('disables an endpoint that answers 410: the row and every pending one fail with the reason, nothing more is sent', async () => {
    const hook = await receiver(() => ({ status: 410, body: 'this hook was deleted' }));
    const store = await sqlite();
    const clock = new ManualClock();
    const d = dispatcher(store, [webhookChannel('ops', hook.url)], { clock });
    await enqueue(
      store,
      ['1', '2', '3'].map((key) => ({ key, to: { channel: 'ops' }, notice })),
      clock.now(),
    );
    await d.deliverDue();
    expect(hook.received).toHaveLength(1);
    const rows = await store.notifications.list();
    expect(rows.map((r) => r.state)).toEqual(['failed', 'failed', 'failed']);
    const reason = 'HTTP 410: this hook was deleted (the endpoint is gone: disabled until enabled again)';
    expect(rows.every((r) => r.lastError === reason)).toBe(true);
    expect(await store.notifications.disabledChannels()).toEqual([{ name: 'ops', at: clock.now(), reason }]);

    await enqueue(store, [{ key: '4', to: { channel: 'ops' }, notice }], clock.now());
    await d.deliverDue();
    expect(hook.received).toHaveLength(1);
    expect((await store.notifications.list({ limit: 1 }))[0]).toMatchObject({
      state: 'failed',
      lastError: `channel ops is disabled: ${reason}`,
    });
    await expect(d.sendTest('ops')).rejects.toThrow('channel ops is disabled');

    hook.answer = () => ({ status: 200 });
    await d.enable('ops');
    expect(await d.sendTest('ops')).toMatchObject({ delivered: true });
  });

  it("fans a user's notification out to each contact method, each delivered and logged on its own", async () => {
    const store = await sqlite();
    const clock = new ManualClock();
    const smtp = await startSmtp({ user: 'u', password: 'p' });
    const hook = await receiver(() => ({ status: 500, body: 'not now' }));
    const keys = sealer();
    const user = await store.security.createUser({
      name: 'alice',
      email: null,
      passwordHash: null,
      grants: [],
      groups: [],
      source: 'local',
      subject: null,
      createdAt: clock.now(),
    });
    const methods = new ContactMethods(store.notifications, keys);
    const mail = await methods.add(user.id, { type: 'email', address: 'alice@example.com' }, clock.now());
    const web = await methods.add(user.id, { type: 'webhook', url: `${hook.url}/alice` }, clock.now());
    const [email] = channelsSchema.parse([
      {
        name: 'mail',
        type: 'email',
        smtp: { host: '127.0.0.1', port: smtp.port, user: 'u', password: 'p' },
        from: 'shipcheck@example.com',
        to: ['team@example.com'],
      },
    ]);
    try {
      const d = dispatcher(store, [email!], { clock, sealer: keys });
      const [parent] = await enqueue(store, [{ key: 'page-1', to: { user: 'alice' }, notice }], clock.now());
      await d.deliverDue();
      expect(await store.notifications.get(parent!)).toMatchObject({
        state: 'delivered',
        lastError: 'fanned out to 2 contact method(s)',
      });
      const children = (await store.notifications.list({ channel: 'user:alice' })).filter(
        (r) => r.id !== parent,
      );
      expect(children.map((r) => [r.key, r.to, r.state])).toEqual([
        [`page-1/contact-${web.id}`, { user: 'alice', contactMethod: web.id }, 'pending'],
        [`page-1/contact-${mail.id}`, { user: 'alice', contactMethod: mail.id }, 'delivered'],
      ]);
      // Mail to a person goes through the first email channel's server and sender, not to its list.
      expect(smtp.mails.map((m) => [m.from, m.to])).toEqual([
        ['shipcheck@example.com', ['alice@example.com']],
      ]);

      // The webhook is retried on its own.
      hook.answer = () => ({ status: 200 });
      clock.advance(DEFAULT_RETRY.baseMs);
      await d.deliverDue();
      expect((await store.notifications.list({ state: 'pending' })).length).toBe(0);
      expect(smtp.mails).toHaveLength(1);

      // A 410 disables the method, as it does a channel.
      hook.answer = () => ({ status: 410, body: 'gone' });
      await enqueue(
        store,
        [{ key: 'page-2', to: { user: 'alice', contactMethod: web.id }, notice }],
        clock.now(),
      );
      await d.deliverDue();
      expect(await store.notifications.contacts.get(web.id)).toMatchObject({
        disabledReason: expect.stringContaining('HTTP 410: gone'),
      });

      // With no enabled method left, a notification to the user fails where it can be seen.
      await store.notifications.contacts.setDisabled(mail.id, { at: clock.now(), reason: 'test' });
      const [none] = await enqueue(store, [{ key: 'page-3', to: { user: 'alice' }, notice }], clock.now());
      await d.deliverDue();
      expect(await store.notifications.get(none!)).toMatchObject({
        state: 'failed',
        lastError: 'alice has no enabled contact method',
      });

      // The stored method holds its URL sealed only.
      const stored = await store.notifications.contacts.get(web.id);
      expect(stored!.sealed).not.toContain(hook.url);
      expect(stored!.shown).toBe(hook.url);
    } finally {
      await smtp.close();
    }
  });

  it('fails mail to a person with a clear reason when no email channel is configured', async () => {
    const store = await sqlite();
    const clock = new ManualClock();
    const d = dispatcher(store, [], {
      clock,
      subscriberAddress: async (id) => new Map([[7, { email: 'reader@example.com' }]]).get(id),
    });
    await enqueue(
      store,
      [
        { key: 's7', to: { subscriber: 7 }, notice },
        { key: 's8', to: { subscriber: 8 }, notice },
      ],
      clock.now(),
    );
    await d.deliverDue();
    expect((await store.notifications.list()).map((r) => [r.channel, r.state, r.lastError])).toEqual([
      ['subscriber:8', 'failed', 'no subscriber 8'],
      [
        'subscriber:7',
        'failed',
        'no channel of type email is configured, and mail to people goes through the first one',
      ],
    ]);
  });

  it("sends to a status-page subscriber's webhook", async () => {
    const hook = await receiver();
    const store = await sqlite();
    const d = dispatcher(store, [], { subscriberAddress: async () => ({ webhook: `${hook.url}/sub` }) });
    await enqueue(store, [{ key: 'sub-1', to: { subscriber: 1 }, notice }], new ManualClock().now());
    await d.deliverDue();
    expect(hook.received.map((r) => r.path)).toEqual(['/sub']);
  });
});

const problem = await probePostgres();
const schemas = testSchemas('sc_notify');
afterAll(() => schemas.dropAll());

describe.skipIf(problem !== undefined && !REQUIRE_REAL)('NotificationDispatcher on PostgreSQL', () => {
  it('never lets two dispatchers on one schema both send a row', async () => {
    if (problem !== undefined) throw new Error(unreachableMessage(problem));
    const schema = await schemas.create();
    const [a, b] = [PostgresStore.open(PG_URL, { schema }), PostgresStore.open(PG_URL, { schema })];
    stores.push(a, b);
    await a.migrate();
    await b.migrate();
    const hook = await receiver();
    const clock = new ManualClock();
    const count = 40;
    await enqueue(
      a,
      Array.from({ length: count }, (_, i) => ({ key: `n${i}`, to: { channel: 'ops' }, notice })),
      clock.now(),
    );
    const channels = [webhookChannel('ops', hook.url)];
    const first = dispatcher(a, channels, { clock, holder: 'replica-a' });
    const second = dispatcher(b, channels, { clock, holder: 'replica-b' });
    const [sentA, sentB] = await Promise.all([first.deliverDue(), second.deliverDue()]);
    expect(sentA + sentB).toBe(count);
    const ids = hook.received.map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(count);
    expect(new Set(ids).size).toBe(count);
    expect((await a.notifications.counts()).pending).toBe(0);

    // The claim itself: only one of two compare-and-sets on one row wins.
    const [id] = await enqueue(a, [{ key: 'one', to: { channel: 'ops' }, notice }], clock.now());
    const wins = await Promise.all([
      a.notifications.claim(id!, 'replica-a', clock.now(), clock.now() + 1000),
      b.notifications.claim(id!, 'replica-b', clock.now(), clock.now() + 1000),
    ]);
    expect(wins.filter(Boolean)).toHaveLength(1);
    // A lapsed claim is taken over.
    expect(await b.notifications.claim(id!, 'replica-b', clock.now() + 1001, clock.now() + 2000)).toBe(true);
  });
});
