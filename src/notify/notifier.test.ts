import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { Notifier, type Webhook, eventMatches } from './notifier.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-notify-'));
let n = 0;

/** A webhook receiver that answers with the next status from `script` (then 200), and keeps what it got. */
interface Receiver {
  url: string;
  got: { key: string; type: string; service: string; environment: string | null }[];
  script: number[];
}

let server: http.Server;
const receiver: Receiver = { url: '', got: [], script: [] };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const status = receiver.script.shift() ?? 200;
      if (status === 200) {
        const parsed = JSON.parse(body) as {
          service: string;
          environment: string | null;
          event: { type: string };
        };
        receiver.got.push({
          key: String(req.headers['idempotency-key']),
          type: parsed.event.type,
          service: parsed.service,
          environment: parsed.environment,
        });
      }
      res.writeHead(status).end(status === 200 ? 'ok' : 'try later');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function setup(
  service = 'web',
): Promise<{ store: Store; clock: ManualClock; notifier: (holder: string, events?: string[]) => Notifier }> {
  const store = SqliteStore.open(path.join(dir, `state-${n++}.db`));
  await store.migrate();
  const clock = new ManualClock(1_000_000);
  receiver.got = [];
  receiver.script = [];
  const notifier = (holder: string, events = ['release.*']): Notifier => {
    const webhooks: Webhook[] = [{ url: receiver.url, events, headers: {} }];
    return new Notifier({
      service,
      webhooks,
      timeoutMs: 2000,
      store,
      clock,
      logger: pino({ level: 'silent' }),
      holder,
    });
  };
  return { store, clock, notifier };
}

async function event(store: Store, type: string, service = 'web'): Promise<number> {
  return (await store.addEvent({ service, releaseId: 7, at: 1, type, message: type, data: {} })).id;
}

describe('eventMatches', () => {
  it('takes exact types, kind.* and *', () => {
    expect(eventMatches('release.succeeded', ['release.*'])).toBe(true);
    expect(eventMatches('release.succeeded', ['release.rolled_back'])).toBe(false);
    expect(eventMatches('alert.firing', ['release.*', 'alert.firing'])).toBe(true);
    expect(eventMatches('checklist.item', ['*'])).toBe(true);
    expect(eventMatches('releases.x', ['release.*'])).toBe(false);
  });
});

