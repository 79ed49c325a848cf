/**
 * The Status page in the dashboard, in Debian's chromium against a real `shipcheck up` with a status
 * page: a deployer sets a component's status by hand, opens a page incident, posts an update,
 * resolves it, and schedules a maintenance and moves it along, each change then on the public
 * `/status`; a refused form shows the API's message; a viewer reads it all with no button; with no
 * WCAG A/AA violation.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkAccessibility,
  chromiumOrSkip,
  launchBrowser,
  MOBILE,
  openPage,
  pageWidth,
  screenshot,
  signIn,
} from '../support/browser.js';
import { Scenario, waitFor } from './harness.js';

const CAN_RUN = chromiumOrSkip('status-page-dashboard.test.ts');
const PASSWORD = 'status page dashboard password';
/** Two components, so the forms have a choice. */
const STATUS_PAGE = `statusPage:
  name: Web status
  components:
    - { name: Website, services: [web] }
    - { name: API, services: [web] }
`;

/** `ms` as a `datetime-local` value in this machine's time zone (the browser's too). */
function localInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

describe.runIf(CAN_RUN)('the Status page in the dashboard', () => {
  let s: Scenario;
  let browser: Browser;

  const publicPage = async (): Promise<string> => (await fetch(`${s.apiUrl}/status`)).text();
  const addUser = async (name: string, role: string): Promise<void> => {
    const made = await s.api('/api/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: PASSWORD, roles: [role] }),
    });
    expect(made.status).toBe(201);
  };
  const openStatusPage = async (page: Page, name: string): Promise<void> => {
    await signIn(page, name, PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Status page' }).click();
    await page.getByRole('heading', { level: 1, name: 'Status page' }).waitFor();
    await page.getByRole('table', { name: 'Components' }).waitFor();
  };

  beforeAll(async () => {
    s = await Scenario.create({ instances: 1, extra: STATUS_PAGE });
    await s.up();
    await addUser('dee', 'deployer');
    await addUser('vic', 'viewer');
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
  });

  it('given a deployer, when they set a status, run an incident and schedule a maintenance, then the public page shows each change', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await openStatusPage(page, 'dee');
    const components = page.getByRole('table', { name: 'Components' });
    const website = components.locator('tbody tr', { has: page.getByRole('rowheader', { name: /Website/ }) });
    await page.getByText('No open incident.').waitFor();
    await checkAccessibility(page, 'the Status page');

    // The component's status, by hand
    const override = page.getByRole('form', { name: "Set a component's status" });
    await override.getByLabel('Component').selectOption({ label: 'Website' });
    await override.getByLabel('Status').selectOption('degraded_performance');
    await override.getByLabel('Reason (optional)').fill('Slow checkout');
    await override.getByRole('button', { name: 'Set status' }).click();
    await website.getByText('by dee').waitFor();
    expect(await website.innerText()).toMatch(/Website[\s\S]*degraded performance[\s\S]*until cleared/);
    expect(await publicPage()).toContain('<span class="st degraded_performance">Degraded performance</span>');

    // An end in the past is refused, in the server's words, on the form
    await override.getByLabel('Until (optional, your time)').fill(localInput(Date.now() - 3_600_000));
    await override.getByRole('button', { name: 'Set status' }).click();
    await override.getByRole('alert').getByText('the override would end before it starts').waitFor();

    // An incident: open, update, resolve
    const open = page.getByRole('form', { name: 'Open a page incident' });
    await open.getByRole('button', { name: 'Open incident' }).click();
    await open.getByRole('alert').waitFor();
    expect(await open.getByRole('alert').innerText()).toMatch(/name/);
    await open.getByLabel('Name').fill('Checkout is slow');
    await open.getByLabel('Impact').selectOption('major');
    await open.getByLabel('What the public reads').fill('We are looking into slow checkouts.');
    await open.getByLabel('Website').check();
    await open.getByRole('button', { name: 'Open incident' }).click();
    const card = page.getByRole('article', { name: 'Checkout is slow' });
    await card.getByText('We are looking into slow checkouts.').waitFor();
    expect(await card.innerText()).toMatch(/investigating[\s\S]*impact major[\s\S]*Components: Website/);
    expect(await publicPage()).toMatch(
      /Active incidents[\s\S]*Checkout is slow[\s\S]*We are looking into slow checkouts\./,
    );

    const update = card.getByRole('form', { name: 'Post an update: Checkout is slow' });
    await update.getByLabel('Status').selectOption('identified');
    await update.getByLabel('Update').fill('A slow database query; a fix is rolling out.');
    await update.getByRole('button', { name: 'Post update' }).click();
    await card.getByText('A slow database query; a fix is rolling out.').waitFor();
    expect(await publicPage()).toContain('A slow database query; a fix is rolling out.');

    await card.getByRole('button', { name: 'Resolve: Checkout is slow' }).click();
    await page.getByRole('dialog').getByLabel('Last update (optional)').fill('Checkouts are fast again.');
    await page.getByRole('dialog').getByRole('button', { name: 'Resolve' }).click();
    await page.getByRole('heading', { level: 3, name: 'Recently resolved' }).waitFor();
    await page.getByText('No open incident.').waitFor();
    expect(await card.getByRole('form').count()).toBe(0);
    expect(await publicPage()).toMatch(
      /Past incidents[\s\S]*Checkout is slow[\s\S]*Checkouts are fast again\./,
    );

    // The override cleared: the component shows its derived status again
    await website.getByRole('button', { name: 'Clear override: Website' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Clear override' }).click();
    await website.getByText('none').waitFor();
    expect(await publicPage()).not.toContain('st degraded_performance');

    // A maintenance: a window that ends before it starts is refused, then one is scheduled and moved along
    const schedule = page.getByRole('form', { name: 'Schedule a maintenance' });
    const from = Date.now() + 86_400_000;
    await schedule.getByLabel('Name').fill('Database upgrade');
    await schedule.getByLabel('API').check();
    await schedule.getByLabel('From (your time)').fill(localInput(from + 3_600_000));
    await schedule.getByLabel('Until (your time)').fill(localInput(from));
    await schedule.getByRole('button', { name: 'Schedule maintenance' }).click();
    await schedule.getByRole('alert').getByText('scheduled_until must be after scheduled_for').waitFor();
    await schedule.getByLabel('Until (your time)').fill(localInput(from + 7_200_000));
    await schedule.getByRole('button', { name: 'Schedule maintenance' }).click();
    const maintenances = page.getByRole('table', { name: 'Maintenances' });
    const upgrade = maintenances.locator('tbody tr', {
      has: page.getByRole('rowheader', { name: 'Database upgrade' }),
    });
    await upgrade.waitFor();
    expect(await upgrade.innerText()).toMatch(/scheduled\s+API/);
    expect(await publicPage()).toMatch(/Upcoming maintenance[\s\S]*Database upgrade/);

    await upgrade.getByRole('button', { name: 'Start: Database upgrade' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Start' }).click();
    await upgrade.getByText('in progress', { exact: true }).waitFor();
    expect(await publicPage()).toMatch(/Maintenance in progress[\s\S]*Database upgrade/);
    // The screenshot of the page as it opens, without the messages of the steps above
    await page.reload();
    await upgrade.getByText('in progress', { exact: true }).waitFor();
    await screenshot(page, 'dashboard-status-page');

    await upgrade.getByRole('button', { name: 'Complete: Database upgrade' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Complete' }).click();
    await upgrade.getByText('completed', { exact: true }).waitFor();
    expect(await upgrade.getByRole('button').count()).toBe(0);
    await waitFor(
      'the public page to drop the maintenance',
      async () => !(await publicPage()).includes('Maintenance in progress'),
    );
  });

  it('given a viewer, when the page opens, then everything shows and no button or form does', async () => {
    await waitFor('an incident and a maintenance to show', async () => {
      const res = await s.api('/api/v1/status-page/maintenances');
      return ((await res.json()) as { maintenances: unknown[] }).maintenances.length > 0;
    });
    const { page } = await openPage(browser, s.apiUrl);
    await openStatusPage(page, 'vic');
    await page.getByRole('article', { name: 'Checkout is slow' }).waitFor();
    await page.getByRole('table', { name: 'Maintenances' }).getByText('Database upgrade').waitFor();
    await page.getByText(/0 confirmed subscribers/).waitFor();
    expect(await page.locator('main').getByRole('button').count()).toBe(0);
    expect(await page.locator('main form').count()).toBe(0);
    await checkAccessibility(page, 'the Status page as a viewer sees it (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkAccessibility(page, 'the Status page as a viewer sees it (dark)');
  });

  it("given a phone's width, when the page opens at its address, then its tables scroll inside their own box", async () => {
    const { page } = await openPage(browser, s.apiUrl, { viewport: MOBILE });
    await signIn(page, 'dee', PASSWORD);
    await page.goto('/status-page');
    await page.getByRole('table', { name: 'Components' }).waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(MOBILE.width);
  });
});

describe.runIf(CAN_RUN)('the Status page in the dashboard of an installation without one', () => {
  let s: Scenario;
  let browser: Browser;

  beforeAll(async () => {
    s = await Scenario.create({ instances: 1 });
    await s.up();
    const made = await s.api('/api/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'dee', password: PASSWORD, roles: ['deployer'] }),
    });
    expect(made.status).toBe(201);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
  });

  it('given no statusPage: in the config, when the page opens, then it says how to add one', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, 'dee', PASSWORD);
    await page.goto('/status-page');
    await page.getByRole('heading', { level: 1, name: 'Status page' }).waitFor();
    await page.getByRole('alert').getByText('add statusPage: to its config').waitFor();
    expect(await page.locator('main form').count()).toBe(0);
  });
});
