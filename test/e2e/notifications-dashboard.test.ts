/**
 * The Notifications page in Debian's chromium against one real `shipcheck up` with three webhook
 * channels, each pointing at a real local receiver: one accepts, one answers 500, one answers 410
 * (which disables its channel). A person sends tests, reads the outcomes and the delivery log,
 * sees the warning banner, enables the channel again and retries the failures; with no WCAG A/AA
 * violation at desktop and phone widths.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PASSWORD as PASSWORD, TEST_USER } from '../support/auth.js';
import {
  checkAccessibility,
  chromiumOrSkip,
  launchBrowser,
  MOBILE,
  openPage,
  pageWidth,
  signIn,
} from '../support/browser.js';
import { type Receiver, startReceiver } from '../support/notify-peers.js';
import { Scenario } from './harness.js';

const CAN_RUN = chromiumOrSkip('notifications-dashboard.test.ts');
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
/** An empty JSON body, as a change with nothing to say sends. */
const JSON_POST = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' };
/** Entries one read of the delivery log shows (the page's size). */
const PAGE_SIZE = 50;

/** The row of the table whose row header is `name`. */
function rowOf(page: Page, table: string, name: string) {
  return page
    .getByRole('table', { name: table })
    .locator('tbody tr', { has: page.getByRole('rowheader', { name, exact: true }) });
}

