/**
 * `shipcheck notify ...`: the installation's notification channels and their delivery log, through
 * the API: send a test notice, list channels, read the log, retry a failed notification, enable a
 * channel a 410 disabled.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { ChannelView, NotificationSummary, NotificationView } from '../../api/notification-routes.js';
import { InputError } from '../../errors.js';
import type { ApiShape } from '../api-shapes.js';
import { ApiError, type ApiClient } from '../client.js';
import { type LoginOptions, signIn } from '../sign-in.js';
import { formatTable, formatTime } from '../table.js';
import type { CommandDeps, GlobalOptions, Io } from '../target.js';

/** HTTP 502: the channel's server refused or failed the test notice. */
const BAD_GATEWAY = 502;
const STATES = ['pending', 'delivered', 'failed'];

const notification = z.looseObject({
  id: z.number().int().positive(),
  key: z.string(),
  channel: z.string(),
  state: z.string(),
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: z.number(),
  lastError: z.string().nullable(),
  createdAt: z.number(),
  deliveredAt: z.number().nullable(),
  notice: z.looseObject({ event: z.string(), title: z.string() }),
});
const channel = z.looseObject({
  name: z.string(),
  type: z.string(),
  target: z.string(),
  disabled: z.boolean(),
  disabledReason: z.string().nullable(),
});

/** The API answers these commands read. */
export const notificationShape: ApiShape<NotificationView> = { what: 'a notification', schema: notification };
const notificationsShape: ApiShape<{ notifications: NotificationView[] }> = {
  what: 'the delivery log',
  schema: z.looseObject({ notifications: z.array(notification) }),
};
const channelsShape: ApiShape<{ channels: ChannelView[] }> = {
  what: 'the channels',
  schema: z.looseObject({ channels: z.array(channel) }),
};
const channelShape: ApiShape<ChannelView> = { what: 'a channel', schema: channel };
const testShape: ApiShape<{ delivered: true; notification: NotificationView }> = {
  what: 'a test result',
  schema: z.looseObject({ delivered: z.literal(true), notification }),
};
/** `GET /api/v1/notifications/summary`. */
export const summaryShape: ApiShape<NotificationSummary> = {
  what: 'the notification summary',
  schema: z.looseObject({
    pending: z.number(),
    failed: z.number(),
    disabledChannels: z.array(z.looseObject({ name: z.string(), reason: z.string() })),
  }),
};

type Options = GlobalOptions & LoginOptions;

/** Runs `work` with a signed-in client, and signs out after. */
async function withClient<T>(
  opts: Options,
  work: (client: Awaited<ReturnType<typeof signIn>>['client']) => Promise<T>,
): Promise<T> {
  const { client, end } = await signIn(opts, opts);
  try {
    return await work(client);
  } finally {
    await end();
  }
}

/**
 * `shipcheck notify test CHANNEL`: sends a test notice now. Exit 0 when delivered; exit 1 with
 * `channel NAME: <the server's answer>` when not.
 */
export async function notifyTestCommand(name: string, opts: Options, io: Io): Promise<number> {
  return withClient(opts, async (client) => {
    try {
      const answer = await client.post(`/api/v1/channels/${encodeURIComponent(name)}/test`, {}, testShape);
      io.out(
        opts.json
          ? JSON.stringify(answer, null, 2)
          : `channel ${name}: delivered (notification ${answer.notification.id})`,
      );
      return 0;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== BAD_GATEWAY) throw err;
      io.err(err.message);
      return 1;
    }
  });
}

/** `shipcheck notify channels`: each channel, its type, where it sends, and whether it is disabled. */
export async function notifyChannelsCommand(opts: Options, io: Io): Promise<number> {
  return withClient(opts, async (client) => {
    const { channels } = await client.get('/api/v1/channels', channelsShape);
    if (opts.json) {
      io.out(JSON.stringify({ channels }, null, 2));
      return 0;
    }
    if (channels.length === 0) {
      io.out('no channel is configured (channels: in the control-plane file)');
      return 0;
    }
    const rows = channels.map((c) => [
      c.name,
      c.type,
      c.target,
      c.disabled ? `disabled: ${c.disabledReason ?? ''}` : 'enabled',
    ]);
    formatTable(['NAME', 'TYPE', 'TARGET', 'STATE'], rows).forEach((line) => io.out(line));
    return 0;
  });
}

