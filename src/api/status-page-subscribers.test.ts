import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NotificationRow } from '../store/notification-store.js';
import { type Harness, postOk, start, stop } from '../../test/support/status-page.js';

/** The path and query of a link the page wrote with its public URL, to follow it on the test server. */
function local(h: Harness, link: string): string {
  const url = new URL(link);
  expect(url.origin + url.pathname.replace(/\/status\/.*$/, '/status')).toBe(
    'https://status.example.com/status',
  );
  return `${h.base}${url.pathname}${url.search}`;
}

async function outbox(h: Harness): Promise<NotificationRow[]> {
  return (await h.store.notifications.list({ limit: 1000 })).reverse();
}

function form(h: Harness, path: string, body: string): Promise<Response> {
  return fetch(`${h.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
}

describe('subscribers of the status page', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await start();
  });
  afterEach(async () => stop(h));

  it('confirms by email link, hears of incidents, and stops after a one-click unsubscribe', async () => {
    // Statuspage's public endpoint, as a form.
    const res = await form(h, '/api/v2/subscribers.json', 'subscriber%5Bemail%5D=Ann%40Example.com');
    expect(res.status).toBe(202);
    const [confirmation, ...others] = await outbox(h);
    expect(others).toEqual([]);
    expect(confirmation).toMatchObject({
      channel: `subscriber:${((confirmation as NotificationRow).to as { subscriber: number }).subscriber}`,
      notice: { event: 'status_page.subscription_confirm', severity: 'info' },
    });
    const subscriber = ((confirmation as NotificationRow).to as { subscriber: number }).subscriber;
    expect(await h.store.statusPage.subscriberAddress(subscriber)).toEqual({ email: 'ann@example.com' });
    const confirmUrl = (confirmation as NotificationRow).notice.data?.confirmUrl as string;
    expect(confirmUrl).toMatch(/\/status\/subscribe\/confirm\?token=[A-Za-z0-9_-]{43}$/);

    // Not confirmed yet: an incident tells nobody.
    await postOk(h, '/api/v1/status-page/incidents', { name: 'Before', body: 'b' });
    expect(await outbox(h)).toHaveLength(1);

    const confirmed = await fetch(local(h, confirmUrl));
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('Subscribed');
    // A link works once.
    expect((await fetch(local(h, confirmUrl))).status).toBe(404);

    const incident = await postOk<{ publicId: string; updates: { publicId: string }[] }>(
      h,
      '/api/v1/status-page/incidents',
      { name: 'Errors on the API', body: 'Looking into it', impact: 'major', components: ['API'] },
    );
    const notices = (await outbox(h)).slice(1);
    expect(notices).toHaveLength(1);
    const notice = notices[0] as NotificationRow;
    expect(notice.key).toBe(`status-page:update:${incident.updates[0]?.publicId}:subscriber:${subscriber}`);
    expect(notice.to).toEqual({ subscriber });
    expect(notice.notice).toMatchObject({
      event: 'status_page.incident.created',
      title: '[Example <status>] Errors on the API: Investigating',
      severity: 'error',
      url: `https://status.example.com/status#incident-${incident.publicId}`,
    });
    const unsubscribeUrl = notice.notice.data?.unsubscribeUrl as string;
    expect(unsubscribeUrl).toMatch(/\/status\/unsubscribe\?token=/);
    expect(notice.notice.text).toContain(unsubscribeUrl);

    // Enqueueing the same update again adds nothing (the key).
    await h.page.subscriptions.notifySubscribers(
      await h.page.incidentOf(incident.publicId, 'incident'),
      'created',
    );
    expect(await outbox(h)).toHaveLength(2);

    // GET shows a button and changes nothing; the RFC 8058 POST unsubscribes.
    const shown = await fetch(local(h, unsubscribeUrl));
    expect(shown.status).toBe(200);
    const html = await shown.text();
    expect(html).toContain('<button type="submit">Unsubscribe</button>');
    expect(shown.headers.get('content-security-policy')).toContain("form-action 'self'");
    expect(await h.store.statusPage.subscriberAddress(subscriber)).toEqual({ email: 'ann@example.com' });
    const done = await fetch(local(h, unsubscribeUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(done.status).toBe(200);
    expect(await h.store.statusPage.subscriberAddress(subscriber)).toBeUndefined();

    await postOk(h, `/api/v1/status-page/incidents/${incident.publicId}/resolve`, { body: 'Fixed' });
    expect(await outbox(h)).toHaveLength(2);
    expect((await fetch(`${h.base}/status/unsubscribe?token=nope`)).status).toBe(404);
  });

  it('answers alike whatever the address is, and bounds how often one client asks', async () => {
    const ask = (email: string): Promise<Response> =>
      fetch(`${h.base}/api/v2/subscribers.json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subscriber: { email } }),
      });
    const first = await ask('bob@example.com');
    const firstBody = await first.text();
    const token = ((await outbox(h))[0]?.notice.data?.confirmUrl as string).split('token=')[1] as string;
    await h.page.subscriptions.confirm(decodeURIComponent(token));
    // Subscribed already, or new: the same answer.
    const again = await ask('bob@example.com');
    expect([again.status, await again.text()]).toEqual([first.status, firstBody]);
    const other = await ask('carol@example.com');
    expect([other.status, await other.text()]).toEqual([first.status, firstBody]);
    expect(await outbox(h)).toHaveLength(2);

    const bad = await ask('not an address');
    expect(bad.status).toBe(400);
    // Five asks per client in ten minutes (the bad one did not count); the next is refused.
    await ask('dan@example.com');
    await ask('eve@example.com');
    const refused = await ask('fay@example.com');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('600');
    h.clock.advance(10 * 60_000);
    expect((await ask('fay@example.com')).status).toBe(202);
  });

  it('confirms a webhook endpoint by a first delivery holding the link, and takes the page form', async () => {
    const res = await fetch(`${h.base}/api/v2/subscribers.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subscriber: { endpoint: 'https://hooks.example.com/status' } }),
    });
    expect(res.status).toBe(202);
    const [confirmation] = await outbox(h);
    const subscriber = ((confirmation as NotificationRow).to as { subscriber: number }).subscriber;
    expect(await h.store.statusPage.subscriberAddress(subscriber)).toEqual({
      webhook: 'https://hooks.example.com/status',
    });
    expect((await fetch(local(h, confirmation?.notice.data?.confirmUrl as string))).status).toBe(200);
    expect((await h.store.statusPage.confirmedSubscribers()).map((s) => s.kind)).toEqual(['webhook']);

    const page = await form(h, '/status/subscribe', 'email=gus%40example.com');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('Check your inbox');
    expect((await outbox(h)).map((n) => n.notice.event)).toEqual([
      'status_page.subscription_confirm',
      'status_page.subscription_confirm',
    ]);
    const bad = await fetch(`${h.base}/api/v2/subscribers.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subscriber: { endpoint: 'ftp://x' } }),
    });
    expect(bad.status).toBe(400);
  });
});
