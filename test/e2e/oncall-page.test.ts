import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PASSWORD as PASSWORD, TEST_USER } from '../support/auth.js';
import {
  checkAccessibility,
  chromiumOrSkip,
  launchBrowser,
  openPage,
  screenshot,
  signIn,
} from '../support/browser.js';
import { Scenario } from './harness.js';

// The On call page in Debian's chromium against one real `shipcheck up`, on the real clock: the
// page asks for "now" and the next four weeks, as a person's browser does.

const CAN_RUN = chromiumOrSkip('oncall-page.test.ts');

const ONCALL = `oncall:
  schedules:
    - name: primary
      timeZone: Europe/Berlin
      layers:
        - { name: weekdays, users: [ana, bo], start: 2026-01-05T09:00, turn: weekly, handoff: mon 09:00, restrict: { days: [mon, tue, wed, thu, fri], from: '09:00', to: '17:00' } }
        - { name: nights, users: [cy, di], start: 2026-01-05T17:00, turn: daily, restrict: [{ days: [mon, tue, wed, thu], from: '17:00', to: '09:00' }] }
  escalationPolicies:
    - { name: default, steps: [{ delay: 5m, targets: [{ schedule: primary }] }, { targets: [{ user: ana }] }] }
`;

describe.runIf(CAN_RUN)('the On call page', () => {
  let s: Scenario;
  let browser: Browser;

  beforeAll(async () => {
    s = await Scenario.create({ extra: ONCALL });
    await s.up();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
  });

  it('shows who is on call now, the escalation steps, and four weeks of each schedule', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await signIn(page, TEST_USER, PASSWORD);
    await page.getByRole('link', { name: 'On call' }).click();
    await page.getByRole('heading', { name: 'On call', level: 1 }).waitFor();
    const now = page.getByRole('table', { name: 'On call now' });
    await now.waitFor();
    expect(await now.getByRole('rowheader').allTextContents()).toEqual(['primary']);
    await page.getByRole('heading', { name: /primary/, level: 2 }).waitFor();
    const weeks = page.locator('table.oncall-week');
    await weeks.first().waitFor();
    expect(await weeks.count()).toBeGreaterThanOrEqual(4);
    const firstWeek = await weeks.first().innerText();
    expect(firstWeek).toMatch(/Mon \d\d-\d\d/);
    expect(firstWeek).toMatch(/(ana|bo|cy|di)/);
    // Weekends have nobody: the restrictions cover Monday to Friday only.
    expect(firstWeek).toContain('nobody');
    expect(await page.locator('.oncall-policies').innerText()).toContain('default');
    await screenshot(page, 'dashboard-oncall');
    await checkAccessibility(page, 'the On call page');
  });
});
