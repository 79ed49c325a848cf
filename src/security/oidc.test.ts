import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { ManualClock } from '../util/clock.js';
import { freePort } from '../util/net.js';
import { OIDC_REFUSAL, OidcLogin, PENDING_TTL_MS, type OidcIdentity } from './oidc.js';
import { oidcSchema, type OidcConfig } from './oidc-config.js';
import { startOidcProvider, type TestOidcProvider } from '../../test/support/oidc-provider.js';

const CLIENT_ID = 'shipcheck';
const CLIENT_SECRET = 'a-client-secret-only-these-tests-use';
const SECRET_ENV = 'SHIPCHECK_TEST_OIDC_SECRET';
const env = { [SECRET_ENV]: CLIENT_SECRET };
/** The provider's ID token lifetime, short so that the expiry test moves the clock only a little. */
const ID_TOKEN_TTL_S = 60;

/** The people the provider knows; any password signs them in. */
const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: {
    name: 'Alice Example',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['release-manager', 'sre'],
  },
  bob: { name: 'Bob Example', email: 'bob@example.com', email_verified: false, groups: ['chess-club'] },
  carol: { preferred_username: 'carol' },
};

let provider: TestOidcProvider;
let issuer: string;
let redirectUri: string;

beforeAll(async () => {
  // The callback is only ever read from the provider's redirect; nothing needs to listen there.
  redirectUri = `http://127.0.0.1:${await freePort()}/api/v1/auth/oidc/callback`;
  provider = await startOidcProvider({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri,
    accounts: ACCOUNTS,
    idTokenTtlS: ID_TOKEN_TTL_S,
  });
  issuer = provider.issuer;
});

afterEach(() => {
  provider.tamper(undefined);
});

afterAll(async () => {
  await provider.close();
});

/** The config the tests sign in with; `overrides` change one setting. */
function oidcConfig(overrides: Partial<Record<keyof OidcConfig, unknown>> = {}): OidcConfig {
  return oidcSchema.parse({
    issuer,
    clientId: CLIENT_ID,
    clientSecretEnv: SECRET_ENV,
    roles: { 'release-manager': 'approver@production', sre: 'deployer', platform: 'admin' },
    groupsClaim: 'groups',
    ...overrides,
  });
}

const signIn = (url: string, login: string | undefined): Promise<URL> => provider.signIn(url, login);

/** Flips one character of a JWT part (0 header, 1 payload, 2 signature). */
function flipCharacter(jwt: string, part: number): string {
  const parts = jwt.split('.');
  const text = parts[part] ?? '';
  const middle = Math.floor(text.length / 2);
  parts[part] = text.slice(0, middle) + (text[middle] === 'A' ? 'B' : 'A') + text.slice(middle + 1);
  return parts.join('.');
}