describe.runIf(CAN_RUN)('the Notifications page', () => {
  let s: Scenario;
  let browser: Browser;
  let accepting: Receiver;
  let refusing: Receiver;
  let gone: Receiver;

  beforeAll(async () => {
    accepting = await startReceiver();
    refusing = await startReceiver(() => ({ status: 500, body: 'receiver down' }));
    gone = await startReceiver(() => ({ status: 410, body: 'this hook was deleted' }));
    s = await Scenario.create({
      instances: 1,
      extra: `channels:
  - { name: ops-hook, type: webhook, url: "${accepting.url}/ops", secret: ${SECRET} }
  - { name: pager-hook, type: webhook, url: "${refusing.url}/pager", secret: ${SECRET} }
  - { name: old-hook, type: webhook, url: "${gone.url}/old", secret: ${SECRET} }
`,
    });
    await s.up();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
    await Promise.all([accepting?.close(), refusing?.close(), gone?.close()]);
  });

  it('given receivers that accept, answer 500 and answer 410, when a deployer sends tests, enables and retries, then the outcomes, the log and the banner follow', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, TEST_USER, PASSWORD);
    const banner = page.locator('.notify-banner');
    expect(await banner.innerText()).toBe('');
    await page.getByRole('link', { name: 'Notifications' }).click();
    await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
    const channels = page.getByRole('table', { name: 'Channels' });
    await channels.waitFor();
    expect(await channels.getByRole('rowheader').allTextContents()).toEqual([
      'ops-hook',
      'pager-hook',
      'old-hook',
    ]);
    const ops = rowOf(page, 'Channels', 'ops-hook');
    expect(await ops.innerText()).toMatch(/webhook\s+http:\/\/127\.0\.0\.1:\d+\s+enabled/);
    await page.getByText('Nothing has been sent yet.').waitFor();

    // A test the receiver accepts, and one it refuses with its answer.
    await page.getByRole('button', { name: 'Send test to ops-hook' }).click();
    await ops.getByText('Delivered').waitFor();
    expect(accepting.received).toHaveLength(1);
    await page.getByRole('button', { name: 'Send test to pager-hook' }).click();
    const pager = rowOf(page, 'Channels', 'pager-hook');
    await pager.getByText('Refused').waitFor();
    expect(await pager.locator('.channel-outcome').innerText()).toContain(
      'channel pager-hook: HTTP 500: receiver down',
    );

    // The delivery log, newest first.
    const log = page.getByRole('table', { name: 'Delivery log' });
    await expect.poll(() => log.locator('tbody tr').count()).toBe(2);
    const rows = log.locator('tbody tr');
    expect(await rows.nth(0).innerText()).toMatch(
      /pager-hook\s+shipcheck test notification\s+test\s+failed\s+1\s+HTTP 500: receiver down/,
    );
    expect(await rows.nth(1).innerText()).toMatch(
      /ops-hook\s+shipcheck test notification\s+test\s+delivered\s+1\s+—/,
    );
    await banner.getByText('1 notification failed').waitFor();

    // A 410 disables the channel: the row says why and the banner warns on every page.
    await page.getByRole('button', { name: 'Send test to old-hook' }).click();
    const old = rowOf(page, 'Channels', 'old-hook');
    await old.getByText('disabled', { exact: true }).waitFor();
    expect(await old.innerText()).toContain('HTTP 410: this hook was deleted (the endpoint is gone');
    await banner.getByText('2 notifications failed · channel old-hook disabled').waitFor();
    await checkAccessibility(page, 'the Notifications page');
    if (process.env.SHIPCHECK_NOTIFICATIONS_SHOT)
      await page.screenshot({ path: process.env.SHIPCHECK_NOTIFICATIONS_SHOT, fullPage: true });
    await page.getByRole('link', { name: 'History' }).click();
    await page.getByRole('heading', { level: 1, name: 'History' }).waitFor();
    await banner.getByText('2 notifications failed · channel old-hook disabled').waitFor();
    await banner.getByRole('link', { name: 'see Notifications' }).click();
    await page.waitForURL('**/notifications?state=failed');
    expect(await page.getByRole('combobox', { name: 'State' }).inputValue()).toBe('failed');
    await expect.poll(() => log.locator('tbody tr').count()).toBe(2);

    // Enable, through the confirm dialog: the channel and the banner say so.
    await page.getByRole('button', { name: 'Enable old-hook' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Enable channel' }).click();
    await old.getByText('enabled', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Send test to old-hook' }).waitFor();
    await expect.poll(() => banner.innerText()).toMatch(/^2 notifications failed — see Notifications$/);

    // The receivers are back: retry both failures; they leave the failed view and the banner goes.
    refusing.answer = () => ({ status: 200, body: 'ok' });
    gone.answer = () => ({ status: 200, body: 'ok' });
    for (const remaining of [1, 0]) {
      const id = (await log.locator('tbody tr').first().getByRole('rowheader').innerText()).slice(1);
      await page.getByRole('button', { name: `Retry notification #${id}` }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Retry notification' }).click();
      await expect.poll(() => log.locator('tbody tr').count()).toBe(remaining);
      if (remaining === 0) await page.getByText('No notification matches these filters.').waitFor();
    }
    await expect.poll(() => banner.innerText()).toBe('');
    await page.getByRole('combobox', { name: 'State' }).selectOption('delivered');
    await page.waitForURL('**/notifications?state=delivered');
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return log.locator('tbody tr').count();
      })
      .toBe(3);
    expect(refusing.received).toHaveLength(2);
    expect(gone.received).toHaveLength(2);

    // More than a page: `Older` reads below the last entry shown.
    for (let i = 0; i < PAGE_SIZE; i++)
      expect((await s.api('/api/v1/channels/ops-hook/test', JSON_POST)).status).toBe(200);
    await page.getByRole('combobox', { name: 'Channel' }).selectOption('ops-hook');
    await page.waitForURL('**/notifications?channel=ops-hook&state=delivered');
    await expect.poll(() => log.locator('tbody tr').count()).toBe(PAGE_SIZE);
    await page.getByRole('button', { name: 'Older' }).click();
    await expect.poll(() => log.locator('tbody tr').count()).toBe(PAGE_SIZE + 1);
    expect(await page.getByRole('button', { name: 'Older' }).count()).toBe(0);
  });

  it("given a phone's width, when the page opens, then its tables scroll inside their own box", async () => {
    const { page } = await openPage(browser, s.apiUrl, { viewport: MOBILE });
    await signIn(page, TEST_USER, PASSWORD);
    await page.goto('/notifications');
    await page.getByRole('table', { name: 'Delivery log' }).waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(MOBILE.width);
    if (process.env.SHIPCHECK_NOTIFICATIONS_SHOT)
      await page.screenshot({
        path: process.env.SHIPCHECK_NOTIFICATIONS_SHOT.replace(/\.png$/, '-phone.png'),
        fullPage: true,
      });
    await checkAccessibility(page, 'the Notifications page on a phone');
  });

  it('given a viewer, when the page opens, then it draws no control a viewer would be refused', async () => {
    const made = await s.api('/api/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'vic', password: PASSWORD, roles: ['viewer'] }),
    });
    expect(made.status).toBe(201);
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, 'vic', PASSWORD);
    await page.goto('/notifications');
    await page.getByRole('table', { name: 'Delivery log' }).waitFor();
    await page.getByRole('table', { name: 'Channels' }).waitFor();
    expect(await page.getByRole('button', { name: /Send test|Enable|Retry/ }).count()).toBe(0);
  });
});
