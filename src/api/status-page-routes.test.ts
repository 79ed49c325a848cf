import { Statuspage } from 'statuspage.io';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { componentId } from '../comms/status-page/status-page.js';
import {
  MOBILE,
  checkAccessibility,
  chromiumOrSkip,
  launchBrowser,
  openPage,
  pageWidth,
} from '../../test/support/browser.js';
import { type Harness, post, postOk, start, stop } from '../../test/support/status-page.js';
import { STATUS_PAGE_CSP } from './status-page-routes.js';

const HOUR = 3_600_000;
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/;

/** The client Statuspage users have, pointed at our server instead of statuspage.io. */
function client(h: Harness): Statuspage {
  const sp = new Statuspage('shipcheck');
  sp.setApiUrl(h.base);
  return sp;
}

describe('the Statuspage v2 JSON, read by the statuspage.io client', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await start();
  });
  afterEach(async () => stop(h));

  it('summarises the page: page, components with groups, status', async () => {
    await h.page.record();
    const summary = (await client(h).api.getSummary()) as unknown as Record<string, unknown>;
    expect(summary.page).toEqual({
      id: h.page.pageId,
      name: 'Example <status>',
      url: 'https://status.example.com/status',
      time_zone: 'America/Denver',
      updated_at: '2026-05-14T14:00:00.000-06:00',
    });
    expect(summary.status).toEqual({ indicator: 'none', description: 'All Systems Operational' });
    expect(summary.incidents).toEqual([]);
    expect(summary.scheduled_maintenances).toEqual([]);
    const components = summary.components as Record<string, unknown>[];
    expect(components.map((c) => [c.name, c.group, c.position])).toEqual([
      ['API', false, 1],
      ['Backend', true, 2],
      ['Database', false, 3],
      ['Queue', false, 4],
      ['Admin', false, 5],
    ]);
    const api = components[0] as Record<string, unknown>;
    expect(api).toEqual({
      id: componentId({ name: 'API' } as never),
      name: 'API',
      status: 'operational',
      created_at: '2026-05-14T14:00:00.000-06:00',
      updated_at: '2026-05-14T14:00:00.000-06:00',
      position: 1,
      description: 'The public API',
      showcase: true,
      start_date: '2026-05-14',
      group_id: null,
      page_id: h.page.pageId,
      group: false,
      only_show_if_degraded: false,
    });
    const backend = components[1] as Record<string, unknown>;
    expect(backend.components).toEqual([components[2]?.id, components[3]?.id]);
    expect(components[2]?.group_id).toBe(backend.id);
    expect(components[4]?.only_show_if_degraded).toBe(true);
    expect(h.page.componentsFor('web@production')).toEqual([api.id]);
    expect(h.page.componentsFor('admin@production')).toEqual([components[4]?.id]);
    expect(h.page.componentsFor('admin@staging')).toEqual([]);
    expect(
      await fetch(`${h.base}/api/v2/summary.json`).then((r) => r.headers.get('access-control-allow-origin')),
    ).toBe('*');
  });

  it('derives component status from the units, and an override wins until cleared or over', async () => {
    h.units[0] = { unit: 'web', stable: ['ready', 'exited'], canary: [], release: null };
    h.units[1] = { unit: 'db', stable: ['exited'], canary: [], release: null };
    await h.page.record();
    const sp = client(h);
    const components = (await sp.api.getComponents()) as unknown as {
      components: { name: string; status: string }[];
    };
    expect(components.components.map((c) => [c.name, c.status])).toEqual([
      ['API', 'partial_outage'],
      ['Backend', 'major_outage'],
      ['Database', 'major_outage'],
      ['Queue', 'operational'],
      ['Admin', 'operational'],
    ]);
    expect(((await sp.api.getStatus()) as unknown as { status: unknown }).status).toEqual({
      indicator: 'critical',
      description: 'Major Service Outage',
    });

    const until = new Date(h.clock.now() + HOUR).toISOString();
    const set = await postOk<{ status: string; derived: string; override: { until: number } }>(
      h,
      '/api/v1/status-page/components/api/override',
      { status: 'operational', until, reason: 'the failing instance serves no traffic' },
    );
    expect(set).toMatchObject({ status: 'operational', derived: 'partial_outage' });
    expect(set.override.until).toBe(h.clock.now() + HOUR);
    h.clock.advance(HOUR);
    const listed = await fetch(`${h.base}/api/v1/status-page/components`).then(
      (r) => r.json() as Promise<{ components: { name: string; status: string; override: unknown }[] }>,
    );
    expect(listed.components[0]).toMatchObject({ name: 'API', status: 'partial_outage', override: null });

    await postOk(h, '/api/v1/status-page/components/API/override', { status: 'major_outage' });
    const cleared = await postOk<{ status: string }>(
      h,
      '/api/v1/status-page/components/API/override/clear',
      {},
    );
    expect(cleared.status).toBe('partial_outage');

    expect(
      (await post(h, '/api/v1/status-page/components/nope/override', { status: 'operational' })).status,
    ).toBe(404);
    const bad = await post(h, '/api/v1/status-page/components/API/override', { status: 'down' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('is not one of operational');
  });

  it('lists incidents and unresolved ones, with their updates, in Statuspage fields', async () => {
    const opened = await postOk<{ publicId: string }>(h, '/api/v1/status-page/incidents', {
      name: 'Elevated errors',
      body: 'We are looking into errors on the API.',
      impact: 'major',
      components: ['API'],
      internalIncidentId: 7,
    });
    const sp = client(h);
    let unresolved = (await sp.api.incidents.getUnresolved()) as unknown as {
      incidents: Record<string, unknown>[];
    };
    expect(unresolved.incidents).toHaveLength(1);
    const incident = unresolved.incidents[0] as Record<string, unknown>;
    expect(incident).toMatchObject({
      id: opened.publicId,
      name: 'Elevated errors',
      status: 'investigating',
      impact: 'major',
      monitoring_at: null,
      resolved_at: null,
      page_id: h.page.pageId,
      shortlink: `https://status.example.com/status#incident-${opened.publicId}`,
    });
    for (const key of ['created_at', 'updated_at', 'started_at'])
      expect(incident[key]).toMatch(ISO_WITH_OFFSET);
    expect((incident.components as { name: string }[]).map((c) => c.name)).toEqual(['API']);
    const update = (incident.incident_updates as Record<string, unknown>[])[0] as Record<string, unknown>;
    expect(update).toMatchObject({
      status: 'investigating',
      body: 'We are looking into errors on the API.',
      incident_id: opened.publicId,
    });
    expect(Object.keys(update).sort()).toEqual(
      [
        'affected_components',
        'body',
        'created_at',
        'custom_tweet',
        'deliver_notifications',
        'display_at',
        'id',
        'incident_id',
        'status',
        'tweet_id',
        'updated_at',
      ].sort(),
    );
    expect(((await sp.api.getSummary()) as unknown as { status: unknown }).status).toEqual({
      indicator: 'major',
      description: 'Partial System Outage',
    });

    h.clock.advance(HOUR);
    await postOk(h, `/api/v1/status-page/incidents/${opened.publicId}/updates`, {
      status: 'monitoring',
      body: 'A fix is out; we are watching.',
    });
    h.clock.advance(HOUR);
    await postOk(h, `/api/v1/status-page/incidents/${opened.publicId}/resolve`, {});
    unresolved = (await sp.api.incidents.getUnresolved()) as unknown as {
      incidents: Record<string, unknown>[];
    };
    expect(unresolved.incidents).toEqual([]);
    const all = (await sp.api.incidents.getAll()) as unknown as { incidents: Record<string, unknown>[] };
    expect(all.incidents[0]).toMatchObject({
      status: 'resolved',
      monitoring_at: '2026-05-14T15:00:00.000-06:00',
      resolved_at: '2026-05-14T16:00:00.000-06:00',
    });
    expect((all.incidents[0]?.incident_updates as { status: string }[]).map((u) => u.status)).toEqual([
      'resolved',
      'monitoring',
      'investigating',
    ]);
    // A resolved incident is not reopened; an unknown one is a 404.
    expect(
      (
        await post(h, `/api/v1/status-page/incidents/${opened.publicId}/updates`, {
          status: 'investigating',
          body: 'x',
        })
      ).status,
    ).toBe(400);
    expect((await post(h, '/api/v1/status-page/incidents/zzzz/resolve', {})).status).toBe(404);
    expect(
      (await post(h, '/api/v1/status-page/incidents', { name: 'x', body: 'y', impact: 'huge' })).status,
    ).toBe(400);
  });

  it('schedules maintenances, starts and completes them by the clock, and shows components under maintenance', async () => {
    const from = h.clock.now() + 2 * HOUR;
    const created = await postOk<{ publicId: string }>(h, '/api/v1/status-page/maintenances', {
      name: 'Database upgrade',
      components: ['Database'],
      scheduledFor: new Date(from).toISOString(),
      scheduledUntil: new Date(from + HOUR).toISOString(),
    });
    const sp = client(h);
    const upcoming = (await sp.api.scheduledMaintenances.getUpcoming()) as unknown as {
      scheduled_maintenances: Record<string, unknown>[];
    };
    expect(upcoming.scheduled_maintenances[0]).toMatchObject({
      id: created.publicId,
      status: 'scheduled',
      impact: 'maintenance',
      scheduled_for: '2026-05-14T16:00:00.000-06:00',
      scheduled_until: '2026-05-14T17:00:00.000-06:00',
    });
    // statuspage.io's getActive and getAll both ask for upcoming.json (its Endpoint.ACTIVE_JSON is
    // 'upcoming.json'), so those two lists are read with fetch.
    const active = async (): Promise<{ status: string }[]> =>
      (
        (await fetch(`${h.base}/api/v2/scheduled-maintenances/active.json`).then((r) => r.json())) as {
          scheduled_maintenances: { status: string }[];
        }
      ).scheduled_maintenances;
    expect(await active()).toEqual([]);

    h.clock.advance(2 * HOUR);
    await h.page.record();
    expect((await active()).map((m) => m.status)).toEqual(['in_progress']);
    const summary = (await sp.api.getSummary()) as unknown as {
      components: { name: string; status: string }[];
      status: unknown;
      scheduled_maintenances: unknown[];
    };
    expect(summary.components.find((c) => c.name === 'Database')?.status).toBe('under_maintenance');
    expect(summary.status).toEqual({ indicator: 'none', description: 'Service Under Maintenance' });
    expect(summary.scheduled_maintenances).toHaveLength(1);

    await postOk(h, `/api/v1/status-page/maintenances/${created.publicId}/updates`, { status: 'verifying' });
    h.clock.advance(HOUR);
    await h.page.record();
    expect(await active()).toEqual([]);
    const all = (await fetch(`${h.base}/api/v2/scheduled-maintenances.json`).then((r) => r.json())) as {
      scheduled_maintenances: { status: string; incident_updates: { status: string }[] }[];
    };
    expect(all.scheduled_maintenances[0]?.status).toBe('completed');
    expect(all.scheduled_maintenances[0]?.incident_updates.map((u) => u.status)).toEqual([
      'completed',
      'verifying',
      'in_progress',
      'scheduled',
    ]);
    const bad = await post(h, '/api/v1/status-page/maintenances', {
      name: 'x',
      components: ['Database'],
      scheduledFor: new Date(from).toISOString(),
      scheduledUntil: new Date(from - HOUR).toISOString(),
    });
    expect(bad.status).toBe(400);
  });

  it('answers 404 on every page route when the installation has no status page', async () => {
    const bare = await start(false);
    try {
      for (const path of [
        '/api/v2/summary.json',
        '/status',
        '/status/history.atom',
        '/api/v1/status-page/components',
      ])
        expect((await fetch(`${bare.base}${path}`)).status).toBe(404);
    } finally {
      await stop(bare);
    }
  });
});

