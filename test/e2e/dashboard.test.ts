import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { TOTP_PERIOD_SECONDS, totpCode } from '../../src/security/totp.js';
import { CSRF_HEADER, WRONG_CREDENTIALS } from '../../src/security/auth.js';
import { login, withSession } from '../support/auth.js';
import {
  checkAccessibility,
  chromiumOrSkip,
  fillSignIn,
  launchBrowser,
  MOBILE,
  openPage,
  pageWidth,
  screenshot,
  signIn,
} from '../support/browser.js';
import { type ReleaseJson, Scenario, waitFor } from './harness.js';

// The dashboard in Debian's chromium against one real `shipcheck up`: three sample app instances
// behind the built-in proxy under steady load, the way the demo runs. The tests share the server
// and run in order, each a step of a release's life (v2 deployed from the page, watched, signed;
// v3 rolled back by itself); each one first brings the service to the state it needs through the
// API, so a failure in one does not take the others with it.

const UNIT = 'web';
/** The post-deploy gate's one manual item: every release waits there for a person's sign-off. */
const SIGN_OFF = {
  id: 'post-deployment/communication/confirm-with-owner',
  title: 'Confirm with the service owner',
};
const TEMPLATE = `name: dashboard
items:
  - id: ${SIGN_OFF.id}
    section: Post-Deployment / Communication
    title: ${SIGN_OFF.title}
    kind: manual
    gate: post-deploy
    params: { role: sre }
`;
/** A version whose every other request fails: the error-rate trigger rolls it back. */
const BAD_VERSION = 'v3';
const BAD_ERROR_RATE = 0.5;
/** Users the browser signs in as; passwords need 12 characters or more. */
const PASSWORD = 'a long enough dashboard password';
const LEAD = 'lead';
const VIEWER = 'watcher';
const TOTP_USER = 'second-factor';
/** Requests per second through the proxy, enough for every analysis window to have its minimum. */
const LOAD_RPS = 40;
const LOAD_CONCURRENCY = 4;
const LOAD_MAX_MS = 300_000;
const ENDED = ['succeeded', 'rolled_back', 'aborted', 'failed'];
/** Buttons that change something (`Sign out` changes nothing of a release); a viewer sees none of them. */
const CONTROL_BUTTON = /^(Pause|Resume|Abort|Promote|Roll back|Deploy|Waive|Re-run)\b|^Sign(?! out$)\b/;

/** How long a page may take to show what the stream or the API brings (it polls, never sleeps). */
const SHOWN_WITHIN_MS = 30_000;
/** A bound for one test, or the setup: a server start, a rollout step and a few pages on a busy machine. */
const STEP_LIMIT_MS = 120_000;

/** A good version the keyboard test deploys, so it does not depend on what the others left. */
const KEYBOARD_VERSION = 'v4';
/** Tab presses a keyboard user may need to reach a control on one page. */
const MAX_TABS = 60;
const CAN_RUN = chromiumOrSkip('dashboard.test.ts');

/** expect.poll with a bound long enough for a rollout step on a busy machine. */
function poll<T>(read: () => Promise<T>, message?: string) {
  return expect.poll(read, { timeout: SHOWN_WITHIN_MS, ...(message ? { message } : {}) });
}

