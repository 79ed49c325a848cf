import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { describe, expect, it, onTestFinished } from 'vitest';

// Debian's chromium driven through playwright-core: the browser the distribution ships and patches,
// never one downloaded by a test. Each test gets a fresh context (no cookies or storage carried over),
// and a test fails when its pages logged an error or threw: a CSP violation shows up there.

/** Where Debian installs chromium (`apt-get install chromium`). */
export const CHROMIUM = '/usr/bin/chromium';
/** Whether the real browser is here. */
export const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
/** Set by .ci/run: a browser test must run, or fail, instead of skipping. */
export const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
/** What a skipped browser test says. */
export const CHROMIUM_MISSING =
  `SKIPPED: no chromium at ${CHROMIUM} (install it with \`apt-get install chromium\`; ` +
  'set SHIPCHECK_REQUIRE_REAL=1 to make this a failure)';

/** The flags of a quiet headless run: no sandbox (containers), no updates, sync or QUIC traffic. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/** The desktop viewport of the tests and the screenshots. */
export const DESKTOP = { width: 1280, height: 800 } as const;
/** A phone's width, the narrowest the dashboard is made for. */
export const MOBILE = { width: 390, height: 844 } as const;

/** How long a click or a wait for an element may take before the test fails. */
const ACTION_LIMIT_MS = 15_000;
/** The WCAG 2.0 and 2.1 levels A and AA, as axe-core tags them. */
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
/** How many elements of one violation a failure lists. */
const TARGETS_SHOWN = 3;

/** The repository root (this file may run from dist/). */
const ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
/** Where the README's screenshots live. */
export const IMAGES_DIR = path.join(ROOT, 'docs', 'images');

/**
 * Says loudly that `file`'s browser tests are skipped for want of chromium, or registers a failing
 * test when SHIPCHECK_REQUIRE_REAL=1. Returns whether the browser tests can run.
 */
export function chromiumOrSkip(file: string): boolean {
  if (HAS_CHROMIUM) return true;
  if (!REQUIRE_REAL) console.warn(`${file}: ${CHROMIUM_MISSING}`);
  describe.runIf(REQUIRE_REAL)('the browser tests (required)', () => {
    it('need chromium because SHIPCHECK_REQUIRE_REAL=1', () => {
      throw new Error(`no chromium at ${CHROMIUM} and SHIPCHECK_REQUIRE_REAL=1; apt-get install chromium`);
    });
  });
  return false;
}

/** Starts headless chromium; the caller closes it (in afterAll). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A page in a fresh context, and what went wrong in it. */
export interface TestPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught page errors so far. */
  problems: string[];
}

/**
 * A console error that is an API answer the app handles and shows in words (401 before sign-in, a
 * refused code, a viewer's 403, a channel's test its server refused with 502): chromium logs every
 * failed fetch, but these are not faults of the page.
 */
function isHandledApiRefusal(text: string, url: string): boolean {
  const status = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(text)?.[1];
  if (status === undefined || !url.includes('/api/v1/')) return false;
  return status.startsWith('4') || (status === '502' && /\/api\/v1\/channels\/[^/]+\/test$/.test(url));
}

/**
 * Opens a page in a fresh context of `browser` at `viewport`, with `baseUrl` as its origin. The
 * context is closed when the test finishes, and the test fails when the page logged an error or threw.
 */
export async function openPage(
  browser: Browser,
  baseUrl: string,
  options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<TestPage> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: options.viewport ?? DESKTOP,
    colorScheme: options.colorScheme ?? 'light',
  });
  // A missing element fails in seconds, not at the test's limit.
  context.setDefaultTimeout(ACTION_LIMIT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const url = message.location().url;
    if (isHandledApiRefusal(message.text(), url)) return;
    problems.push(`console error: ${message.text()}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  onTestFinished(async () => {
    await context.close();
    expect(problems, 'the pages of this test logged errors').toEqual([]);
  });
  return { page, context, problems };
}

/** Signs in through the sign-in form at `/login` and waits for the signed-in frame (its `Sign out`). */
export async function signIn(page: Page, name: string, password: string, otp?: string): Promise<void> {
  await fillSignIn(page, name, password, otp);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Fills in and submits the sign-in form, without waiting for the outcome. */
export async function fillSignIn(page: Page, name: string, password: string, otp?: string): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  if (otp !== undefined) await page.getByLabel('Authenticator code (once you have enrolled one)').fill(otp);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** One axe-core finding, as a failure lists it. */
interface Violation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core on the page with the WCAG 2 A and AA rules, and fails listing each violation (id,
 * impact, help and the first elements) under `what`. axe is injected through CDP evaluation, which
 * the page's CSP (no inline script) does not govern.
 */
export async function checkAccessibility(page: Page, what: string): Promise<void> {
  await page.evaluate(axe.source);
  const violations = await page.evaluate(
    async ({ tags, shown }) => {
      const run = (globalThis as unknown as { axe: typeof axe }).axe.run;
      const results = await run({ runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return results.violations.map((v) => ({
        id: v.id,
        impact: v.impact ?? null,
        help: v.help,
        targets: v.nodes.slice(0, shown).map((node) => node.target.join(' ')),
      }));
    },
    { tags: WCAG_TAGS, shown: TARGETS_SHOWN },
  );
  const listed = violations.map(
    (v: Violation) => `${v.id} (${v.impact ?? 'unknown impact'}): ${v.help} at ${v.targets.join(', ')}`,
  );
  expect(listed, `WCAG A/AA violations on ${what}`).toEqual([]);
}

/** Whether the page's body is no wider than the viewport (tables scroll inside their own wrapper). */
export async function pageWidth(page: Page): Promise<number> {
  return page.evaluate<number>('document.documentElement.scrollWidth');
}

/** Writes a PNG of the page to docs/images/`name`.png (the whole page unless `fullPage` is false). */
export async function screenshot(
  page: Page,
  name: string,
  options: { fullPage?: boolean } = {},
): Promise<string> {
  fs.mkdirSync(IMAGES_DIR, { recursive: true });
  const file = path.join(IMAGES_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true, animations: 'disabled' });
  return file;
}
