import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { checkAccessibility, chromiumOrSkip, launchBrowser, openPage, signIn } from '../support/browser.js';
import { Scenario, waitFor } from './harness.js';

// The baselines in Debian's chromium against one real `shipcheck up`: v1, then a v2 that answers
// 40 ms slower, under the same steady load; the release page and the service's baselines page must
// say the regression in words and chart both releases.

const PASSWORD = 'a long enough dashboard password';
const LEAD = 'lead';
const CAN_RUN = chromiumOrSkip('baselines-dashboard.test.ts');
const STEP_LIMIT_MS = 120_000;
const SHOWN_WITHIN_MS = 30_000;

describe.runIf(CAN_RUN)('baselines in the dashboard', { timeout: STEP_LIMIT_MS }, () => {
  let s: Scenario;
  let browser: Browser;
  let load: LoadGenerator | undefined;

  async function deployed(version: string): Promise<number> {
    const result = await s.cli('deploy', version, '--wait');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const id = (await s.status()).release!.id;
    await waitFor(`the baseline of ${version}`, async () => {
      const answer = (await (await s.api(`/api/v1/releases/${id}/baseline`)).json()) as {
        baseline: { state: string } | null;
      };
      return answer.baseline !== null && answer.baseline.state !== 'recording';
    });
    return id;
  }

  beforeAll(async () => {
    // Given v1 and a slower v2, each measured at 100% under the same load
    s = await Scenario.create({
      faults: { v2: { latencyMs: 40 } },
      steps: '[{setWeight: 50}, {pause: 1s}]\n  bakeTime: 3s',
      extra: 'baseline: { minWindow: 3s, minRequests: 40 }\n',
    });
    await s.up();
    const created = await s.api('/api/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: LEAD, password: PASSWORD, roles: ['admin'], groups: [] }),
    });
    expect(created.status, await created.text()).toBe(201);
    load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 60, concurrency: 8, maxDurationMs: 120_000 });
    load.start();
    await deployed('v1');
    await deployed('v2');
    await load.stop();
    load = undefined;
    browser = await launchBrowser();
  }, STEP_LIMIT_MS);

  afterAll(async () => {
    await browser?.close();
    await load?.stop();
    await s?.cleanup();
  });

  it("says v2's regression in words on its release page, and charts both releases on the service's baselines page", async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await page.goto('/login');
    await signIn(page, LEAD, PASSWORD);

    // When the release page of v2 is opened
    await page.goto('/releases/2');
    const section = page.getByTestId('release-baseline');
    await section.waitFor({ timeout: SHOWN_WITHIN_MS });
    // Then its baseline section names the regression and both figures, not by colour alone
    expect(await section.getAttribute('data-verdict')).toBe('regressed');
    const alert = section.getByRole('alert');
    expect(await alert.textContent()).toMatch(/^Regression against v1 \(#1\): p99 latency .* ms -> .* ms/);
    const row = section.getByRole('row', { name: /p99 latency/ });
    expect(await row.textContent()).toMatch(/Regressed/);

    // When the Services table's Baselines link is followed
    await page.goto('/services');
    await page.getByRole('link', { name: 'Baselines of web' }).click();
    await page.getByRole('heading', { level: 1, name: 'Baselines of web' }).waitFor();
    // Then the chart has both releases and the table says v2 regressed
    await expect
      .poll(async () => page.getByTestId('baseline-chart').getAttribute('data-points'), {
        timeout: SHOWN_WITHIN_MS,
      })
      .toBe('2');
    const v2 = page.getByRole('row', { name: /#2 v2/ });
    expect(await v2.textContent()).toMatch(/Regressed: p99 latency/);
    await checkAccessibility(page, 'the baselines page');
  });
});