describe.runIf(CAN_RUN)('the dashboard in a browser', { timeout: STEP_LIMIT_MS }, () => {
  let s: Scenario;
  let browser: Browser;
  let load: LoadGenerator | undefined;

  beforeAll(async () => {
    // Given v1 on three instances, steady traffic, an error-rate trigger, and a sign-off at post-deploy
    s = await Scenario.create({
      faults: { [BAD_VERSION]: { errorRate: BAD_ERROR_RATE } },
      steps: '[{setWeight: 20}, {pause: {}}, {setWeight: 50}, {pause: 2s}]',
      triggers: '[{metric: error_rate, above: 5%, window: 3s, minRequests: 5}]',
      extra: 'checklist:\n  template: checklist.yaml\n',
    });
    fs.writeFileSync(path.join(s.dir, 'checklist.yaml'), TEMPLATE);
    await s.up();
    for (const [name, roles, groups] of [
      [LEAD, ['admin'], ['sre']],
      [VIEWER, ['viewer'], []],
      [TOTP_USER, ['viewer'], []],
    ] as const)
      await expectStatus(
        s.api('/api/v1/users', json({ name, password: PASSWORD, roles, groups })),
        201,
        `add ${name}`,
      );
    await deployThroughApi('v1');
    await signThroughApi();
    await waitForRelease((r) => r.version === 'v1' && r.state === 'succeeded', 'v1 succeeded');
    load = new LoadGenerator({
      url: `${s.proxyUrl}/`,
      rps: LOAD_RPS,
      concurrency: LOAD_CONCURRENCY,
      maxDurationMs: LOAD_MAX_MS,
    });
    load.start();
    browser = await launchBrowser();
  }, STEP_LIMIT_MS);

  afterAll(async () => {
    await browser?.close();
    await load?.stop();
    await s?.cleanup();
  });

  /** POST options with a JSON body. */
  function json(body: object): RequestInit {
    return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  }

  async function expectStatus(answer: Promise<Response>, status: number, what: string): Promise<unknown> {
    const response = await answer;
    const text = await response.text();
    expect(response.status, `${what}: ${text}`).toBe(status);
    return text ? (JSON.parse(text) as unknown) : undefined;
  }

  async function deployThroughApi(version: string): Promise<ReleaseJson> {
    return (await expectStatus(
      s.api(`/api/v1/services/${UNIT}/releases`, json({ version })),
      201,
      `deploy ${version}`,
    )) as ReleaseJson;
  }

  async function signThroughApi(): Promise<void> {
    await waitForRelease((r) => r.state === 'waiting' && r.phase === 'post-deploy', 'the post-deploy gate');
    await expectStatus(
      s.api(`/api/v1/services/${UNIT}/checklist/sign`, json({ item: SIGN_OFF.id })),
      200,
      'sign',
    );
  }

  async function waitForRelease(ok: (r: ReleaseJson) => boolean, what: string): Promise<ReleaseJson> {
    let found: ReleaseJson | null = null;
    await waitFor(what, async () => {
      found = (await s.status()).release;
      return found !== null && ok(found);
    });
    return found!;
  }

  /** Ends whatever release is active (through the API), so the next step starts from a stable service. */
  async function settle(): Promise<void> {
    const active = (await s.status()).release;
    if (active === null || ENDED.includes(active.state)) return;
    await expectStatus(s.api(`/api/v1/services/${UNIT}/abort`, json({})), 200, 'abort');
    await waitForRelease((r) => ENDED.includes(r.state), 'the active release to end');
  }

  /** A v2 canary held at 20% by an indefinite pause: deployed here unless an earlier step did it. */
  async function canary(): Promise<ReleaseJson> {
    const active = (await s.status()).release;
    if (active === null || active.version !== 'v2' || ENDED.includes(active.state)) {
      await settle();
      await deployThroughApi('v2');
    }
    return waitForRelease((r) => r.state === 'paused' && r.weight === 20, 'v2 paused at 20%');
  }

  /** v2 waiting at the post-deploy gate: resumed past its indefinite pause unless an earlier step did it. */
  async function atSignOff(): Promise<ReleaseJson> {
    const active = (await s.status()).release;
    const atGate = (r: ReleaseJson): boolean => r.state === 'waiting' && r.phase === 'post-deploy';
    if (active === null || !atGate(active)) {
      const release = active?.version === 'v2' && !ENDED.includes(active.state) ? active : await canary();
      if (release.state === 'paused')
        await expectStatus(s.api(`/api/v1/services/${UNIT}/resume`, json({})), 200, 'resume');
    }
    return waitForRelease(atGate, 'v2 at the post-deploy gate');
  }

  /** A page of a fresh context, signed in as `name`. */
  async function signedIn(name: string, options: Parameters<typeof openPage>[2] = {}): Promise<Page> {
    const { page } = await openPage(browser, s.apiUrl, options);
    await signIn(page, name, PASSWORD);
    return page;
  }

  /** Opens the release page of `id` and waits for its heading. */
  async function releasePage(page: Page, id: number): Promise<void> {
    await page.goto(`/releases/${id}`);
    await page.getByRole('heading', { level: 1, name: new RegExp(`^Release #${id}: ${UNIT} `) }).waitFor();
  }

  /** Presses Tab until the focus is on a `tag` element whose text is `text`; fails after a page's worth. */
  async function tabTo(page: Page, tag: string, text: string): Promise<void> {
    for (let i = 0; i < MAX_TABS; i++) {
      await page.keyboard.press('Tab');
      // A string, as this file is compiled without the DOM's types.
      const focused = (await page.evaluate(
        "({ tag: document.activeElement?.tagName ?? '', text: (document.activeElement?.textContent ?? '').trim() })",
      )) as { tag: string; text: string };
      if (focused.tag === tag && focused.text === text) return;
    }
    throw new Error(`no ${tag} "${text}" within ${MAX_TABS} presses of Tab`);
  }

  async function textOf(locator: Locator): Promise<string> {
    return ((await locator.textContent()) ?? '').trim();
  }

  async function pointsOf(page: Page, key: string): Promise<number> {
    return Number((await page.getByTestId(`chart-${key}`).getAttribute('data-points')) ?? '0');
  }

  it('signs in with a password and a code from an authenticator, and refuses a wrong code', async () => {
    // Given a user who enrolled an authenticator through the API
    const session = await login(s.apiUrl, TOTP_USER, PASSWORD);
    const enrolment = (await expectStatus(
      fetch(`${s.apiUrl}/api/v1/me/mfa/enrol`, { method: 'POST', headers: withSession(session), body: '{}' }),
      200,
      'enrol',
    )) as { secret: string };
    const code = (offsetSteps: number): string =>
      totpCode({ secret: enrolment.secret, now: Date.now() + offsetSteps * TOTP_PERIOD_SECONDS * 1000 });
    await expectStatus(
      fetch(`${s.apiUrl}/api/v1/me/mfa/confirm`, {
        method: 'POST',
        headers: withSession(session),
        body: JSON.stringify({ code: code(0) }),
      }),
      200,
      'confirm',
    );

    // When they sign in with a code far outside the window, they see why and get no session
    const { page, context } = await openPage(browser, s.apiUrl);
    const farAway = 10;
    await fillSignIn(page, TOTP_USER, PASSWORD, code(farAway));
    await poll(() => textOf(page.getByRole('alert'))).toContain(WRONG_CREDENTIALS);
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    const refused = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.status));
    expect(refused).toBe(401);

    // When they sign in with a fresh code (the next step: the one used to confirm cannot come back)
    await signIn(page, TOTP_USER, PASSWORD, code(1));
    // Then the frame shows who they are, and the navigation a viewer has
    await poll(() => textOf(page.locator('header'))).toContain(TOTP_USER);
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const link of ['Services', 'History', 'Account'])
      expect(await nav.getByRole('link', { name: link, exact: true }).count(), link).toBe(1);
    expect(await nav.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    expect((await context.cookies()).length).toBeGreaterThan(0);
  });

  it('shows an admin every page in the navigation, and signs out', async () => {
    // Given the lead signed in
    const page = await signedIn(LEAD);
    const nav = page.getByRole('navigation', { name: 'Main' });
    // Then every page is one link away
    for (const link of ['Services', 'History', 'Audit log', 'People', 'Account']) {
      const target = nav.getByRole('link', { name: link, exact: true });
      await target.click();
      await poll(() => target.getAttribute('aria-current')).toBe('page');
    }
    // When they sign out, the sign-in form comes back and the API has no session for the page
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => fetch('/api/v1/session').then((r) => r.status))).toBe(401);
  });

  it('has no WCAG A/AA violation on the sign-in page, light and dark', async () => {
    const { page } = await openPage(browser, s.apiUrl);
    await page.goto('/login');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await checkAccessibility(page, 'the sign-in page (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkAccessibility(page, 'the sign-in page (dark)');
  });

  it('starts a deploy from the services page and lands on the release page', async () => {
    // Given the services page, with v1 stable
    await settle();
    const page = await signedIn(LEAD);
    await page.getByRole('table', { name: 'Services' }).waitFor();
    // When the lead deploys v2 from the unit's row
    await page.getByRole('button', { name: `Deploy ${UNIT}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Version').fill('v2');
    await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
    // Then the page is the new release's
    await page.waitForURL(/\/releases\/\d+$/);
    const id = Number(/\/releases\/(\d+)$/.exec(page.url())![1]);
    await page.getByRole('heading', { level: 1, name: `Release #${id}: ${UNIT} v2` }).waitFor();
    expect((await s.status()).release).toMatchObject({ id, version: 'v2' });
  });

  it('shows a canary accessibly, with its charts, at 1280 and at 390 pixels', async () => {
    // Given v2 held at 20% under load
    const release = await canary();
    const page = await signedIn(LEAD);
    await releasePage(page, release.id);
    await poll(() => textOf(page.getByTestId('release-weight'))).toBe('20%');
    for (const key of ['error-rate', 'p50', 'p99', 'rps'])
      await poll(() => pointsOf(page, key), `chart ${key}`).toBeGreaterThan(1);
    for (const name of ['Plan', 'Traffic', 'Verdict and evidence', 'Checklist', 'Instances', 'Events'])
      expect(await page.getByRole('heading', { level: 2, name, exact: true }).count(), name).toBe(1);
    await screenshot(page, 'dashboard-release');
    // Then axe finds nothing in light or dark
    await checkAccessibility(page, 'the release page during a canary (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkAccessibility(page, 'the release page during a canary (dark)');

    // And on a phone the page does not scroll sideways
    const phone = await signedIn(LEAD, { viewport: MOBILE });
    await releasePage(phone, release.id);
    await phone.getByTestId('chart-rps').waitFor();
    expect(await pageWidth(phone)).toBeLessThanOrEqual(MOBILE.width);
    await screenshot(phone, 'dashboard-release-mobile');
  });

  it('moves the weight and the charts without a reload', async () => {
    // Given the release page of v2 at 20%, marked so that a reload would show
    const release = await canary();
    const page = await signedIn(LEAD);
    await releasePage(page, release.id);
    await poll(() => textOf(page.getByTestId('release-weight'))).toBe('20%');
    await page.evaluate('window.__noReload = true');
    const before = await pointsOf(page, 'rps');
    // When the release is resumed (through the API, as another person would)
    await expectStatus(s.api(`/api/v1/services/${UNIT}/resume`, json({})), 200, 'resume');
    // Then the page follows the stream: the weight moves on and the charts grow
    await poll(() => textOf(page.getByTestId('release-weight'))).not.toBe('20%');
    await poll(() => pointsOf(page, 'rps')).toBeGreaterThan(before);
    expect(await page.evaluate('window.__noReload === true')).toBe(true);
  });

  it('signs a checklist item from the release page', async () => {
    // Given v2 waiting at the post-deploy gate for its sign-off
    const release = await atSignOff();
    const page = await signedIn(LEAD);
    await releasePage(page, release.id);
    const checklist = page.getByRole('region', { name: 'Checklist' });
    // When the lead signs the item
    await checklist.getByRole('button', { name: `Sign ${SIGN_OFF.title}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Sign', exact: true }).click();
    // Then it reads passed, names the signer, and the release goes on to succeed
    const item = checklist.locator('tr, li').filter({ hasText: SIGN_OFF.title }).last();
    await poll(() => textOf(item)).toMatch(/passed/);
    await poll(() => textOf(item)).toContain(LEAD);
    await waitForRelease((r) => r.id === release.id && r.state === 'succeeded', 'v2 succeeded');
    await poll(() => textOf(page.getByTestId('release-state'))).toBe('succeeded');
  });

  it('shows a bad version rolled back by itself, with its reason and evidence', async () => {
    // Given a stable service
    await settle();
    // When v3, which fails half its requests, is deployed
    const bad = await deployThroughApi(BAD_VERSION);
    await waitForRelease((r) => r.id === bad.id && r.state === 'rolled_back', 'v3 rolled back');
    // Then its page says so, why, and shows the failing measurement
    const page = await signedIn(LEAD);
    await releasePage(page, bad.id);
    await poll(() => textOf(page.getByTestId('release-state'))).toBe('rolled back');
    expect(await textOf(page.getByTestId('release-reason'))).toMatch(/error_rate/);
    // The verdict is a cell of its own (a row's text runs its cells together, so match the cell).
    const failing = page
      .getByRole('table', { name: 'Measurements' })
      .getByRole('row')
      .filter({ has: page.getByText('fail', { exact: true }) });
    await poll(() => failing.count()).toBeGreaterThan(0);
    await screenshot(page, 'dashboard-rolled-back');
    await checkAccessibility(page, 'the release page after a rollback (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkAccessibility(page, 'the release page after a rollback (dark)');
  });

  it('shows a viewer no controls, and the API refuses the viewer', async () => {
    // Given a viewer signed in, and a release of the unit
    const last = (await s.status()).release;
    expect(last).not.toBeNull();
    const page = await signedIn(VIEWER);
    // When the viewer calls a control directly from the page, with a valid CSRF token
    const status = await page.evaluate(
      async ({ unit, header }) => {
        const session = (await (await fetch('/api/v1/session')).json()) as { csrf: string };
        const answer = await fetch(`/api/v1/services/${unit}/pause`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [header]: session.csrf },
          body: '{}',
        });
        return answer.status;
      },
      { unit: UNIT, header: CSRF_HEADER },
    );
    // Then the API refuses it
    expect(status).toBe(403);
    // And neither the services page nor the release page offers a control
    await page.goto('/');
    await page.getByRole('table', { name: 'Services' }).waitFor();
    await page.getByRole('link', { name: UNIT, exact: true }).first().waitFor();
    expect(await page.getByRole('button', { name: CONTROL_BUTTON }).allTextContents()).toEqual([]);
    await releasePage(page, last!.id);
    await page.getByRole('region', { name: 'Checklist' }).waitFor();
    expect(await page.getByRole('button', { name: CONTROL_BUTTON }).allTextContents()).toEqual([]);
  });

  /** The pages checked in light and dark, each with what shows its data has arrived, and its screenshot. */
  const PAGES = [
    {
      path: '/',
      what: 'services',
      loaded: (p: Page) =>
        p.getByRole('table', { name: 'Services' }).getByRole('link', { name: UNIT, exact: true }).first(),
      shot: 'dashboard-services',
    },
    {
      path: '/history',
      what: 'history',
      loaded: (p: Page) =>
        p.getByRole('table', { name: 'Releases' }).getByRole('link', { name: '#1', exact: true }).first(),
      shot: 'dashboard-history',
    },
    {
      path: '/audit',
      what: 'audit log',
      loaded: (p: Page) =>
        p.getByTestId('audit-verification').filter({ hasText: /Chain verified: \d+ entries/ }),
      shot: 'dashboard-audit',
    },
    {
      path: '/people',
      what: 'people',
      loaded: (p: Page) => p.getByRole('table', { name: 'Users' }).getByText(VIEWER, { exact: true }).first(),
      shot: undefined,
    },
    {
      path: '/account',
      what: 'account',
      loaded: (p: Page) => p.getByRole('button', { name: 'Set up authenticator' }),
      shot: undefined,
    },
  ] as const;

  it.each(PAGES)('has no WCAG A/AA violation on the $what page, light and dark', async (shown) => {
    const page = await signedIn(LEAD);
    await page.goto(shown.path);
    await shown.loaded(page).waitFor();
    if (shown.shot) await screenshot(page, shown.shot);
    await checkAccessibility(page, `the ${shown.what} page (light)`);
    await page.emulateMedia({ colorScheme: 'dark' });
    await checkAccessibility(page, `the ${shown.what} page (dark)`);
    if (shown.path === '/') await screenshot(page, 'dashboard-services-dark');
  });

  it('works with the keyboard alone: from the services page to a control and back out of its dialog', async () => {
    // Given a canary of a new version held at 20%, and the lead on the services page
    await settle();
    const started = await deployThroughApi(KEYBOARD_VERSION);
    const release = await waitForRelease(
      (r) => r.id === started.id && r.state === 'paused' && r.weight === 20,
      `${KEYBOARD_VERSION} paused at 20%`,
    );
    const page = await signedIn(LEAD);
    await page.getByRole('table', { name: 'Services' }).waitFor();
    // When the lead tabs to the unit's link and presses Enter
    await tabTo(page, 'A', UNIT);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: new RegExp(`^Release #${release.id}: `) }).waitFor();
    // And tabs to Resume and presses Enter
    await tabTo(page, 'BUTTON', 'Resume');
    await page.keyboard.press('Enter');
    // Then the confirmation opens with the focus inside it, and Escape closes it with nothing done
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await page.evaluate("document.activeElement?.closest('dialog') != null")).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect((await s.status()).release).toMatchObject({ id: release.id, state: 'paused' });
  });

  it('shows the services page on a phone without sideways scrolling', async () => {
    const page = await signedIn(LEAD, { viewport: MOBILE });
    await page.getByRole('table', { name: 'Services' }).waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(MOBILE.width);
  });
});