/** `shipcheck notify log [--channel C] [--state S] [--limit N]`: the delivery log, newest first. */
export async function notifyLogCommand(
  opts: Options & { channel?: string; state?: string; limit?: string },
  io: Io,
): Promise<number> {
  if (opts.state !== undefined && !STATES.includes(opts.state))
    throw new InputError(`--state ${opts.state}: expected one of ${STATES.join(', ')}`);
  const query = new URLSearchParams();
  if (opts.channel !== undefined) query.set('channel', opts.channel);
  if (opts.state !== undefined) query.set('state', opts.state);
  if (opts.limit !== undefined) query.set('limit', opts.limit);
  const q = query.toString();
  return withClient(opts, async (client) => {
    const { notifications } = await client.get(
      `/api/v1/notifications${q ? `?${q}` : ''}`,
      notificationsShape,
    );
    if (opts.json) {
      io.out(JSON.stringify({ notifications }, null, 2));
      return 0;
    }
    const rows = notifications.map((n) => [
      String(n.id),
      formatTime(n.createdAt),
      n.channel,
      n.notice.event,
      n.state,
      String(n.attempts),
      n.state === 'delivered' ? formatTime(n.deliveredAt) : (n.lastError ?? '-'),
    ]);
    formatTable(
      ['ID', 'CREATED', 'TO', 'EVENT', 'STATE', 'ATTEMPTS', 'DELIVERED / LAST ERROR'],
      rows,
    ).forEach((line) => io.out(line));
    return 0;
  });
}

/** `shipcheck notify retry ID`: a failed notification goes back to pending. */
export async function notifyRetryCommand(id: string, opts: Options, io: Io): Promise<number> {
  return withClient(opts, async (client) => {
    const row = await client.post(
      `/api/v1/notifications/${encodeURIComponent(id)}/retry`,
      {},
      notificationShape,
    );
    io.out(
      opts.json ? JSON.stringify(row, null, 2) : `notification ${row.id} to ${row.channel} is pending again`,
    );
    return 0;
  });
}

/** `shipcheck notify enable CHANNEL`: sends to a channel a 410 disabled again. */
export async function notifyEnableCommand(name: string, opts: Options, io: Io): Promise<number> {
  return withClient(opts, async (client) => {
    const view = await client.post(`/api/v1/channels/${encodeURIComponent(name)}/enable`, {}, channelShape);
    io.out(opts.json ? JSON.stringify(view, null, 2) : `channel ${view.name} is enabled`);
    return 0;
  });
}

/**
 * Warnings about notifications that did not go out (for `shipcheck status`): failed ones and disabled
 * channels. None when the server answers nothing (an older server, a role that may not read them).
 */
export async function notificationWarnings(client: ApiClient): Promise<string[]> {
  let summary: NotificationSummary;
  try {
    summary = await client.get('/api/v1/notifications/summary', summaryShape);
  } catch {
    return [];
  }
  const warnings: string[] = [];
  if (summary.failed > 0)
    warnings.push(
      `warning: ${summary.failed} notification${summary.failed === 1 ? '' : 's'} could not be delivered; see "shipcheck notify log --state failed"`,
    );
  for (const channel of summary.disabledChannels)
    warnings.push(
      `warning: channel ${channel.name} is disabled (${channel.reason}); "shipcheck notify enable ${channel.name}" sends to it again`,
    );
  return warnings;
}

/** What registering the commands needs of main.ts. */
/** Adds `shipcheck notify ...` to `program`. */
export function registerNotifyCommands(program: Command, deps: CommandDeps): void {
  const { io, globals, run, withLogin } = deps;
  const notify = program
    .command('notify')
    .description('notification channels and their delivery log: test, channels, log, retry, enable');
  withLogin(notify.command('test <channel>').description('send a test notice through a channel now')).action(
    run(async (name: string, o: LoginOptions) => notifyTestCommand(name, { ...globals(), ...o }, io)),
  );
  withLogin(
    notify.command('channels').description('the channels, where they send, and which are disabled'),
  ).action(run(async (o: LoginOptions) => notifyChannelsCommand({ ...globals(), ...o }, io)));
  withLogin(
    notify
      .command('log')
      .description('the delivery log, newest first')
      .option('--channel <name>', 'one channel (or user:NAME, subscriber:ID)')
      .option('--state <state>', 'pending, delivered or failed')
      .option('--limit <n>', 'how many entries (default 50, at most 500)'),
  ).action(
    run(async (o: LoginOptions & { channel?: string; state?: string; limit?: string }) =>
      notifyLogCommand({ ...globals(), ...o }, io),
    ),
  );
  withLogin(notify.command('retry <id>').description('send a failed notification again')).action(
    run(async (id: string, o: LoginOptions) => notifyRetryCommand(id, { ...globals(), ...o }, io)),
  );
  withLogin(
    notify.command('enable <channel>').description('enable a channel a 410 Gone answer disabled'),
  ).action(
    run(async (name: string, o: LoginOptions) => notifyEnableCommand(name, { ...globals(), ...o }, io)),
  );
}
