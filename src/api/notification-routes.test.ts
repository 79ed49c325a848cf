import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Session, createFirstAdmin, login, withSession } from '../../test/support/auth.js';
import { type Receiver, startReceiver } from '../../test/support/notify-peers.js';
import { type SecuredApi, startSecuredApi } from '../../test/support/secured-api.js';
import { channelsSchema } from '../config/channels-schema.js';

const PASSWORD = 'correct horse battery staple';
const SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;

let api: SecuredApi;
let hook: Receiver;
let admin: Session;

/** Calls the API as `session` and returns the status and JSON answer. */
async function call(
  session: Session,
  method: 'GET' | 'POST',
  path: string,
  body?: object,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: method === 'POST' ? withSession(session) : { cookie: session.cookie },
    ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function addUser(name: string, roles: string[]): Promise<Session> {
  const added = await call(admin, 'POST', '/api/v1/users', { name, password: PASSWORD, roles });
  expect(added.status).toBe(201);
  return login(api.url, name, PASSWORD);
}

beforeEach(async () => {
  hook = await startReceiver((request) => {
    try {
      new Webhook(SECRET).verify(request.body, request.headers);
      return { status: 200 };
    } catch {
      return { status: 401, body: 'invalid token' };
    }
  });
  api = await startSecuredApi({
    channels: channelsSchema.parse([
      {
        name: 'ops-hook',
        type: 'webhook',
        url: `${hook.url}/ops?token=abc`,
        secret: SECRET,
        headers: {},
        timeout: '5s',
      },
      {
        name: 'bad-hook',
        type: 'webhook',
        url: `${hook.url}/bad`,
        secret: `whsec_${crypto.randomBytes(24).toString('base64')}`,
        headers: {},
        timeout: '5s',
      },
    ]),
  });
  admin = await createFirstAdmin(api.url, api.security.setup.code!, 'admin');
});
afterEach(async () => {
  await api.close();
  await hook.close();
});

describe('notification routes', () => {
  it('lists channels with a redacted target, and tests one now, recording it in the log', async () => {
    const channels = await call(admin, 'GET', '/api/v1/channels');
    expect(channels.json.channels).toEqual([
      {
        name: 'ops-hook',
        type: 'webhook',
        target: hook.url,
        disabled: false,
        disabledReason: null,
        disabledAt: null,
      },
      {
        name: 'bad-hook',
        type: 'webhook',
        target: hook.url,
        disabled: false,
        disabledReason: null,
        disabledAt: null,
      },
    ]);
    expect(JSON.stringify(channels.json)).not.toContain('token=abc');

    const tested = await call(admin, 'POST', '/api/v1/channels/ops-hook/test');
    expect(tested.status).toBe(200);
    expect(tested.json).toMatchObject({
      delivered: true,
      notification: { channel: 'ops-hook', state: 'delivered' },
    });

    const refused = await call(admin, 'POST', '/api/v1/channels/bad-hook/test');
    expect(refused).toMatchObject({
      status: 502,
      json: { error: 'channel bad-hook: HTTP 401: invalid token' },
    });

    const log = await call(admin, 'GET', '/api/v1/notifications');
    const entries = log.json.notifications as {
      id: number;
      channel: string;
      state: string;
      lastError: string | null;
    }[];
    expect(entries.map((n) => [n.channel, n.state, n.lastError])).toEqual([
      ['bad-hook', 'failed', 'HTTP 401: invalid token'],
      ['ops-hook', 'delivered', null],
    ]);
    const onlyFailed = await call(admin, 'GET', '/api/v1/notifications?state=failed&channel=bad-hook');
    expect((onlyFailed.json.notifications as unknown[]).length).toBe(1);
    const one = await call(admin, 'GET', `/api/v1/notifications/${entries[0]!.id}`);
    expect(one.json).toMatchObject({ id: entries[0]!.id, state: 'failed' });
    expect(await call(admin, 'GET', '/api/v1/notifications/summary')).toEqual({
      status: 200,
      json: { pending: 0, failed: 1, disabledChannels: [] },
    });

    // A failed one goes back to pending.
    const retried = await call(admin, 'POST', `/api/v1/notifications/${entries[0]!.id}/retry`);
    expect(retried.json).toMatchObject({ state: 'pending', attempts: 0 });
    expect((await call(admin, 'POST', `/api/v1/notifications/${entries[1]!.id}/retry`)).status).toBe(400);
  });

  it('answers 404 for an unknown channel or notification, 400 for a bad filter', async () => {
    expect((await call(admin, 'POST', '/api/v1/channels/nope/test')).status).toBe(404);
    expect((await call(admin, 'POST', '/api/v1/channels/nope/enable')).status).toBe(404);
    expect((await call(admin, 'GET', '/api/v1/notifications/999')).status).toBe(404);
    expect((await call(admin, 'POST', '/api/v1/notifications/999/retry')).status).toBe(404);
    expect((await call(admin, 'GET', '/api/v1/notifications?state=lost')).status).toBe(400);
    expect((await call(admin, 'GET', '/api/v1/notifications/abc')).status).toBe(400);
  });

  it('shows a 410-disabled channel in the summary until it is enabled', async () => {
    hook.answer = () => ({ status: 410, body: 'gone' });
    expect((await call(admin, 'POST', '/api/v1/channels/ops-hook/test')).status).toBe(502);
    const summary = await call(admin, 'GET', '/api/v1/notifications/summary');
    expect(summary.json).toMatchObject({ failed: 1, disabledChannels: [{ name: 'ops-hook' }] });
    expect((await call(admin, 'POST', '/api/v1/channels/ops-hook/test')).status).toBe(409);
    const enabled = await call(admin, 'POST', '/api/v1/channels/ops-hook/enable');
    expect(enabled.json).toMatchObject({ name: 'ops-hook', disabled: false });
  });

  it('lets a viewer read the log but not test, retry or enable', async () => {
    const viewer = await addUser('vic', ['viewer']);
    expect((await call(viewer, 'GET', '/api/v1/channels')).status).toBe(200);
    expect((await call(viewer, 'GET', '/api/v1/notifications')).status).toBe(200);
    expect((await call(viewer, 'POST', '/api/v1/channels/ops-hook/test')).status).toBe(403);
    expect((await call(viewer, 'POST', '/api/v1/channels/ops-hook/enable')).status).toBe(403);
    const deployer = await addUser('dee', ['deployer']);
    expect((await call(deployer, 'POST', '/api/v1/channels/ops-hook/test')).status).toBe(200);
  });

  it("lets each person manage their own contact methods, and an admin anyone's, never showing the secret part", async () => {
    const vic = await addUser('vic', ['viewer']);
    await addUser('bob', ['viewer']);
    const added = await call(vic, 'POST', '/api/v1/users/vic/contact-methods', {
      type: 'slack',
      value: 'https://hooks.slack.com/services/T000/B000/SECRETPART',
    });
    expect(added).toMatchObject({
      status: 201,
      json: { type: 'slack', shown: 'https://hooks.slack.com', disabled: false },
    });
    const mail = await call(vic, 'POST', '/api/v1/users/vic/contact-methods', {
      type: 'email',
      value: 'vic@example.com',
    });
    expect(mail.json).toMatchObject({ type: 'email', shown: 'vic@example.com' });
    const listed = await call(vic, 'GET', '/api/v1/users/vic/contact-methods');
    expect(JSON.stringify(listed.json)).not.toContain('SECRETPART');
    expect((listed.json.contactMethods as unknown[]).length).toBe(2);

    expect((await call(vic, 'GET', '/api/v1/users/bob/contact-methods')).status).toBe(403);
    expect((await call(admin, 'GET', '/api/v1/users/vic/contact-methods')).status).toBe(200);
    expect((await call(admin, 'GET', '/api/v1/users/nobody/contact-methods')).status).toBe(404);
    expect(
      (await call(vic, 'POST', '/api/v1/users/vic/contact-methods', { type: 'fax', value: '1' })).status,
    ).toBe(400);
    expect(
      (
        await call(vic, 'POST', '/api/v1/users/vic/contact-methods', {
          type: 'email',
          value: 'not-an-address',
        })
      ).json,
    ).toEqual({ error: 'email: "not-an-address" is not an email address' });

    const id = (added.json as { id: number }).id;
    // A method a 410 disabled is enabled again by its owner.
    await api.store.notifications.contacts.setDisabled(id, { at: 1, reason: 'HTTP 410: gone' });
    const off = await call(vic, 'GET', '/api/v1/users/vic/contact-methods');
    expect((off.json.contactMethods as { disabledReason: string | null }[])[0]?.disabledReason).toBe(
      'HTTP 410: gone',
    );
    expect((await call(vic, 'POST', `/api/v1/users/vic/contact-methods/${id}/enable`)).json).toMatchObject({
      id,
      disabled: false,
    });
    expect((await call(admin, 'POST', `/api/v1/users/bob/contact-methods/${id}/remove`)).status).toBe(404);
    expect((await call(admin, 'POST', `/api/v1/users/vic/contact-methods/${id}/remove`)).status).toBe(200);
    const after = await call(vic, 'GET', '/api/v1/users/vic/contact-methods');
    expect((after.json.contactMethods as { type: string }[]).map((m) => m.type)).toEqual(['email']);
  });
});
