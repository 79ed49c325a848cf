/**
 * Single sign-on through the API against a real OpenID provider: the redirect, the callback, the
 * session it opens, roles that follow the provider's claims, refusals, the page the browser returns
 * to (never another site), and what the sign-in page learns before anyone is signed in.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider, type TestOidcProvider } from '../../test/support/oidc-provider.js';
import { type SecuredApi, startSecuredApi } from '../../test/support/secured-api.js';
import { freePort } from '../util/net.js';

const SECRET_ENV = 'SHIPCHECK_TEST_OIDC_ROUTES_SECRET';
const ACCOUNTS = {
  alice: { name: 'Alice Example', email: 'alice@example.com', email_verified: true, groups: ['sre', 'ops'] },
  mallory: { name: 'Mallory', email: 'mallory@example.com', email_verified: true, groups: ['interns'] },
};

let provider: TestOidcProvider;
let api: SecuredApi;
let base: string;

beforeAll(async () => {
  process.env[SECRET_ENV] = 'a-client-secret-only-these-tests-use';
  // The provider must know the callback's address before the API starts.
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  provider = await startOidcProvider({
    clientId: 'shipcheck',
    clientSecret: process.env[SECRET_ENV]!,
    redirectUri: `${base}/api/v1/auth/oidc/callback`,
    accounts: ACCOUNTS,
  });
  api = await startSecuredApi({
    port,
    server: {
      auth: {
        oidc: {
          issuer: provider.issuer,
          clientId: 'shipcheck',
          clientSecretEnv: SECRET_ENV,
          roleClaim: 'groups',
          roles: { ops: 'deployer', sre: 'approver@production' },
          groupsClaim: 'groups',
          unmapped: 'refuse',
        },
      },
    },
  });
});

afterEach(() => provider.tamper(undefined));

afterAll(async () => {
  await api.close();
  await provider.close();
  delete process.env[SECRET_ENV];
});

/**
 * Plays the browser through the whole sign-in, from `/api/v1/auth/oidc/login` with `query` (e.g.
 * `?next=/releases/12`); returns the callback's answer.
 */
async function signInAs(login: string, query = ''): Promise<Response> {
  const start = await fetch(`${base}/api/v1/auth/oidc/login${query}`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const pending = start.headers.get('set-cookie') ?? '';
  expect(pending).toMatch(/SameSite=Lax/);
  expect(pending).toMatch(/HttpOnly/);
  expect(pending).toMatch(/Path=\/api\/v1\/auth\/oidc\/callback;/);
  const location = start.headers.get('location')!;
  expect(new URL(location).searchParams.get('code_challenge_method')).toBe('S256');
  const back = await provider.signIn(location, login);
  return fetch(back, { redirect: 'manual', headers: { cookie: pending.split(';')[0]! } });
}

describe('single sign-on through the API', () => {
  it('signs a person in and gives them the roles and groups the provider claims', async () => {
    const answer = await signInAs('alice');
    expect(answer.status).toBe(200);
    const cookie = answer.headers.getSetCookie().find((c) => c.startsWith('shipcheck_session='))!;
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = await fetch(`${base}/api/v1/session`, { headers: { cookie: cookie.split(';')[0]! } });
    const body = (await session.json()) as {
      user: { name: string; roles: string[]; groups: string[]; source: string };
    };
    expect(body.user).toMatchObject({
      name: 'alice@example.com',
      roles: ['deployer', 'approver@production'],
      groups: ['ops', 'sre'],
      source: 'oidc',
    });
  });

  it('refuses a person whose claims map to no role, and an ID token altered on the way', async () => {
    const unmapped = await signInAs('mallory');
    expect(unmapped.status).toBe(403);
    // A browser lands here: a page saying why, with the way back, and nothing it could run
    expect(unmapped.headers.get('content-type')).toMatch(/^text\/html/);
    expect(unmapped.headers.get('content-security-policy')).toBe("default-src 'none'");
    const page = await unmapped.text();
    expect(page).toContain('<h1>Not signed in</h1>');
    expect(page).toContain('<a href="/login">Back to sign in</a>');
    provider.tamper((jwt) => {
      const [header, payload, signature] = jwt.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      claims.groups = ['ops', 'sre'];
      return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
    });
    const forged = await signInAs('mallory');
    expect(forged.status).toBe(401);
    expect(await forged.text()).toMatch(/<p>single sign-on refused: [^<]+<\/p>/);
  });

  it('refuses a callback that no sign-in in this browser started', async () => {
    const answer = await fetch(`${base}/api/v1/auth/oidc/callback?code=x&state=y`);
    expect(answer.status).toBe(401);
    expect(await answer.text()).toContain('no sign-in was started in this browser; start again');
  });
});

/** Where the signed-in page sends the browser on: its meta refresh and its link, which must agree. */
async function movesOnTo(answer: Response): Promise<string> {
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-security-policy')).toBe("default-src 'none'");
  const page = await answer.text();
  const refresh = /<meta http-equiv="refresh" content="0;url=([^"]*)">/.exec(page)?.[1];
  const link = /<a href="([^"]*)">Continue<\/a>/.exec(page)?.[1];
  expect(refresh).toBeDefined();
  expect(link).toBe(refresh);
  return refresh!.replaceAll('&amp;', '&');
}

