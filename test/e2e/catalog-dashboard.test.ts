import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PASSWORD as PASSWORD, TEST_USER } from '../support/auth.js';
import {
  MOBILE,
  checkAccessibility,
  chromiumOrSkip,
  launchBrowser,
  openPage,
  pageWidth,
  screenshot,
  signIn,
} from '../support/browser.js';
import { Scenario } from './harness.js';

// The Catalog page and the release page's runbooks in Debian's chromium against one real
// `shipcheck up`, signed in as a person: the diagrams load as images from the API, and a runbook
// written in markdown (with raw HTML in it) renders, escaped, on demand.

const CAN_RUN = chromiumOrSkip('catalog-dashboard.test.ts');

const CATALOG = `catalog:
  owner: release-lead
  team: shop
  tier: 1
  description: The storefront.
  dependencies:
    - { name: orders-db, kind: database, critical: true }
    - { name: redis, kind: cache }
    - { name: payments, kind: api, url: "https://pay.example" }
  dataFlows:
    - { from: web, to: orders-db, data: orders }
    - { from: web, to: payments, data: card tokens }
  runbooks:
    - { title: Restart the shop, file: runbooks/restart.md }
    - { title: Vendor wiki, url: "https://wiki.example.com/shop" }
  contacts: [{ user: release-lead }]
`;
const RUNBOOK = `# Restarting the shop

1. Run \`shipcheck deploy\` with the stable version.
2. Watch the error rate.

<img src=x onerror="document.title='owned'">
`;

describe.runIf(CAN_RUN)('the Catalog page', () => {
  let s: Scenario;
  let browser: Browser;
  let releaseId = 0;

  beforeAll(async () => {
    s = await Scenario.create({ instances: 1, steps: '[]', extra: CATALOG });
    fs.mkdirSync(path.join(s.dir, 'runbooks'));
    fs.writeFileSync(path.join(s.dir, 'runbooks', 'restart.md'), RUNBOOK);
    await s.up();
    const res = await s.api('/api/v1/services/web/releases', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v1' }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    releaseId = ((await res.json()) as { id: number }).id;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
  });

  it('shows both diagrams as loaded images with their edges in words, and a card per service', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, TEST_USER, PASSWORD);
    await page.getByRole('link', { name: 'Catalog' }).click();
    await page.getByRole('heading', { name: 'Catalog', level: 1 }).waitFor();
    for (const name of ['dependencies', 'data-flow']) {
      const image = page.getByTestId(`diagram-${name}`);
      await image.waitFor();
      await expect
        .poll(
          () =>
            image.evaluate((element) => {
              // The browser's HTMLImageElement; this file is compiled without the DOM types.
              const img = element as unknown as { complete: boolean; naturalWidth: number };
              return img.complete ? img.naturalWidth : 0;
            }),
          {
            timeout: 15_000,
          },
        )
        .toBeGreaterThan(0);
    }
    expect(await page.getByTestId('diagram-dependencies').getAttribute('alt')).toBe(
      'Service dependencies: web → orders-db (critical); web → payments; web → redis',
    );
    const card = page.getByRole('region', { name: 'web' });
    expect(await card.innerText()).toMatch(
      /Owner\s+release-lead[\s\S]*Tier\s+1[\s\S]*orders-db \(database, critical\)/,
    );
    await card.getByRole('button', { name: 'Restart the shop' }).click();
    const body = page.getByRole('article', { name: 'Runbook: Restart the shop' });
    await body.getByRole('heading', { name: 'Restarting the shop' }).waitFor();
    expect(await body.innerText()).toContain('<img src=x onerror="document.title=\'owned\'">');
    expect(await body.locator('img').count()).toBe(0);
    expect(await page.title()).not.toBe('owned');
    await screenshot(page, 'dashboard-catalog');
    await checkAccessibility(page, 'the Catalog page');
  });

  it('shows the runbooks beside the release they concern, rendered on demand', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, TEST_USER, PASSWORD);
    await page.goto(`/releases/${releaseId}`);
    const section = page.getByRole('region', { name: 'Runbooks' });
    await section.waitFor();
    expect(await section.getByRole('link', { name: 'Vendor wiki' }).getAttribute('href')).toBe(
      'https://wiki.example.com/shop',
    );
    await section.getByRole('button', { name: 'Restart the shop' }).click();
    await section.getByRole('listitem').filter({ hasText: 'Watch the error rate.' }).waitFor();
    await checkAccessibility(page, 'the release page with runbooks');
  });

  it('fits a phone in the dark scheme: the page never scrolls sideways, the diagram frame does', async () => {
    const { page } = await openPage(browser, s.apiUrl, { viewport: MOBILE, colorScheme: 'dark' });
    await signIn(page, TEST_USER, PASSWORD);
    await page.goto('/catalog');
    await page.getByTestId('diagram-data-flow').waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(MOBILE.width);
    await checkAccessibility(page, 'the Catalog page at 390 px, dark');
  });
});
