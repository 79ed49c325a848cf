/**
 * `shipcheck reload` applies the notification channels under a real `shipcheck up`: a webhook moved
 * to another receiver with a rotated signing secret, a channel added, one removed; and a reload that
 * removes a channel a service still names is refused and changes nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../support/notify-peers.js';
import { Scenario } from './harness.js';

const POST_EMPTY = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' };
const OLD_SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;
const NEW_SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;

let scenario: Scenario;
let a: Receiver;
let b: Receiver;
let pager: Receiver;
/** The config as first written, whose `channels:` and `communication:` each test rewrites. */
let base: string;

/** A receiver that accepts only notices signed with `secret`. */
function verifying(secret: string): Promise<Receiver> {
  return startReceiver((request) => {
    try {
      new Webhook(secret).verify(request.body, request.headers);
      return { status: 204 };
    } catch {
      return { status: 401, body: 'invalid signature' };
    }
  });
}

/** The lines the tests rewrite: the channels, and a policy that names channels. */
function tail(channels: string[], notify: string[]): string {
  return `channels:\n${channels.map((c) => `  - ${c}\n`).join('')}communication:\n  notify: { rolledBack: [${notify.join(', ')}] }\n`;
}

const opsAt = (url: string, secret: string): string =>
  `{ name: ops, type: webhook, url: "${url}/ops", secrets: [${secret}] }`;

function rewrite(channels: string[], notify: string[]): void {
  fs.writeFileSync(scenario.file, base + tail(channels, notify));
}

beforeAll(async () => {
  a = await verifying(OLD_SECRET);
  b = await verifying(NEW_SECRET);
  pager = await verifying(NEW_SECRET);
  scenario = await Scenario.create({ instances: 1 });
  base = fs.readFileSync(scenario.file, 'utf8');
  rewrite([opsAt(a.url, OLD_SECRET)], ['ops']);
  await scenario.up();
}, 60_000);

afterAll(async () => {
  await scenario?.cleanup();
  for (const r of [a, b, pager]) await r?.close();
});

describe('shipcheck reload and notification channels', () => {
  it('moves a channel to a new URL and signing secret, and adds one, without a restart', async () => {
    const first = await scenario.cli('notify', 'test', 'ops');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(a.received).toHaveLength(1);

    // The rotation: the new secret first, the old one still signing until every receiver has moved.
    rewrite(
      [
        `{ name: ops, type: webhook, url: "${b.url}/ops", secrets: [${NEW_SECRET}, ${OLD_SECRET}] }`,
        `{ name: pager, type: webhook, url: "${pager.url}/pager", secret: ${NEW_SECRET} }`,
      ],
      ['ops', 'pager'],
    );
    const reloaded = await scenario.cli('reload');
    expect(reloaded.stderr).toBe('');
    expect(reloaded.code).toBe(0);
    expect(reloaded.stdout).toContain('changed: web');
    expect(reloaded.stdout).toContain('channels added: pager; channels changed: ops');

    const moved = await scenario.cli('notify', 'test', 'ops');
    expect(moved.stderr).toBe('');
    expect(moved.code).toBe(0);
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(1);
    const signed = b.received[0]!;
    expect(signed.path).toBe('/ops');
    expect(() => new Webhook(NEW_SECRET).verify(signed.body, signed.headers)).not.toThrow();

    const added = await scenario.api('/api/v1/channels/pager/test', POST_EMPTY);
    expect(added.status).toBe(200);
    expect(await added.json()).toMatchObject({ delivered: true });
    expect(pager.received).toHaveLength(1);

    const listed = (await (await scenario.api('/api/v1/channels')).json()) as {
      channels: { name: string }[];
    };
    expect(listed.channels.map((c) => c.name)).toEqual(['ops', 'pager']);
  }, 60_000);

  it('refuses to remove a channel a service still names, with where it is named, and changes nothing', async () => {
    const before = fs.readFileSync(scenario.file, 'utf8');
    rewrite(
      [`{ name: pager, type: webhook, url: "${pager.url}/pager", secret: ${NEW_SECRET} }`],
      ['ops', 'pager'],
    );
    const line = fs
      .readFileSync(scenario.file, 'utf8')
      .split('\n')
      .findIndex((l) => l.includes('rolledBack'));
    const refused = await scenario.cli('reload');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `shipcheck.yaml:${line + 1}:26: communication.notify.rolledBack[0]: no channel is named "ops"; the channels are "pager"`,
    );

    // ops still sends where the last good reload put it (through the API: the CLI reads the file too).
    const still = await scenario.api('/api/v1/channels/ops/test', POST_EMPTY);
    expect(still.status).toBe(200);
    expect(b.received).toHaveLength(2);
    fs.writeFileSync(scenario.file, before);
  }, 60_000);

  it('removes a channel: a test notice to it is a clear 404', async () => {
    rewrite([`{ name: pager, type: webhook, url: "${pager.url}/pager", secret: ${NEW_SECRET} }`], ['pager']);
    const reloaded = await scenario.cli('reload', '--json');
    expect(reloaded.stderr).toBe('');
    expect(reloaded.code).toBe(0);
    expect(JSON.parse(reloaded.stdout)).toMatchObject({
      changed: ['web'],
      channels: { added: [], changed: [], removed: ['ops'] },
    });

    const gone = await scenario.api('/api/v1/channels/ops/test', POST_EMPTY);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: 'no channel "ops"; the channels are pager' });
    const cli = await scenario.cli('notify', 'test', 'ops');
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('no channel "ops"; the channels are pager');
    expect(b.received).toHaveLength(2);
    expect(scenario.log).toContain('channels removed: ops');
  }, 60_000);
});
