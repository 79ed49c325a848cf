import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorized,
  createAdminToken,
  createFirstAdmin,
  login,
  withSession,
} from '../../test/support/auth.js';
import { SAMPLE_APP } from '../../test/support/fleet.js';
import { loadConfig } from '../config/loader.js';
import { type ControlPlane, startControlPlane } from '../control-plane.js';
import { ManualClock } from '../util/clock.js';

const ONCALL = `channels: [{ name: ops-slack, type: slack, url: 'https://hooks.example.com/x' }]
oncall:
  schedules:
    - name: primary
      timeZone: Europe/Berlin
      layers:
        - { name: days, users: [ana, bo], start: 2026-12-01T09:00, turn: daily }
    - name: secondary
      timeZone: America/New_York
      layers:
        - { name: office, users: [cy], start: 2026-12-01T09:00, turn: weekly, restrict: { days: [mon, tue, wed, thu, fri], from: '09:00', to: '17:00' } }
  escalationPolicies:
    - name: default
      steps:
        - { delay: 5m, targets: [{ schedule: primary }, { channel: ops-slack }] }
        - { delay: 10m, targets: [{ schedule: secondary }, { user: ana }] }
`;

/** The fields of the answers these tests read (each answer has some of them). */
interface Answer {
  at: number;
  error: string;
  warnings: string[];
  schedules: { users: string[]; end: number; shifts: { override: boolean; overrideId: number }[] }[];
  policies: { steps: unknown[] }[];
  shifts: { user: string; startIso: string }[];
  override: { id: number } & Record<string, unknown>;
  overrides: { id: number }[];
}

