/**
 * The API's locks against real HTTP: setup, login and lockout, sessions and CSRF, tokens, roles per
 * environment, fresh TOTP in protected environments, Host and Origin checks, and the audit log.
 * Time is a ManualClock, so lifetimes and lockouts are tested without waiting.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SecuredApi, startSecuredApi } from '../../test/support/secured-api.js';
import type { Security } from '../security/security.js';
import { totpCode } from '../security/totp.js';
import type { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ManualClock } from '../util/clock.js';
import { declaredAccess } from './access.js';

const PASSWORD = 'correct horse battery staple';
const MINUTE = 60_000;

interface Answer {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
}

interface Caller {
  token?: string;
  session?: { cookie: string; csrf: string };
  headers?: Record<string, string>;
}

let api: SecuredApi;
let store: SqliteStore;
let security: Security;
let app: SecuredApi['app'];
let base: string;
const clock = new ManualClock(Date.UTC(2026, 11, 6, 12, 0, 0));

async function call(method: string, route: string, caller: Caller = {}, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { ...caller.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (caller.token) headers.authorization = `Bearer ${caller.token}`;
  if (caller.session) {
    headers.cookie = caller.session.cookie;
    headers['x-shipcheck-csrf'] ??= caller.session.csrf;
  }
  const res = await fetch(base + route, {
    method,
    headers,
    redirect: 'manual',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json, headers: res.headers };
}

async function login(name: string, otp?: string): Promise<{ cookie: string; csrf: string }> {
  const res = await call('POST', '/api/v1/login', {}, { name, password: PASSWORD, ...(otp ? { otp } : {}) });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  return { cookie, csrf: res.json.csrf as string };
}

async function tokenFor(session: { cookie: string; csrf: string }, role: string): Promise<string> {
  const res = await call('POST', '/api/v1/tokens', { session }, { name: `t-${role}`, role });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json.token as string;
}

let admin: string;

beforeAll(async () => {
  api = await startSecuredApi({ clock });
  ({ store, security, app, url: base } = api);
});

afterAll(async () => {
  await api.close();
});

describe('the locks on the API', () => {
  it('creates the first admin once, with the setup code only', async () => {
    const code = security.setup.code!;
    expect(code).toBeTruthy();
    expect(
      (await call('POST', '/api/v1/setup', {}, { code: 'nope', name: 'root', password: PASSWORD })).status,
    ).toBe(401);
    const made = await call('POST', '/api/v1/setup', {}, { code, name: 'root', password: PASSWORD });
    expect(made.status).toBe(201);
    expect(made.json.user).toMatchObject({ name: 'root', roles: ['admin'] });
    const again = await call('POST', '/api/v1/setup', {}, { code, name: 'root2', password: PASSWORD });
    expect(again.status).toBe(409);
    admin = await tokenFor(await login('root'), 'admin');
    const page = await fetch(`${base}/setup`);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
  });

  it('refuses every route that is not public to a caller without credentials', async () => {
    const guarded = declaredAccess(app).filter((r) => r.access !== 'public' && r.access !== 'alert-token');
    expect(guarded.length).toBeGreaterThan(30);
    for (const { route } of guarded) {
      const [method, url] = route.split(' ') as [string, string];
      const concrete = url
        .replace(':service', 'web')
        .replace(':id', '1')
        .replace(':name', 'root')
        .replace(':instance', 'web-v1-0');
      const res = await call(method, concrete, {}, method === 'GET' ? undefined : {});
      expect(res.status, route).toBe(401);
    }
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('answers a wrong password, an unknown name and a wrong token alike, and locks an account for a while', async () => {
    const wrong = await call('POST', '/api/v1/login', {}, { name: 'root', password: 'not the password' });
    const unknown = await call('POST', '/api/v1/login', {}, { name: 'nobody', password: PASSWORD });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json.error).toBe(unknown.json.error);
    expect((await call('GET', '/api/v1/services', { token: 'shc_not-a-token' })).status).toBe(401);

    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'dora', password: PASSWORD, roles: ['viewer'] },
    );
    for (let i = 0; i < 5; i++)
      await call('POST', '/api/v1/login', {}, { name: 'dora', password: 'wrong password!!' });
    const locked = await call('POST', '/api/v1/login', {}, { name: 'dora', password: PASSWORD });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    const listed = await call('GET', '/api/v1/users', { token: admin });
    const dora = (listed.json.users as { name: string; lockedUntil: number | null }[]).find(
      (u) => u.name === 'dora',
    );
    expect(dora?.lockedUntil).toBe(clock.now() + 15 * MINUTE);
    clock.advance(15 * MINUTE);
    expect((await call('POST', '/api/v1/login', {}, { name: 'dora', password: PASSWORD })).status).toBe(200);
  });

  it('keeps a session in an HttpOnly, SameSite=Strict cookie with idle and absolute limits, and wants CSRF on changes', async () => {
    const res = await call('POST', '/api/v1/login', {}, { name: 'root', password: PASSWORD });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    const session = { cookie: cookie.split(';')[0]!, csrf: res.json.csrf as string };
    expect((await call('GET', '/api/v1/session', { session })).status).toBe(200);
    const noCsrf = await call(
      'POST',
      '/api/v1/tokens',
      { session, headers: { 'x-shipcheck-csrf': 'x' } },
      {
        name: 'n',
        role: 'viewer',
      },
    );
    expect(noCsrf.status).toBe(403);
    const tampered = { cookie: `${session.cookie}x`, csrf: session.csrf };
    expect((await call('GET', '/api/v1/session', { session: tampered })).status).toBe(401);
    clock.advance(31 * MINUTE);
    expect((await call('GET', '/api/v1/session', { session })).status).toBe(401);

    const long = await login('root');
    for (let i = 0; i < 24; i++) {
      clock.advance(29 * MINUTE);
      expect((await call('GET', '/api/v1/session', { session: long })).status).toBe(200);
    }
    // Never idle, yet 12 hours after login it ends.
    clock.advance(29 * MINUTE);
    expect((await call('GET', '/api/v1/session', { session: long })).status).toBe(401);
  });

  it('refuses another Host (DNS rebinding) and changes sent from another origin', async () => {
    // fetch will not send another Host; node:http does, as a DNS-rebound browser would.
    const evil = await new Promise<number>((resolve, reject) => {
      const req = http.get(
        `${base}/api/v1/services`,
        { headers: { host: 'evil.example', authorization: `Bearer ${admin}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
    });
    expect(evil).toBe(403);
    expect((await call('GET', '/api/v1/services', { token: admin, headers: {} })).status).toBe(200);
    const crossOrigin = await call(
      'POST',
      '/api/v1/services/web/pause',
      { token: admin, headers: { origin: 'https://evil.example' } },
      {},
    );
    expect(crossOrigin.status).toBe(403);
    const crossSite = await call(
      'POST',
      '/api/v1/services/web/pause',
      { token: admin, headers: { 'sec-fetch-site': 'cross-site' } },
      {},
    );
    expect(crossSite.status).toBe(403);
  });

  it('gives a token no more than its creator holds, and stops it when revoked, expired or its user disabled', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'vic', password: PASSWORD, roles: ['viewer'] },
    );
    const vic = await login('vic');
    const higher = await call('POST', '/api/v1/tokens', { session: vic }, { name: 'x', role: 'deployer' });
    expect(higher.status).toBe(403);
    const token = await tokenFor(vic, 'viewer');
    expect((await call('GET', '/api/v1/services', { token })).status).toBe(200);
    expect((await call('POST', '/api/v1/services/web/pause', { token }, {})).status).toBe(403);

    const listed = await call('GET', '/api/v1/tokens', { session: vic });
    const id = (listed.json.tokens as { id: string }[])[0]!.id;
    expect(id).toMatch(/^shc_/);
    expect(JSON.stringify(listed.json)).not.toContain(token);
    await call('POST', `/api/v1/tokens/${id}/revoke`, { session: vic }, {});
    expect((await call('GET', '/api/v1/services', { token })).status).toBe(401);

    const short = (
      await call(
        'POST',
        '/api/v1/tokens',
        { session: vic },
        { name: 'short', role: 'viewer', expiresIn: '1h' },
      )
    ).json.token as string;
    expect((await call('GET', '/api/v1/services', { token: short })).status).toBe(200);
    clock.advance(61 * MINUTE);
    expect((await call('GET', '/api/v1/services', { token: short })).status).toBe(401);

    const fresh = await tokenFor(await login('vic'), 'viewer');
    await call('POST', '/api/v1/users/vic/disable', { token: admin }, {});
    expect((await call('GET', '/api/v1/services', { token: fresh })).status).toBe(401);
  });

  it('names the user or token a change was about in the audit log, never a whole token', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'tess', password: PASSWORD, roles: ['viewer'] },
    );
    const tess = await login('tess');
    const token = await tokenFor(tess, 'viewer');
    // A token may be revoked by the whole token; the log keeps only the id it begins with.
    await call('POST', `/api/v1/tokens/${token}/revoke`, { session: tess }, {});
    await call('POST', '/api/v1/users/tess/disable', { token: admin }, {});
    const audit = await call('GET', '/api/v1/audit?limit=1000', { token: admin });
    const entries = audit.json.entries as { action: string; target: string | null }[];
    const targetOf = (action: string): (string | null)[] =>
      entries.filter((e) => e.action === action).map((e) => e.target);
    expect(targetOf('user.add')).toContain('user tess');
    expect(targetOf('user.disable')).toContain('user tess');
    expect(targetOf('token.revoke')).toContain(`token ${token.slice(0, 12)}`);
    expect(JSON.stringify(entries)).not.toContain(token);
  });

  it('checks the role in the environment of the unit a route is about', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'stan', password: PASSWORD, roles: ['deployer@staging', 'viewer'] },
    );
    const stan = await tokenFor(await login('stan'), 'deployer@staging');
    // Past the guard, the handler says the unit is unknown (this API runs no engines).
    expect((await call('POST', '/api/v1/services/web@staging/pause', { token: stan }, {})).status).toBe(404);
    const prod = await call('POST', '/api/v1/services/web@production/pause', { token: stan }, {});
    expect(prod.status).toBe(403);
    expect(prod.json.error).toMatch(/needs the deployer role in production/);

    // An admin of one environment is not an admin of the installation: users, tokens, the audit log.
    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'ada', password: PASSWORD, roles: ['admin@staging'] },
    );
    const ada = await tokenFor(await login('ada'), 'admin@staging');
    const users = await call('GET', '/api/v1/users', { token: ada });
    expect(users.status).toBe(403);
    expect(users.json.error).toMatch(/needs the admin role in every environment/);
    expect((await call('POST', '/api/v1/users/ada/roles', { token: ada }, { roles: ['admin'] })).status).toBe(
      403,
    );
    expect((await call('GET', '/metrics', { token: ada })).status).toBe(403);
    // Lists keep to what the caller may see.
    expect((await call('GET', '/api/v1/services', { token: ada })).status).toBe(200);
  });

  it('needs an approver to promote in production, and a fresh TOTP code for an approver there', async () => {
    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'pat', password: PASSWORD, roles: ['approver@production', 'deployer'] },
    );
    await call(
      'POST',
      '/api/v1/users',
      { token: admin },
      { name: 'dev', password: PASSWORD, roles: ['deployer'] },
    );
    const dev = await tokenFor(await login('dev'), 'deployer');
    expect((await call('POST', '/api/v1/services/web@production/promote', { token: dev }, {})).status).toBe(
      403,
    );
    expect((await call('POST', '/api/v1/services/web@staging/promote', { token: dev }, {})).status).toBe(404);

    const patSession = await login('pat');
    const pat = await tokenFor(patSession, 'approver@production');
    const sign = (headers: Record<string, string> = {}): Promise<Answer> =>
      call('POST', '/api/v1/services/web@production/checklist/sign', { token: pat, headers }, { item: 'x' });
    const unenrolled = await sign();
    expect(unenrolled.status).toBe(403);
    expect(unenrolled.json.error).toMatch(/needs TOTP/);

    const enrol = await call('POST', '/api/v1/me/mfa/enrol', { session: patSession }, {});
    const secret = enrol.json.secret as string;
    expect(enrol.json.uri).toMatch(/^otpauth:\/\/totp\/shipcheck:pat\?/);
    expect(enrol.json.qrSvg).toMatch(/<svg/);
    const confirmed = await call(
      'POST',
      '/api/v1/me/mfa/confirm',
      { session: patSession },
      { code: totpCode({ secret, now: clock.now() }) },
    );
    const recovery = confirmed.json.recoveryCodes as string[];
    expect(recovery).toHaveLength(10);

    const asked = await sign();
    expect(asked.status).toBe(401);
    // The answer says a code is what is missing, in a header a client reads without parsing words.
    expect(asked.headers.get('x-shipcheck-otp-required')).toBe('required');
    clock.advance(30_000);
    const code = totpCode({ secret, now: clock.now() });
    // Past the guard: the handler has no such unit.
    expect((await sign({ 'x-shipcheck-otp': code })).status).toBe(404);
    // The token proved a code: fresh for mfaFreshFor (5 min), so a script signs on without one.
    expect((await sign()).status).toBe(404);
    clock.advance(6 * MINUTE);
    expect((await sign()).status).toBe(401);
    const replay = await sign({ 'x-shipcheck-otp': code });
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('wrong name, password or code');
    expect(replay.headers.get('x-shipcheck-otp-required')).toBeNull();
    // A code is never accepted twice.
    const once = totpCode({ secret, now: clock.now() });
    expect(
      (await call('POST', '/api/v1/login', {}, { name: 'pat', password: PASSWORD, otp: once })).status,
    ).toBe(200);
    expect(
      (await call('POST', '/api/v1/login', {}, { name: 'pat', password: PASSWORD, otp: once })).status,
    ).toBe(401);

    // Login now needs the code, or a recovery code (once).
    expect((await call('POST', '/api/v1/login', {}, { name: 'pat', password: PASSWORD })).status).toBe(401);
    const byRecovery = await login('pat', recovery[0]);
    expect(
      (await call('POST', '/api/v1/login', {}, { name: 'pat', password: PASSWORD, otp: recovery[0] })).status,
    ).toBe(401);
    // A session that proved a code at login acts in production for mfaFreshFor (5 min).
    const signWithSession = (): Promise<Answer> =>
      call('POST', '/api/v1/services/web@production/checklist/sign', { session: byRecovery }, { item: 'x' });
    expect((await signWithSession()).status).toBe(404);
    clock.advance(6 * MINUTE);
    expect((await signWithSession()).status).toBe(401);
    clock.advance(30_000);
    const stepUp = await call(
      'POST',
      '/api/v1/me/mfa/verify',
      { session: byRecovery },
      { code: totpCode({ secret, now: clock.now() }) },
    );
    expect(stepUp.status).toBe(200);
    expect((await signWithSession()).status).toBe(404);
  });

  it('records changes, logins and refusals in a hash chain that verifies', async () => {
    const audit = await call('GET', '/api/v1/audit?limit=1000', { token: admin });
    const entries = audit.json.entries as {
      actor: string;
      action: string;
      result: string;
      reason: string | null;
    }[];
    expect(entries.find((e) => e.action === 'setup' && e.result === 'ok')).toBeTruthy();
    expect(
      entries.find((e) => e.action === 'login' && e.result === 'denied' && e.actor === 'nobody'),
    ).toBeTruthy();
    expect(entries.find((e) => e.action === 'release.promote' && e.actor.startsWith('dev'))?.result).toBe(
      'denied',
    );
    expect(
      entries.some(
        (e) => e.result === 'denied' && /needs the deployer role in production/.test(e.reason ?? ''),
      ),
    ).toBe(true);
    const byActor = await call('GET', '/api/v1/audit?actor=root&action=setup', { token: admin });
    expect((byActor.json.entries as { result: string }[]).map((e) => e.result)).toEqual(['denied', 'ok']);
    expect((await call('GET', '/api/v1/audit/verify', { token: admin })).json).toMatchObject({ ok: true });
    // A viewer cannot read it.
    expect(
      (await call('GET', '/api/v1/audit', { token: await tokenFor(await login('dora'), 'viewer') })).status,
    ).toBe(403);

    // An anchor a report recorded: the log still holds that entry with that hash.
    const head = audit.json.head as { seq: number; hash: string };
    const anchored = await call('GET', `/api/v1/audit/verify?anchor=${head.seq}:${head.hash}`, {
      token: admin,
    });
    expect(anchored.json).toMatchObject({ ok: true });
    const forged = await call('GET', `/api/v1/audit/verify?anchor=${head.seq}:${'0'.repeat(64)}`, {
      token: admin,
    });
    expect(forged.json).toMatchObject({ ok: false, firstBad: head.seq });
    expect((await call('GET', '/api/v1/audit/verify?anchor=12', { token: admin })).status).toBe(400);

    store['raw'].prepare("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3").run();
    const broken = await call('GET', '/api/v1/audit/verify', { token: admin });
    expect(broken.json).toMatchObject({ ok: false, firstBad: 3, problem: 'edited' });
  });
});

describe('protectedEnvironments: *', () => {
  it('protects a service without environments too', async () => {
    const own = await startSecuredApi({ server: { auth: { protectedEnvironments: ['*'] } } });
    try {
      const setup = await fetch(`${own.url}/api/v1/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: own.security.setup.code, name: 'root', password: PASSWORD }),
      });
      expect(setup.status).toBe(201);
      const loginAnswer = await fetch(`${own.url}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'root', password: PASSWORD }),
      });
      const cookie = (loginAnswer.headers.get('set-cookie') ?? '').split(';')[0]!;
      const { csrf } = (await loginAnswer.json()) as { csrf: string };
      const sign = await fetch(`${own.url}/api/v1/services/web/checklist/sign`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie, 'x-shipcheck-csrf': csrf },
        body: JSON.stringify({ item: 'x' }),
      });
      expect(sign.status).toBe(403);
      expect(((await sign.json()) as { error: string }).error).toMatch(/web is protected: root needs TOTP/);
    } finally {
      await own.close();
    }
  });
});

describe('login limits per address', () => {
  it('makes an address that failed 20 times in 15 minutes wait, whatever names it tries', async () => {
    const own = await startSecuredApi({ clock });
    try {
      const post = (route: string, body: object): Promise<Response> =>
        fetch(`${own.url}${route}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect(
        (await post('/api/v1/setup', { code: own.security.setup.code, name: 'root', password: PASSWORD }))
          .status,
      ).toBe(201);
      // Spread over names, so no account locks: only the address's count grows.
      for (let i = 0; i < 20; i++)
        expect((await post('/api/v1/login', { name: `guess-${i}`, password: 'not it at all' })).status).toBe(
          401,
        );
      const limited = await post('/api/v1/login', { name: 'root', password: PASSWORD });
      expect(limited.status).toBe(429);
      expect(((await limited.json()) as { error: string }).error).toMatch(
        /too many failed logins from 127\.0\.0\.1/,
      );
      clock.advance(15 * MINUTE);
      expect((await post('/api/v1/login', { name: 'root', password: PASSWORD })).status).toBe(200);
    } finally {
      await own.close();
    }
  });
});