describe('the page a sign-in returns to', () => {
  it('is the dashboard page the sign-in started from, with its query', async () => {
    expect(await movesOnTo(await signInAs('alice', '?next=%2Freleases%2F12'))).toBe('/releases/12');
    const withQuery = encodeURIComponent('/services/web/baselines?environment=production&x="1"');
    expect(await movesOnTo(await signInAs('alice', `?next=${withQuery}`))).toBe(
      '/services/web/baselines?environment=production&x=%221%22',
    );
  });

  it('is the dashboard home without a return path', async () => {
    expect(await movesOnTo(await signInAs('alice'))).toBe('/');
  });

  it('is never another site, whatever the link says: an open redirect is refused for /', async () => {
    const attempts = [
      '//evil.example',
      'https://evil.example',
      '/\\evil.example',
      '/\\/evil.example',
      '/\t/evil.example',
      '/a/..//evil.example',
      'javascript:alert(1)',
      'evil.example',
      '/api/v1/auth/oidc/login',
    ];
    for (const next of attempts) {
      const answer = await signInAs('alice', `?next=${encodeURIComponent(next)}`);
      expect(await movesOnTo(answer), next).toBe('/');
    }
  });

  it('comes from the pending cookie, checked again at the callback', async () => {
    // A pending cookie whose return path was set by something other than the login route.
    const start = await fetch(`${base}/api/v1/auth/oidc/login?next=/history`, { redirect: 'manual' });
    const pair = start.headers.get('set-cookie')!.split(';')[0]!;
    const forged = `${pair.slice(0, pair.indexOf('.'))}.${Buffer.from('//evil.example').toString('base64url')}`;
    const back = await provider.signIn(start.headers.get('location')!, 'alice');
    const answer = await fetch(back, { redirect: 'manual', headers: { cookie: forged } });
    expect(await movesOnTo(answer)).toBe('/');
  });
});

describe('how the sign-in page signs people in', () => {
  it('says, without credentials, that the provider is offered and by which name', async () => {
    const answer = await fetch(`${base}/api/v1/auth/methods`);
    expect(answer.status).toBe(200);
    // No name configured: the issuer's host.
    expect(await answer.json()).toEqual({ password: true, oidc: { name: new URL(provider.issuer).host } });
  });

  it('offers the password alone without server.auth.oidc', async () => {
    const plain = await startSecuredApi();
    try {
      const answer = await fetch(`${plain.url}/api/v1/auth/methods`);
      expect(await answer.json()).toEqual({ password: true, oidc: null });
    } finally {
      await plain.close();
    }
  });
});
