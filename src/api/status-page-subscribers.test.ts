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

/** The one form of a link's page, as a browser would submit it: its action and its hidden fields. */
function formIn(html: string): { action: string; fields: Record<string, string>; button: string } {
  const forms = html.match(/<form [^>]*>[\s\S]*?<\/form>/g) ?? [];
  expect(forms).toHaveLength(1);
  const tag = forms[0] as string;
  expect(tag).toMatch(/^<form method="post" /);
  const unescape = (v: string): string =>
    v.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code))).replace(/&amp;/g, '&');
  const fields: Record<string, string> = {};
  for (const m of tag.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    fields[unescape(m[1] as string)] = unescape(m[2] as string);
  return {
    action: unescape(/action="([^"]*)"/.exec(tag)?.[1] ?? ''),
    fields,
    button: /<button type="submit">([^<]*)<\/button>/.exec(tag)?.[1] ?? '',
  };
}

/** Submits a link page's form as a browser does (urlencoded, to its action on the same origin). */
function submit(h: Harness, page: { action: string; fields: Record<string, string> }): Promise<Response> {
  return form(h, page.action, new URLSearchParams(page.fields).toString());
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

    // Following the link shows a button (a mail scanner's GET confirms nothing); the button confirms.
    const asked = await fetch(local(h, confirmUrl));
    expect(asked.status).toBe(200);
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('pending');
    const confirmed = await submit(h, formIn(await asked.text()));
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('Subscribed');
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('confirmed');
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
    const asked = await fetch(local(h, confirmation?.notice.data?.confirmUrl as string));
    expect(asked.status).toBe(200);
    const html = await asked.text();
    // The endpoint is named by its scheme and host only.
    expect(html).toContain('https://hooks.example.com/…');
    expect(html).not.toContain('hooks.example.com/status');
    expect(await h.store.statusPage.confirmedSubscribers()).toEqual([]);
    expect((await submit(h, formIn(html))).status).toBe(200);
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

  it('acts on the links only when their page is posted: a GET (a mail scanner) changes nothing', async () => {
    await h.page.subscriptions.subscribe({ email: 'hal@example.com' }, '192.0.2.1');
    const [confirmation] = await outbox(h);
    const subscriber = ((confirmation as NotificationRow).to as { subscriber: number }).subscriber;
    const confirmUrl = confirmation?.notice.data?.confirmUrl as string;
    const token = decodeURIComponent(confirmUrl.split('token=')[1] as string);

    // A scanner fetching the link twice, as they do: still pending, the same page both times.
    for (let i = 0; i < 2; i++) {
      const shown = await fetch(local(h, confirmUrl));
      expect(shown.status).toBe(200);
      expect(shown.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(shown.headers.get('content-security-policy')).toContain("form-action 'self'");
      const html = await shown.text();
      expect(html).toContain('h…@example.com');
      expect(html).not.toContain('hal@example.com');
      expect(formIn(html)).toEqual({
        action: '/status/subscribe/confirm',
        fields: { token },
        button: 'Confirm',
      });
    }
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('pending');

    // The button, as a browser posts it.
    const confirmed = await form(h, '/status/subscribe/confirm', new URLSearchParams({ token }).toString());
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('Subscribed');
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('confirmed');
    // Used: the GET says so, without a button, and posting again changes nothing.
    const used = await fetch(local(h, confirmUrl));
    expect(used.status).toBe(404);
    const usedHtml = await used.text();
    expect(usedHtml).toContain('unknown or was used already');
    expect(usedHtml).not.toContain('<form');
    expect((await form(h, '/status/subscribe/confirm', `token=${encodeURIComponent(token)}`)).status).toBe(
      404,
    );

    // Unsubscribing: the GET shows a button and leaves the subscriber confirmed.
    const unsubscribeUrl = confirmation?.notice.data?.unsubscribeUrl as string;
    const asked = await fetch(local(h, unsubscribeUrl));
    expect(asked.status).toBe(200);
    const askedHtml = await asked.text();
    expect(askedHtml).toContain('h…@example.com');
    const button = formIn(askedHtml);
    expect(button).toMatchObject({ action: '/status/unsubscribe', button: 'Unsubscribe' });
    expect(await fetch(local(h, unsubscribeUrl))).toHaveProperty('status', 200);
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('confirmed');
    const gone = await submit(h, button);
    expect(gone.status).toBe(200);
    expect(await gone.text()).toContain('Unsubscribed');
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('unsubscribed');
    // Afterwards the link's page says so, without a button; the one-click POST stays harmless.
    const after = await fetch(local(h, unsubscribeUrl));
    expect(after.status).toBe(200);
    const afterHtml = await after.text();
    expect(afterHtml).toContain('receives no updates');
    expect(afterHtml).not.toContain('<form');
    const oneClick = await fetch(local(h, unsubscribeUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.status).toBe(200);
  });

  it('takes RFC 8058 one-click unsubscribes as a form or multipart, with no page in between', async () => {
    for (const email of ['ida@example.com', 'jo@example.com']) {
      await h.page.subscriptions.subscribe({ email }, '192.0.2.2');
    }
    const ids: number[] = [];
    for (const row of await outbox(h)) {
      const link = row.notice.data?.confirmUrl as string;
      const confirmed = await h.page.subscriptions.confirm(
        decodeURIComponent(link.split('token=')[1] as string),
      );
      ids.push(confirmed.id);
    }
    expect((await h.store.statusPage.confirmedSubscribers()).map((s) => s.id)).toEqual(ids);
    const [first, second] = await Promise.all(ids.map(async (id) => h.store.statusPage.subscriber(id)));
    const url = (s: typeof first): string => local(h, h.page.subscriptions.unsubscribeUrl(s!));

    const asForm = await fetch(url(first), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(asForm.status).toBe(200);
    const multipart = new FormData();
    multipart.set('List-Unsubscribe', 'One-Click');
    const asMultipart = await fetch(url(second), { method: 'POST', body: multipart });
    expect(asMultipart.status).toBe(200);
    expect((await h.store.statusPage.confirmedSubscribers()).map((s) => s.id)).toEqual([]);
  });

  it('answers a bad or unknown token with a page that says so, never a trace', async () => {
    const page = async (res: Promise<Response>, status: number, words: string): Promise<void> => {
      const answer = await res;
      expect(answer.status).toBe(status);
      expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await answer.text();
      expect(html).toContain(words);
      expect(html).not.toContain('<form');
      expect(html).not.toMatch(/Error|at .*\.ts/);
    };
    const long = 'x'.repeat(201);
    await page(form(h, '/status/subscribe/confirm', 'token=nope'), 404, 'unknown or was used already');
    await page(form(h, '/status/subscribe/confirm', ''), 400, 'has no token');
    await page(form(h, '/status/subscribe/confirm', `token=${long}`), 400, 'has no token');
    await page(fetch(`${h.base}/status/subscribe/confirm`), 400, 'has no token');
    await page(fetch(`${h.base}/status/subscribe/confirm?token=nope`), 404, 'unknown or was used already');
    await page(form(h, '/status/unsubscribe', 'token=nope'), 404, 'unsubscribe link is unknown');
    await page(form(h, '/status/unsubscribe', 'List-Unsubscribe=One-Click'), 400, 'has no token');
    await page(
      fetch(`${h.base}/status/unsubscribe?token=nope`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      }),
      404,
      'unsubscribe link is unknown',
    );
    await page(
      fetch(`${h.base}/status/subscribe/confirm`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: 42 }),
      }),
      400,
      'has no token',
    );
    // Past the body limit: a clear 413, not a page of a stack.
    const big = await form(h, '/status/subscribe/confirm', `token=${'x'.repeat(9000)}`);
    expect(big.status).toBe(413);
    expect(await big.text()).not.toMatch(/at .*\.ts/);
  });
});