describe('the on-call routes', () => {
  let dir: string;
  let plane: ControlPlane;
  let admin: string;
  let viewer: string;
  /** A deployer in staging only: overrides change paging everywhere, so not enough. */
  let scoped: string;
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'));
  const get = async (route: string, token = admin): Promise<{ status: number; body: Answer }> => {
    const res = await fetch(`${plane.apiUrl}/api/v1${route}`, { headers: authorized(token) });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  const post = async (
    route: string,
    body: object,
    token = admin,
  ): Promise<{ status: number; body: Answer }> => {
    const res = await fetch(`${plane.apiUrl}/api/v1${route}`, {
      method: 'POST',
      headers: authorized(token, { 'content-type': 'application/json' }),
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };

  /** Adds a user with `roles` and returns a token of theirs holding the first role. */
  async function tokenOf(name: string, roles: string[]): Promise<string> {
    expect((await post('/users', { name, password: 'correct horse battery staple', roles })).status).toBe(
      201,
    );
    const session = await login(plane.apiUrl, name, 'correct horse battery staple');
    const res = await fetch(`${plane.apiUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: withSession(session),
      body: JSON.stringify({ name: 'cli', role: roles[0] }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-oncall-api-'));
    fs.writeFileSync(
      path.join(dir, 'shipcheck.yaml'),
      `service: web
server: { listen: 127.0.0.1:0 }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
traffic: { kind: proxy, listen: 127.0.0.1:0 }
${ONCALL}`,
    );
    const loaded = await loadConfig(path.join(dir, 'shipcheck.yaml'));
    plane = await startControlPlane(loaded, pino({ level: 'silent' }), { clock, tickMs: 50 });
    const session = await createFirstAdmin(plane.apiUrl, plane.setupCode!, 'ana');
    admin = await createAdminToken(plane.apiUrl, session);
    const added = await post('/users', {
      name: 'vic',
      password: 'correct horse battery staple',
      roles: ['viewer'],
    });
    expect(added.status).toBe(201);
    const vic = await login(plane.apiUrl, 'vic', 'correct horse battery staple');
    const res = await fetch(`${plane.apiUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: withSession(vic),
      body: JSON.stringify({ name: 'read', role: 'viewer' }),
    });
    expect(res.status).toBe(201);
    viewer = ((await res.json()) as { token: string }).token;
    scoped = await tokenOf('dora', ['deployer@staging']);
  });

  afterAll(async () => {
    await plane.close({ stopInstances: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says who is on call now on every schedule, and whom each escalation step reaches, warning of unknown users', async () => {
    // Monday 2026-12-07 11:00 in Berlin, 05:00 in New York: cy's office hours have not begun.
    const { status, body } = await get('/oncall', viewer);
    expect(status).toBe(200);
    expect(body.at).toBe(clock.now());
    expect(body.schedules).toMatchObject([
      {
        name: 'primary',
        timeZone: 'Europe/Berlin',
        users: ['ana'],
        end: Date.parse('2026-12-07T08:00:00Z') + 86_400_000,
      },
      { name: 'secondary', users: [], end: Date.parse('2026-12-07T14:00:00Z') },
    ]);
    expect(body.policies[0]!.steps).toEqual([
      {
        delayMs: 300_000,
        users: ['ana'],
        channels: ['ops-slack'],
        targets: [{ schedule: 'primary', users: ['ana'], known: true }, { channel: 'ops-slack' }],
      },
      {
        delayMs: 600_000,
        users: ['ana'],
        channels: [],
        targets: [{ schedule: 'secondary', users: [], known: true }, { user: 'ana' }],
      },
    ]);
    expect(body.warnings).toEqual([
      'user "bo" is named in oncall: but is not a user of this installation (or is disabled)',
      'user "cy" is named in oncall: but is not a user of this installation (or is disabled)',
    ]);
    const later = await get(`/oncall?at=2026-12-08T15:00:00Z`);
    expect(later.body.schedules.map((s) => s.users)).toEqual([['bo'], ['cy']]);
    expect((await get('/oncall?at=tomorrow')).status).toBe(400);
  });

  it('lists shifts over a bounded range; an unknown schedule is a 404', async () => {
    const { status, body } = await get(
      '/oncall/schedules/primary/shifts?from=2026-12-07T09:00&to=2026-12-09T09:00',
    );
    expect(status).toBe(200);
    expect(body.shifts.map((s) => [s.user, s.startIso])).toEqual([
      ['ana', '2026-12-07T08:00:00.000Z'],
      ['bo', '2026-12-08T08:00:00.000Z'],
    ]);
    const tooLong = await get(
      '/oncall/schedules/primary/shifts?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z',
    );
    expect(tooLong).toEqual({
      status: 400,
      body: expect.objectContaining({ error: 'from and to may be at most 90 days apart' }),
    });
    expect(
      (await get('/oncall/schedules/primary/shifts?from=2026-12-09T00:00:00Z&to=2026-12-08T00:00:00Z'))
        .status,
    ).toBe(400);
    const unknown = await get('/oncall/schedules/tertiary/shifts');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('no schedule "tertiary"; the schedules are "primary", "secondary"');
  });

  it('adds an override that wins, lists it, and removes it; a viewer may not change overrides', async () => {
    const denied = await post(
      '/oncall/schedules/primary/overrides',
      { user: 'vic', from: '2026-12-07T12:00', to: '2026-12-07T14:00' },
      viewer,
    );
    expect(denied.status).toBe(403);
    const scopedAnswer = await post(
      '/oncall/schedules/primary/overrides',
      { user: 'vic', from: '2026-12-07T12:00', to: '2026-12-07T14:00' },
      scoped,
    );
    expect(scopedAnswer.status).toBe(403);
    const added = await post('/oncall/schedules/primary/overrides', {
      user: 'vic',
      from: '2026-12-07T12:00',
      to: '2026-12-07T14:00',
      reason: 'ana at the dentist',
    });
    expect(added.status).toBe(201);
    expect(added.body.override).toMatchObject({
      schedule: 'primary',
      user: 'vic',
      startsAtIso: '2026-12-07T11:00:00.000Z',
      endsAtIso: '2026-12-07T13:00:00.000Z',
      createdBy: 'ana',
      reason: 'ana at the dentist',
    });
    expect(added.body.warnings).toEqual([]);
    const during = await get('/oncall?at=2026-12-07T12:00:00Z');
    expect(during.body.schedules[0]!).toMatchObject({
      users: ['vic'],
      end: Date.parse('2026-12-07T13:00:00Z'),
    });
    expect(during.body.schedules[0]!.shifts[0]).toMatchObject({
      override: true,
      overrideId: added.body.override.id,
    });
    const list = await get('/oncall/schedules/primary/overrides');
    expect(list.body.overrides.map((o) => o.id)).toEqual([added.body.override.id]);

    const unknownUser = await post('/oncall/schedules/primary/overrides', {
      user: 'zed',
      from: '2026-12-08T12:00',
      to: '2026-12-08T14:00',
    });
    expect(unknownUser.body.warnings).toEqual([
      'user "zed" is not a user of this installation (or is disabled); nobody may be reached',
    ]);
    const backwards = await post('/oncall/schedules/primary/overrides', {
      user: 'vic',
      from: '2026-12-08T12:00',
      to: '2026-12-08T11:00',
    });
    expect(backwards).toEqual({
      status: 400,
      body: expect.objectContaining({ error: 'to must be later than from' }),
    });
    expect(
      (
        await post('/oncall/schedules/primary/overrides', {
          user: 'vic',
          from: '2026-12-01T12:00',
          to: '2026-12-01T14:00',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await post('/oncall/schedules/nope/overrides', {
          user: 'vic',
          from: '2026-12-08T12:00',
          to: '2026-12-08T14:00',
        })
      ).status,
    ).toBe(404);

    expect((await post(`/oncall/overrides/${added.body.override.id}/remove`, {}, viewer)).status).toBe(403);
    expect((await post(`/oncall/overrides/${added.body.override.id}/remove`, {}, scoped)).status).toBe(403);
    const removed = await post(`/oncall/overrides/${added.body.override.id}/remove`, {});
    expect(removed.status).toBe(200);
    expect(removed.body.override).toMatchObject({ removedBy: 'ana', removedAt: clock.now() });
    expect((await get('/oncall?at=2026-12-07T12:00:00Z')).body.schedules[0]!.users).toEqual(['ana']);
    expect((await post('/oncall/overrides/9999/remove', {})).status).toBe(404);
    expect((await post('/oncall/overrides/abc/remove', {})).status).toBe(400);
  });

  it('answers from the config a reload brought in', async () => {
    const file = path.join(dir, 'shipcheck.yaml');
    const before = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, before.replace('users: [ana, bo]', 'users: [bo, ana]'));
    try {
      await plane.reload();
      const { body } = await get('/oncall?at=2026-12-07T10:00:00Z');
      expect(body.schedules[0]!.users).toEqual(['bo']);
    } finally {
      fs.writeFileSync(file, before);
      await plane.reload();
    }
  });
});
