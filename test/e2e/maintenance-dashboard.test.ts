/**
 * Scheduled checks in the dashboard, in Debian's chromium against a real `shipcheck up`: the Services
 * table marks a unit with a failing scheduled check, the mark leads to the Maintenance page, and a
 * deployer runs an item there with "Run now"; with no WCAG A/AA violation.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
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
import { Scenario, waitFor } from './harness.js';

const CAN_RUN = chromiumOrSkip('maintenance-dashboard.test.ts');
const SMOKE = 'maintenance/regular-checks/disk-smoke';

describe.runIf(CAN_RUN)('scheduled checks in the dashboard', () => {
  let s: Scenario;
  let browser: Browser;

  beforeAll(async () => {
    s = await Scenario.create({ instances: 1, extra: 'checklist: { template: checks.yaml }\n' });
    fs.writeFileSync(
      path.join(s.dir, 'checks.yaml'),
      `extends: default
items:
  - id: ${SMOKE}
    section: Maintenance / Regular Checks
    title: Disk smoke test
    kind: command
    gate: scheduled
    schedule: "*/2 * * * * *"
    params: { run: "exit 3" }
`,
    );
    await s.up();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
  });

  it('given a failing scheduled check, when a deployer opens the overview, then its badge leads to the Maintenance page, where an item runs now', async () => {
    await waitFor('the smoke test to fail on its own', async () => {
      const res = await s.api('/api/v1/services');
      const { services } = (await res.json()) as { services: { maintenance: { failing: number } }[] };
      return services[0]?.maintenance.failing === 1;
    });
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, TEST_USER, PASSWORD);
    const badge = page.getByRole('link', { name: '1 failing check' });
    await badge.click();
    await page.getByRole('heading', { level: 1, name: 'Maintenance: web' }).waitFor();
    const table = page.getByRole('table', { name: 'Scheduled checks' });
    const smoke = table.locator('tbody tr', {
      has: page.getByRole('rowheader', { name: /Disk smoke test/ }),
    });
    // Failing items come first.
    expect(await table.locator('tbody tr').first().innerText()).toContain('Disk smoke test');
    expect(await smoke.innerText()).toMatch(/\*\/2 \* \* \* \* \* \(UTC\)\s+(failed|running)/);
    await checkAccessibility(page, 'the Maintenance page');

    await page.getByRole('button', { name: 'Run now: Key rotation schedule on web' }).click();
    await page
      .getByRole('status')
      .getByText(/web Key rotation schedule: passed/)
      .waitFor();
    const res = await s.api('/api/v1/services/web/maintenance/key-rotation-schedule/runs');
    const { runs } = (await res.json()) as { runs: { trigger: string; by: string | null }[] };
    expect(runs[0]).toMatchObject({ trigger: 'manual', by: TEST_USER });
  });

  it("given a phone's width, when the page opens at its address, then its table scrolls inside its own box", async () => {
    const { page } = await openPage(browser, s.apiUrl, { viewport: MOBILE });
    await signIn(page, TEST_USER, PASSWORD);
    await page.goto('/maintenance');
    await page.getByRole('table', { name: 'Scheduled checks' }).waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(MOBILE.width);
  });

  it('given a viewer, when the page opens, then it offers no Run now button', async () => {
    const made = await s.api('/api/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'vic', password: PASSWORD, roles: ['viewer'] }),
    });
    expect(made.status).toBe(201);
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, 'vic', PASSWORD);
    await page.goto('/maintenance');
    await page.getByRole('table', { name: 'Scheduled checks' }).waitFor();
    expect(await page.getByRole('button', { name: /^Run now/ }).count()).toBe(0);
  });
});
