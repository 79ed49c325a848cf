/**
 * The dashboard's incident pages in a real browser: open an incident by hand, acknowledge it, add a
 * note and resolve it through the confirm dialogs, and read its timeline; with no WCAG A/AA
 * violation on either page.
 */
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFirstAdmin, withSession } from '../support/auth.js';
import { checkAccessibility, chromiumOrSkip, launchBrowser, openPage, signIn } from '../support/browser.js';
import { type SecuredApi, startSecuredApi } from '../support/secured-api.js';
import { readWebDist } from '../../src/api/web-app.js';

const PASSWORD = 'incident dashboard password';
/** The dashboard `npm run build` made. */
const BUILT = fileURLToPath(new URL('../../dist/web', import.meta.url));

if (chromiumOrSkip('incidents-dashboard.test.ts')) {
  describe('the incident pages of the dashboard', () => {
    let api: SecuredApi;
    let browser: Browser;

    beforeAll(async () => {
      const web = readWebDist(BUILT);
      if (web === undefined) throw new Error(`no dashboard in ${BUILT}: run \`npm run build\` first`);
      api = await startSecuredApi({ web });
      const root = await createFirstAdmin(api.url, api.security.setup.code!, 'root');
      const made = await fetch(`${api.url}/api/v1/users`, {
        method: 'POST',
        headers: withSession(root),
        body: JSON.stringify({ name: 'dana', password: PASSWORD, roles: ['deployer'] }),
      });
      expect(made.status).toBe(201);
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      await api?.close();
    });

    it('opens an incident, acknowledges it, adds a note and resolves it, through the confirm dialogs', async () => {
      const { page } = await openPage(browser, api.url);
      await signIn(page, 'dana', PASSWORD);
      await page.getByRole('link', { name: 'Incidents' }).click();
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await page.getByText('No incidents.').waitFor();
      await checkAccessibility(page, 'the incidents page');

      await page.getByLabel('Title').fill('Checkout fails');
      await page.getByLabel('Severity').selectOption('critical');
      await page.getByRole('button', { name: 'Open incident' }).click();
      await page.getByRole('heading', { level: 1, name: 'Incident #1: Checkout fails' }).waitFor();

      await page.getByRole('button', { name: 'Acknowledge' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Acknowledge' }).click();
      await page.locator('.incident-summary').getByText('acknowledged').waitFor();

      await page.getByRole('button', { name: 'Add note' }).click();
      await page.getByRole('dialog').getByLabel('Note').fill('Rolled the payment client back.');
      await page.getByRole('dialog').getByRole('button', { name: 'Add note' }).click();
      await page.getByText('Rolled the payment client back.').waitFor();

      await page.getByRole('button', { name: 'Resolve' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Resolve' }).click();
      await page.locator('.incident-summary').getByText('resolved').waitFor();
      expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);

      const kinds = await page.locator('.incident-entry-kind').allTextContents();
      expect(kinds).toEqual(['triggered', 'acknowledged', 'note', 'resolved']);
      await checkAccessibility(page, 'the incident page');
      if (process.env.SHIPCHECK_INCIDENT_SHOT)
        await page.screenshot({ path: process.env.SHIPCHECK_INCIDENT_SHOT, fullPage: true });

      await page.getByRole('link', { name: 'All incidents' }).click();
      await page.getByRole('link', { name: '#1' }).waitFor();
      expect(await page.locator('table.incidents-table tbody tr').count()).toBe(1);
    });
  });
}