describe('the HTML page and the feed', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await start();
  });
  afterEach(async () => stop(h));

  it('serves the page without login, escaped, under its own CSP, with uptime in words', async () => {
    await h.page.record();
    h.clock.advance(HOUR);
    h.units[0] = { unit: 'web', stable: ['exited'], canary: [], release: null };
    await h.page.record();
    h.clock.advance(HOUR);
    await postOk(h, '/api/v1/status-page/incidents', {
      name: 'Errors <script>alert(1)</script>',
      body: 'Body & "quotes"',
      impact: 'critical',
      components: ['API'],
    });
    const res = await fetch(`${h.base}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(STATUS_PAGE_CSP);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('<title>Example &lt;status&gt;</title>');
    expect(html).toContain('Errors &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script');
    expect(html).toContain('Body &amp; &quot;quotes&quot;');
    expect(html).toContain('Major Service Outage');
    expect(html).toContain('Major outage');
    expect(html).toContain('Database');
    // Admin is operational and shown only when degraded.
    expect(html).not.toContain('>Admin<');
    expect(html).toContain('title="2026-05-14: 50.00% up, worst major outage"');
    expect(html).toContain('title="2026-02-14: no data"');
    expect(html).toContain('href="/status/history.atom"');
    const css = await fetch(`${h.base}/status/assets/status.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('writes the incidents as an Atom feed', async () => {
    const a = await postOk<{ publicId: string }>(h, '/api/v1/status-page/incidents', {
      name: 'First & worst',
      body: 'one <b>',
    });
    h.clock.advance(HOUR);
    const b = await postOk<{ publicId: string }>(h, '/api/v1/status-page/incidents', {
      name: 'Second',
      body: 'two',
    });
    const res = await fetch(`${h.base}/status/history.atom`);
    expect(res.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8');
    const xml = await res.text();
    expect(xml).toContain(`<id>tag:shipcheck,2026:status-page:${h.page.pageId}:incident:${b.publicId}</id>`);
    expect(xml.indexOf(b.publicId)).toBeLessThan(xml.indexOf(a.publicId));
    expect(xml).toContain('<title>First &amp; worst</title>');
    expect(xml).toContain('<updated>2026-05-14T21:00:00.000Z</updated>');
  });
});

/** What the test reads of an XML document in the browser (the DOM types are not in this build's lib). */
interface XmlElement {
  namespaceURI: string | null;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<XmlElement>;
  getElementsByTagNameNS(ns: string, name: string): ArrayLike<XmlElement>;
}
interface XmlDocument extends XmlElement {
  documentElement: XmlElement;
}

const browserTests = chromiumOrSkip('status-page-routes.test.ts');

describe.runIf(browserTests)('the page in a real browser', () => {
  let h: Harness;
  let browser: Browser;
  beforeEach(async () => {
    h = await start();
    browser ??= await launchBrowser();
  });
  afterEach(async () => stop(h));
  afterAll(async () => browser?.close());

  it('renders on a phone with no CSP violation, passes axe, and its feed parses as Atom', async () => {
    await h.page.record();
    await postOk(h, '/api/v1/status-page/incidents', {
      name: 'Slow <API>',
      body: 'Looking & fixing',
      components: ['API'],
    });
    const { page, problems, context } = await openPage(browser, h.base, { viewport: MOBILE });
    try {
      await page.goto('/status');
      await page.getByRole('heading', { name: 'Slow <API>' }).waitFor();
      expect(await pageWidth(page)).toBeLessThanOrEqual(MOBILE.width);
      await checkAccessibility(page, 'the status page');
      // Parsed by the browser's own XML parser, on a blank page (the status page's CSP allows no fetch).
      const xml = await fetch(`${h.base}/status/history.atom`).then((r) => r.text());
      await page.goto('about:blank');
      const feed = await page.evaluate((text) => {
        const { DOMParser } = globalThis as unknown as {
          DOMParser: new () => { parseFromString(text: string, type: string): XmlDocument };
        };
        const doc = new DOMParser().parseFromString(text, 'application/xml');
        const ns = 'http://www.w3.org/2005/Atom';
        return {
          error: doc.getElementsByTagName('parsererror').length,
          root: doc.documentElement.namespaceURI,
          entries: Array.from(doc.getElementsByTagNameNS(ns, 'entry')).map((e) => ({
            title: e.getElementsByTagNameNS(ns, 'title')[0]?.textContent,
            link: e.getElementsByTagNameNS(ns, 'link')[0]?.getAttribute('href'),
            content: e.getElementsByTagNameNS(ns, 'content')[0]?.textContent,
            id: e.getElementsByTagNameNS(ns, 'id')[0]?.textContent,
            updated: e.getElementsByTagNameNS(ns, 'updated')[0]?.textContent,
          })),
          feedId: doc.documentElement.getElementsByTagNameNS(ns, 'id')[0]?.textContent,
        };
      }, xml);
      expect(feed.error).toBe(0);
      expect(feed.root).toBe('http://www.w3.org/2005/Atom');
      expect(feed.feedId).toBe(`tag:shipcheck,2026:status-page:${h.page.pageId}`);
      expect(feed.entries).toHaveLength(1);
      expect(feed.entries[0]?.title).toBe('Slow <API>');
      expect(feed.entries[0]?.content).toContain('Looking &amp; fixing');
      expect(feed.entries[0]?.link).toMatch(/^https:\/\/status\.example\.com\/status#incident-[a-z0-9]{12}$/);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("subscribes from the page's form, and its links act only when their button is clicked", async () => {
    const { page, problems } = await openPage(browser, h.base);
    await page.goto('/status');
    await page.getByLabel('Email address').fill('kim@example.com');
    await page.getByRole('button', { name: 'Subscribe by email' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    const [confirmation] = await h.store.notifications.list({ limit: 10 });
    const subscriber = (confirmation?.to as { subscriber: number }).subscriber;
    const link = new URL(confirmation?.notice.data?.confirmUrl as string);

    // Opening the link, as a reader (or a scanner) does, asks first.
    await page.goto(`${link.pathname}${link.search}`);
    await page.getByRole('heading', { name: 'Confirm your subscription' }).waitFor();
    expect(await page.getByText('k…@example.com').count()).toBe(1);
    await checkAccessibility(page, 'the confirmation page');
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('pending');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Subscribed' }).waitFor();
    expect(new URL(page.url()).search).toBe('');
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('confirmed');

    const row = await h.store.statusPage.subscriber(subscriber);
    const unsubscribe = new URL(h.page.subscriptions.unsubscribeUrl(row!));
    await page.goto(`${unsubscribe.pathname}${unsubscribe.search}`);
    await page.getByRole('heading', { name: 'Unsubscribe', exact: true }).waitFor();
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('confirmed');
    await page.getByRole('button', { name: 'Unsubscribe' }).click();
    await page.getByRole('heading', { name: 'Unsubscribed' }).waitFor();
    expect((await h.store.statusPage.subscriber(subscriber))?.state).toBe('unsubscribed');
    // The strict CSP let every form post (form-action 'self').
    expect(problems).toEqual([]);
  });
});
