import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminToken, createFirstAdmin } from '../support/auth.js';
import { type Receiver, startReceiver, startSmtp } from '../support/notify-peers.js';
import { type SecuredApi, startSecuredApi } from '../support/secured-api.js';
import { ApiClient } from '../../src/cli/client.js';
import { notificationWarnings } from '../../src/cli/commands/notify.js';
import { channelsSchema } from '../../src/config/channels-schema.js';
import { runCli } from './harness.js';

const SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;

let api: SecuredApi;
let hook: Receiver;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let env: Record<string, string>;
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-cli-notify-'));

beforeAll(async () => {
  hook = await startReceiver((request) => {
    try {
      new Webhook(SECRET).verify(request.body, request.headers);
      return { status: 204 };
    } catch {
      return { status: 401, body: 'invalid token' };
    }
  });
  smtp = await startSmtp({ user: 'mailer', password: 'right-password' });
  api = await startSecuredApi({
    channels: channelsSchema.parse([
      { name: 'ops-hook', type: 'webhook', url: hook.url, secret: SECRET, headers: {}, timeout: '5s' },
      {
        name: 'team-mail',
        type: 'email',
        smtp: { host: '127.0.0.1', port: smtp.port, user: 'mailer', password: 'wrong-password' },
        from: 'shipcheck@example.com',
        to: ['team@example.com'],
        timeout: '5s',
      },
    ]),
  });
  const admin = await createFirstAdmin(api.url, api.security.setup.code!, 'admin');
  env = { SHIPCHECK_URL: api.url, SHIPCHECK_TOKEN: await createAdminToken(api.url, admin) };
});
afterAll(async () => {
  await api.close();
  await hook.close();
  await smtp.close();
  fs.rmSync(cwd, { recursive: true, force: true });
});

describe('shipcheck notify', () => {
  it('given a webhook channel whose receiver verifies signatures, when tested, then it exits 0', async () => {
    const result = await runCli(['notify', 'test', 'ops-hook'], { cwd, env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^channel ops-hook: delivered \(notification \d+\)\n$/);
    expect(hook.received).toHaveLength(1);
  });

  it("given an email channel with a wrong password, when tested, then it exits 1 with the server's answer", async () => {
    const result = await runCli(['notify', 'test', 'team-mail'], { cwd, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^channel team-mail: SMTP 535: 535 Invalid username or password\n$/);
    expect(smtp.mails).toHaveLength(0);
  });

  it('lists channels and the delivery log, and retries a failed notification', async () => {
    const channels = await runCli(['notify', 'channels'], { cwd, env });
    expect(channels.code).toBe(0);
    expect(channels.stdout).toMatch(/ops-hook\s+webhook\s+http:\/\/127\.0\.0\.1:\d+\s+enabled/);
    expect(channels.stdout).toContain(`smtp://127.0.0.1:${smtp.port} to team@example.com`);

    const log = await runCli(['notify', 'log', '--state', 'failed', '--json'], { cwd, env });
    expect(log.code).toBe(0);
    const { notifications } = JSON.parse(log.stdout) as { notifications: { id: number; channel: string }[] };
    expect(notifications.map((n) => n.channel)).toEqual(['team-mail']);

    // What `shipcheck status` warns about.
    expect(await notificationWarnings(new ApiClient(api.url, { token: env.SHIPCHECK_TOKEN }))).toEqual([
      'warning: 1 notification could not be delivered; see "shipcheck notify log --state failed"',
    ]);
    expect(await notificationWarnings(new ApiClient(api.url, { token: 'shc_wrong' }))).toEqual([]);

    const retried = await runCli(['notify', 'retry', String(notifications[0]!.id)], { cwd, env });
    expect(retried).toMatchObject({
      code: 0,
      stdout: `notification ${notifications[0]!.id} to team-mail is pending again\n`,
    });
    const unknown = await runCli(['notify', 'test', 'nope'], { cwd, env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no channel "nope"');
  });

  it("manages a user's contact methods", async () => {
    const added = await runCli(
      ['user', 'contact', 'add', 'admin', 'webhook', `${hook.url}/me`, '--secret', SECRET],
      { cwd, env },
    );
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(
      /^added contact method (\d+) of admin: webhook http:\/\/127\.0\.0\.1:\d+ \(signed\)\n$/,
    );
    const id = /method (\d+)/.exec(added.stdout)![1]!;
    const listed = await runCli(['user', 'contact', 'list', 'admin'], { cwd, env });
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+webhook`, 'm'));
    expect(listed.stdout).not.toContain('/me');
    const removed = await runCli(['user', 'contact', 'remove', 'admin', id], { cwd, env });
    expect(removed.code).toBe(0);
    expect((await runCli(['user', 'contact', 'list', 'admin'], { cwd, env })).stdout).toBe(
      'admin has no contact method\n',
    );
  });
});
