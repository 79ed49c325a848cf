/**
 * Single sign-on from the dashboard, in Debian's chromium against a real `shipcheck up` and a real
 * OpenID provider: the sign-in page offers the provider by name, the button goes through the
 * provider's own sign-in and consent pages, and the browser lands, signed in as the provider's user,
 * on the dashboard page it started from. Without `server.auth.oidc` the page offers no such button.
 */
import fs from 'node:fs';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.js';
import { checkAccessibility, chromiumOrSkip, launchBrowser, openPage } from '../support/browser.js';
import { type ReleaseJson, Scenario } from './harness.js';

const CAN_RUN = chromiumOrSkip('sso-dashboard.test.ts');
const SECRET_ENV = 'SHIPCHECK_TEST_SSO_DASHBOARD_SECRET';
/** The provider's name as `server.auth.oidc.name` gives it. */
const PROVIDER_NAME = 'Test ID';
/** The provider's person; `ops` makes them a deployer. */
const ALICE = { name: 'Alice Example', email: 'alice@example.com', email_verified: true, groups: ['ops'] };

/**
 * The provider's development pages import a web font from Google; answer it with an empty style
 * sheet so the test reaches nothing outside this machine and logs no failed load.
 */
async function noWebFonts(context: BrowserContext): Promise<void> {
  await context.route('https://fonts.googleapis.com/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/css', body: '' }),
  );
}

describe.runIf(CAN_RUN)('single sign-on in the dashboard', () => {
  let s: Scenario;
  let plain: Scenario;
  let provider: TestOidcProvider;
  let browser: Browser;
  let release: ReleaseJson;

  beforeAll(async () => {
    process.env[SECRET_ENV] = 'a-client-secret-only-this-test-uses';
    s = await Scenario.create({ instances: 1 });
    // The provider must know the callback's address before shipcheck starts.
    provider = await startOidcProvider({
      clientId: 'shipcheck',
      clientSecret: process.env[SECRET_ENV],
      redirectUri: `${s.apiUrl}/api/v1/auth/oidc/callback`,
      accounts: { alice: ALICE },
    });
    const config = fs.readFileSync(s.file, 'utf8');
    const listen = /^server: \{ listen: (\S+) \}$/m.exec(config)?.[1];
    expect(listen, 'the harness writes server.listen on one line').toBeDefined();
    const oidc = `{ name: "${PROVIDER_NAME}", issuer: "${provider.issuer}", clientId: shipcheck, clientSecretEnv: ${SECRET_ENV}, roles: { ops: deployer } }`;
    fs.writeFileSync(
      s.file,
      config.replace(/^server: .*$/m, `server: { listen: ${listen}, auth: { oidc: ${oidc} } }`),
    );
    plain = await Scenario.create({ instances: 1 });
    // shipcheck up reads the client secret from its environment, which it inherits.
    await Promise.all([s.up(), plain.up()]);
    const deployed = await s.api('/api/v1/services/web/releases', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v1' }),
    });
    expect(deployed.status, await deployed.clone().text()).toBe(201);
    release = (await deployed.json()) as ReleaseJson;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await s?.cleanup();
    await plain?.cleanup();
    await provider?.close();
    delete process.env[SECRET_ENV];
  });

  it('given OIDC, when a signed-out person opens a release and signs in with the provider, then they land on that release, signed in as the provider’s user', async () => {
    const { page, context } = await openPage(browser, s.apiUrl);
    await noWebFonts(context);
    const start = `/releases/${release.id}?from=link`;
    await page.goto(start);
    const sso = page.getByRole('link', { name: `Sign in with ${PROVIDER_NAME}` });
    await sso.waitFor();
    // The password form stays for local users.
    await page.getByLabel('Password', { exact: true }).waitFor();
    expect(await sso.getAttribute('href')).toBe(`/api/v1/auth/oidc/login?next=${encodeURIComponent(start)}`);
    await checkAccessibility(page, 'the sign-in page with single sign-on');

    await sso.click();
    // The provider's own pages: sign in, then consent.
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();

    await page
      .getByRole('heading', { level: 1, name: new RegExp(`^Release #${release.id}: web `) })
      .waitFor();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(start);
    await expect(page.locator('.whoami').innerText()).resolves.toBe('alice@example.com');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  });

  it('given OIDC, when a sign-in starts at /login, then it lands on the services overview', async () => {
    const { page, context } = await openPage(browser, s.apiUrl);
    await noWebFonts(context);
    await page.goto('/login');
    const sso = page.getByRole('link', { name: `Sign in with ${PROVIDER_NAME}` });
    expect(await sso.getAttribute('href')).toBe('/api/v1/auth/oidc/login?next=%2F');
    await sso.click();
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
  });

  it('given a crafted sign-in link to another site, when the sign-in ends, then the browser stays on this server', async () => {
    const { page, context } = await openPage(browser, s.apiUrl);
    await noWebFonts(context);
    await page.goto(`/api/v1/auth/oidc/login?next=${encodeURIComponent('//evil.example/phish')}`);
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(new URL(page.url()).origin).toBe(s.apiUrl);
    expect(new URL(page.url()).pathname).toBe('/');
  });

  it('given no OIDC, when a person opens the sign-in page, then it offers the password form alone', async () => {
    const { page } = await openPage(browser, plain.apiUrl);
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/methods'));
    await page.goto('/login');
    await page.getByLabel('Password', { exact: true }).waitFor();
    // The page has read how this server signs people in, and drawn what it read.
    await (await answered).finished();
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => resolve(null)))');
    const methods = (await (await fetch(`${plain.apiUrl}/api/v1/auth/methods`)).json()) as unknown;
    expect(methods).toEqual({ password: true, oidc: null });
    await expect(page.getByRole('link', { name: /^Sign in with/ }).count()).resolves.toBe(0);
    await expect(page.getByText('or with a name and password').count()).resolves.toBe(0);
  });
});