describe('Notifier', () => {
  it('sends each matching event once, in order, with its idempotency key and the environment', async () => {
    const { store, notifier } = await setup('web@production');
    const one = await event(store, 'release.created', 'web@production');
    await event(store, 'checklist.item', 'web@production');
    const three = await event(store, 'release.succeeded', 'web@production');
    await event(store, 'release.created', 'api');
    const sender = notifier('a');
    await sender.deliver();
    await sender.deliver();
    expect(receiver.got).toEqual([
      {
        key: `web@production#7:notify:0:${one}`,
        type: 'release.created',
        service: 'web',
        environment: 'production',
      },
      {
        key: `web@production#7:notify:0:${three}`,
        type: 'release.succeeded',
        service: 'web',
        environment: 'production',
      },
    ]);
    const effects = await store.listEffects(7);
    expect(effects.map((e) => [e.kind, e.state, e.holder])).toEqual([
      ['notification', 'done', 'a'],
      ['notification', 'done', 'a'],
    ]);
    await store.close();
  });

  it('retries a refused delivery later, holding back the events after it', async () => {
    const { store, clock, notifier } = await setup();
    const one = await event(store, 'release.created');
    const two = await event(store, 'release.weight');
    receiver.script = [503];
    const sender = notifier('a');
    await sender.deliver();
    expect(receiver.got).toEqual([]);
    await sender.deliver();
    expect(receiver.got).toEqual([]);
    clock.advance(1000);
    await sender.deliver();
    expect(receiver.got.map((g) => g.key)).toEqual([`web#7:notify:0:${one}`, `web#7:notify:0:${two}`]);
    await store.close();
  });

  it('gives up after repeated failures and records it, then goes on', async () => {
    const { store, clock, notifier } = await setup();
    const one = await event(store, 'release.created');
    const two = await event(store, 'release.succeeded');
    receiver.script = [500, 500, 500, 500, 500, 500];
    const sender = notifier('a');
    for (let i = 0; i < 8; i++) {
      await sender.deliver();
      clock.advance(60_000);
    }
    expect(receiver.got.map((g) => g.key)).toEqual([`web#7:notify:0:${two}`]);
    expect((await store.getEffect(`web#7:notify:0:${one}`))?.state).toBe('failed');
    await store.close();
  });

  it('lets a replica that takes over send only what was not delivered', async () => {
    const { store, notifier } = await setup();
    const one = await event(store, 'release.created');
    await notifier('a').deliver();
    const two = await event(store, 'release.weight');
    // The old holder recorded the start of a delivery and died before it could finish.
    await store.saveEffect({
      key: `web#7:notify:0:${two}`,
      service: 'web',
      releaseId: 7,
      kind: 'notification',
      state: 'started',
      holder: 'a',
      at: 1,
      data: {},
    });
    const three = await event(store, 'release.succeeded');
    await notifier('b').deliver();
    expect(receiver.got.map((g) => g.key)).toEqual([
      `web#7:notify:0:${one}`,
      `web#7:notify:0:${two}`,
      `web#7:notify:0:${three}`,
    ]);
    await store.close();
  });

  it('acts on each event once before its webhooks, retries a failed act, and a successor does not act again', async () => {
    const { store, clock } = await setup();
    const one = await event(store, 'release.created');
    const two = await event(store, 'release.rolling_back');
    const acted: number[] = [];
    let failNext = true;
    const communicator = (holder: string): Notifier =>
      new Notifier({
        service: 'web',
        webhooks: [{ url: receiver.url, events: ['release.*'], headers: {} }],
        timeoutMs: 2000,
        store,
        clock,
        logger: pino({ level: 'silent' }),
        holder,
        onEvent: async (e) => {
          if (e.id === two && failNext) {
            failNext = false;
            throw new Error('status page store busy');
          }
          acted.push(e.id);
        },
      });
    const first = communicator('a');
    await first.deliver();
    // The second event waits for its retry, and so does its webhook
    expect(acted).toEqual([one]);
    expect(receiver.got.map((g) => g.type)).toEqual(['release.created']);
    clock.advance(1000);
    await first.deliver();
    expect(acted).toEqual([one, two]);
    expect(receiver.got.map((g) => g.type)).toEqual(['release.created', 'release.rolling_back']);
    // A replica that takes over looks back, and finds both acts recorded as done
    await communicator('b').deliver();
    expect(acted).toEqual([one, two]);
    const recorded = await store.getEffect(`web#7:communicate:${two}`);
    expect(recorded).toMatchObject({ state: 'done', holder: 'a' });
  });

  it('records an event older than an hour as handled without acting on it, so an upgrade pages nobody for old rollbacks', async () => {
    const { store, clock } = await setup();
    const old = await store.addEvent({
      service: 'web',
      releaseId: 7,
      at: clock.now() - 2 * 3600_000,
      type: 'release.rolling_back',
      message: 'old',
      data: {},
    });
    const fresh = await event(store, 'release.created'); // written 1,000 s before now
    await store.addEvent({
      service: 'web',
      releaseId: 7,
      at: clock.now(),
      type: 'release.rolled_back',
      message: 'now',
      data: {},
    });
    const acted: number[] = [];
    const notifier = new Notifier({
      service: 'web',
      webhooks: [],
      timeoutMs: 2000,
      store,
      clock,
      logger: pino({ level: 'silent' }),
      holder: 'a',
      onEvent: async (e) => {
        acted.push(e.id);
      },
    });
    await notifier.deliver();
    expect(acted).not.toContain(old.id);
    expect(acted[0]).toBe(fresh);
    expect(acted).toHaveLength(2);
    expect(await store.getEffect(`web#7:communicate:${old.id}`)).toMatchObject({
      state: 'done',
      data: { stale: true },
    });
  });
});
