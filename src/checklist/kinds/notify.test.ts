import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { testContext } from '../../../test/support/check-context.js';
import { type Receiver, startReceiver } from '../../../test/support/notify-peers.js';
import { NotificationDispatcher } from '../../comms/notification-dispatcher.js';
import { type ChannelsConfig, channelsSchema } from '../../config/channels-schema.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { ManualClock } from '../../util/clock.js';
import { notifyCheck } from './notify.js';

const receivers: Receiver[] = [];
let store: SqliteStore | undefined;
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
  await store?.close();
});

async function tester(
  channels: (url: string) => ChannelsConfig,
  answer: Parameters<typeof startReceiver>[0],
) {
  const receiver = await startReceiver(answer);
  receivers.push(receiver);
  store = SqliteStore.open(':memory:');
  await store.migrate();
  const dispatcher = new NotificationDispatcher({
    store,
    channels: channels(receiver.url),
    clock: new ManualClock(),
    logger: pino({ level: 'silent' }),
    holder: 'test',
  });
  return { dispatcher, receiver, store };
}

const hooks = (url: string): ChannelsConfig =>
  channelsSchema.parse([
    { name: 'ops', type: 'webhook', url: `${url}/ops`, headers: {}, timeout: '5s' },
    { name: 'chat', type: 'slack', url: `${url}/chat`, timeout: '5s' },
  ]);

describe('notify check: the alerting channels work', () => {
  it('passes when a test notice reaches every channel, each recorded in the delivery log', async () => {
    const { dispatcher, receiver, store } = await tester(hooks, () => ({ status: 200, body: 'ok' }));
    const result = await notifyCheck.run(notifyCheck.params.parse({}), testContext({ notify: dispatcher }));
    expect(result).toMatchObject({
      ok: true,
      value: 2,
      summary: 'a test notice reached all 2 channels: ops, chat',
    });
    expect(receiver.received.map((r) => r.path)).toEqual(['/ops', '/chat']);
    expect((await store.notifications.list()).map((n) => [n.channel, n.state])).toEqual([
      ['chat', 'delivered'],
      ['ops', 'delivered'],
    ]);
  });

  it("fails with the server's answer, and tests only the channels it names", async () => {
    const { dispatcher } = await tester(hooks, (request) =>
      request.path === '/chat' ? { status: 403, body: 'invalid_token' } : { status: 200 },
    );
    const all = await notifyCheck.run(notifyCheck.params.parse({}), testContext({ notify: dispatcher }));
    expect(all).toMatchObject({ ok: false, summary: 'channel chat: HTTP 403: invalid_token' });
    expect(all.inconclusive).toBeUndefined();
    const named = await notifyCheck.run(
      notifyCheck.params.parse({ channels: ['ops'] }),
      testContext({ notify: dispatcher }),
    );
    expect(named).toMatchObject({ ok: true, summary: 'a test notice reached channel ops' });
    const unknown = await notifyCheck.run(
      notifyCheck.params.parse({ channels: ['pager'] }),
      testContext({ notify: dispatcher }),
    );
    expect(unknown.summary).toMatch(/^channel pager: no channel "pager"; the channels are ops, chat/);
  });

  it('is inconclusive when no channel is configured', async () => {
    const { dispatcher } = await tester(
      () => [],
      () => ({ status: 200 }),
    );
    for (const context of [testContext(), testContext({ notify: dispatcher })])
      expect(await notifyCheck.run(notifyCheck.params.parse({}), context)).toMatchObject({
        ok: false,
        inconclusive: true,
      });
  });
});