/** Rewrites the ID token's payload with `change` and keeps the original signature. */
function forgePayload(jwt: string, change: (claims: Record<string, unknown>) => void): string {
  const [header, payload, signature] = jwt.split('.');
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  change(claims);
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

describe('OidcLogin against a real OpenID provider', () => {
  it('signs in with the authorization-code flow and PKCE, mapping groups to grants', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const { url, pending } = login.start();
    const authorization = new URL(url);
    expect(authorization.origin).toBe(issuer);
    expect(Object.fromEntries(authorization.searchParams)).toMatchObject({
      client_id: CLIENT_ID,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      code_challenge_method: 'S256',
    });
    for (const param of ['state', 'nonce', 'code_challenge'])
      expect(authorization.searchParams.get(param)).toBeTruthy();

    const callback = await signIn(url, 'alice');
    expect(callback.searchParams.get('code')).toBeTruthy();
    const identity = await login.finish(callback, pending);
    expect(identity).toEqual<OidcIdentity>({
      subject: 'alice',
      issuer,
      name: 'Alice Example',
      email: 'alice@example.com',
      grants: [
        { environment: '*', role: 'deployer' },
        { environment: 'production', role: 'approver' },
      ],
      groups: ['release-manager', 'sre'],
    });
  });

  it('gives viewer for an unmapped value when unmapped is viewer, and refuses it when unmapped is refuse', async () => {
    const lenient = await OidcLogin.discover(oidcConfig({ unmapped: 'viewer' }), { redirectUri, env });
    const first = lenient.start();
    // Bob's address is not verified, so it is not taken.
    expect(await lenient.finish(await signIn(first.url, 'bob'), first.pending)).toEqual<OidcIdentity>({
      subject: 'bob',
      issuer,
      name: 'Bob Example',
      grants: [{ environment: '*', role: 'viewer' }],
      groups: ['chess-club'],
    });

    const strict = await OidcLogin.discover(oidcConfig({ unmapped: 'refuse' }), { redirectUri, env });
    const second = strict.start();
    const refusal = await strict.finish(await signIn(second.url, 'bob'), second.pending);
    expect(refusal).toEqual({ refused: OIDC_REFUSAL.unmappedClaim, message: expect.any(String) });
    expect(JSON.stringify(refusal)).not.toContain('chess-club');
  });

  it('treats a missing role claim the same way', async () => {
    const lenient = await OidcLogin.discover(oidcConfig({ unmapped: 'viewer' }), { redirectUri, env });
    const first = lenient.start();
    expect(await lenient.finish(await signIn(first.url, 'carol'), first.pending)).toEqual<OidcIdentity>({
      subject: 'carol',
      issuer,
      name: 'carol',
      grants: [{ environment: '*', role: 'viewer' }],
      groups: [],
    });

    const strict = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const second = strict.start();
    expect(await strict.finish(await signIn(second.url, 'carol'), second.pending)).toEqual({
      refused: OIDC_REFUSAL.unmappedClaim,
      message: 'the provider sent no groups claim, and signing in without one is refused',
    });
  });

  it('refuses an ID token whose signature was altered on the way', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const { url, pending } = login.start();
    const callback = await signIn(url, 'alice');
    provider.tamper((idToken) => flipCharacter(idToken, 2));
    const refusal = await login.finish(callback, pending);
    expect(refusal).toEqual({
      refused: OIDC_REFUSAL.tokenInvalid,
      message: expect.stringContaining('signature'),
    });
  });

  it('refuses an ID token whose claims were rewritten to grant more', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const { url, pending } = login.start();
    const callback = await signIn(url, 'bob');
    provider.tamper((idToken) => forgePayload(idToken, (claims) => (claims.groups = ['platform'])));
    const refusal = await login.finish(callback, pending);
    expect(refusal).toEqual({
      refused: OIDC_REFUSAL.tokenInvalid,
      message: expect.stringContaining('signature'),
    });
    expect(JSON.stringify(refusal)).not.toMatch(/platform|bob/);
  });

  it('refuses an expired ID token, as seen by an injected clock set past its exp', async () => {
    // The provider signs with the wall clock; moving the client's clock beyond the token's
    // lifetime (and openid-client's 30 s tolerance), but within the pending lifetime, makes the
    // client see the token as expired.
    const clock = new ManualClock(Date.now());
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env, clock });
    const { url, pending } = login.start();
    const callback = await signIn(url, 'alice');
    clock.advance(5 * ID_TOKEN_TTL_S * 1000);
    expect(5 * ID_TOKEN_TTL_S * 1000).toBeLessThan(PENDING_TTL_MS);
    expect(await login.finish(callback, pending)).toEqual({
      refused: OIDC_REFUSAL.tokenExpired,
      message: expect.stringContaining('"exp"'),
    });
  });

  it('refuses a pending value older than PENDING_TTL_MS', async () => {
    const clock = new ManualClock(Date.now());
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env, clock });
    const { url, pending } = login.start();
    const callback = await signIn(url, 'alice');
    clock.advance(PENDING_TTL_MS + 1);
    expect(await login.finish(callback, pending)).toMatchObject({ refused: OIDC_REFUSAL.pendingExpired });
  });

  it('refuses a callback whose state is not the pending one', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const mine = login.start();
    const theirs = login.start();
    const callback = await signIn(theirs.url, 'alice');
    expect(await login.finish(callback, mine.pending)).toMatchObject({ refused: OIDC_REFUSAL.stateMismatch });

    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged');
    expect(await login.finish(forged, theirs.pending)).toMatchObject({ refused: OIDC_REFUSAL.stateMismatch });
    expect(await login.finish(callback, 'not-a-pending-value')).toMatchObject({
      refused: OIDC_REFUSAL.pendingInvalid,
    });
  });

  it('refuses a code sent with the wrong PKCE verifier', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const { url, pending } = login.start();
    const callback = await signIn(url, 'alice');
    const record = JSON.parse(Buffer.from(pending, 'base64url').toString('utf8')) as Record<string, unknown>;
    const wrongVerifier = Buffer.from(JSON.stringify({ ...record, verifier: 'x'.repeat(43) })).toString(
      'base64url',
    );
    expect(await login.finish(callback, wrongVerifier)).toMatchObject({ refused: OIDC_REFUSAL.codeRejected });
  });

  it('refuses a second finish with the same pending value and code', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const { url, pending } = login.start();
    const callback = await signIn(url, 'alice');
    expect(await login.finish(callback, pending)).toMatchObject({ subject: 'alice' });
    expect(await login.finish(callback, pending)).toEqual({
      refused: OIDC_REFUSAL.codeRejected,
      message: expect.stringContaining('invalid_grant'),
    });
  });

  it('refuses a sign-in the user cancelled at the provider', async () => {
    const login = await OidcLogin.discover(oidcConfig(), { redirectUri, env });
    const { url, pending } = login.start();
    const callback = await signIn(url, undefined);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(await login.finish(callback, pending)).toEqual({
      refused: OIDC_REFUSAL.providerRefused,
      message: expect.stringContaining('access_denied'),
    });
  });

  it('refuses to start without the client secret in the environment, naming the variable', async () => {
    const attempt = OidcLogin.discover(oidcConfig(), { redirectUri, env: {} });
    await expect(attempt).rejects.toThrow(InputError);
    await expect(attempt).rejects.toThrow(SECRET_ENV);
  });
});
