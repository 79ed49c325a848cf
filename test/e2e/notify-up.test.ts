/**
 * The notification dispatcher as `shipcheck up` runs it: started by the control plane with the
 * installation's channels, sending what is enqueued, and stopped with it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import { type ControlPlane, startControlPlane } from '../../src/control-plane.js';
import { freePort } from '../../src/util/net.js';
import { type Receiver, startReceiver } from '../support/notify-peers.js';
import { ROOT, waitFor } from './harness.js';

const SAMPLE_APP = path.join(ROOT, 'examples', 'app', 'server.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-notify-up-'));
let plane: ControlPlane;
let hook: Receiver;

beforeAll(async () => {
  hook = await startReceiver();
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(
    file,
    `service: web
server:
  listen: 127.0.0.1:0
  auth: { required: false }
channels:
  - { name: ops-hook, type: webhook, url: "${hook.url}/ops", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
  stopTimeout: 3s
traffic: { kind: proxy, listen: 127.0.0.1:${await freePort()} }
`,
  );
  plane = await startControlPlane(await loadConfig(file), pino({ level: 'silent' }), {
    inProcessProxy: true,
  });
});

afterAll(async () => {
  await plane?.close({ stopInstances: true });
  await hook.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('notifications under shipcheck up', () => {
  it('given a channel in the config, when a notification is enqueued, then the running dispatcher delivers it', async () => {
    const channels = (await (await fetch(`${plane.apiUrl}/api/v1/channels`)).json()) as {
      channels: { name: string }[];
    };
    expect(channels.channels.map((c) => c.name)).toEqual(['ops-hook']);

    await plane.store.notifications.enqueue(
      [
        {
          key: 'release-1:rolled_back',
          to: { channel: 'ops-hook' },
          notice: { event: 'release.rolled_back', title: 'web rolled back', text: 'x', severity: 'error' },
        },
      ],
      Date.now(),
    );
    await waitFor('the webhook to receive the notice', () => hook.received.length === 1);
    expect(hook.received[0]!.headers['webhook-id']).toBe('release-1:rolled_back');
    await waitFor(
      'the delivery to be recorded',
      async () => (await plane.store.notifications.list())[0]?.state === 'delivered',
    );
    const metrics = await (await fetch(`${plane.apiUrl}/metrics`)).text();
    expect(metrics).toContain('shipcheck_notification_attempts_total{type="webhook",outcome="delivered"} 1');
  });
});
