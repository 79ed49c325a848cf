import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminToken, createFirstAdmin } from '../../../test/support/auth.js';
import { SAMPLE_APP } from '../../../test/support/fleet.js';
import { loadConfig } from '../../config/loader.js';
import { type ControlPlane, startControlPlane } from '../../control-plane.js';
import { ManualClock } from '../../util/clock.js';
import { main } from '../main.js';
import { timeFlag } from './oncall.js';

describe('shipcheck oncall', () => {
  let dir: string;
  let plane: ControlPlane;
  const saved = { url: process.env.SHIPCHECK_URL, token: process.env.SHIPCHECK_TOKEN };
  const clock = new ManualClock(Date.parse('2026-12-07T10:00:00Z'));

  /** Runs the CLI in this process against the control plane; returns its exit code and output. */
  async function shipcheck(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['node', 'shipcheck', ...args, '-c', path.join(dir, 'shipcheck.yaml')], {
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      isTTY: false,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-oncall-cli-'));
    fs.writeFileSync(
      path.join(dir, 'shipcheck.yaml'),
      `service: web
server: { listen: 127.0.0.1:0 }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
traffic: { kind: proxy, listen: 127.0.0.1:0 }
oncall:
  schedules:
    - name: primary
      timeZone: Europe/Berlin
      layers:
        - { name: days, users: [ana, bo], start: 2026-12-01T09:00, turn: daily }
  escalationPolicies:
    - { name: default, steps: [{ delay: 5m, targets: [{ schedule: primary }] }, { targets: [{ user: lead }] }] }
`,
    );
    plane = await startControlPlane(
      await loadConfig(path.join(dir, 'shipcheck.yaml')),
      pino({ level: 'silent' }),
      {
        clock,
        tickMs: 50,
      },
    );
    const token = await createAdminToken(
      plane.apiUrl,
      await createFirstAdmin(plane.apiUrl, plane.setupCode!, 'ana'),
    );
    process.env.SHIPCHECK_URL = plane.apiUrl;
    process.env.SHIPCHECK_TOKEN = token;
  });

  afterAll(async () => {
    for (const [key, value] of [
      ['SHIPCHECK_URL', saved.url],
      ['SHIPCHECK_TOKEN', saved.token],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await plane.close({ stopInstances: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads now, relative and ISO times', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(timeFlag('--at', 'now', now)).toBe('2026-12-07T10:00:00.000Z');
    expect(timeFlag('--at', '+2h', now)).toBe('2026-12-07T12:00:00.000Z');
    expect(timeFlag('--at', '-1d', now)).toBe('2026-12-06T10:00:00.000Z');
    expect(timeFlag('--at', '2026-12-24T18:00', now)).toBe('2026-12-24T18:00');
    expect(() => timeFlag('--at', 'soon', now)).toThrow(
      '--at soon: give an ISO time (2026-12-24T18:00), now, or +2h / -1d',
    );
  });

  it('says who is on call and whom each step reaches, warning about names that are not users', async () => {
    const who = await shipcheck('oncall', 'who', '--at', '2026-12-07T10:00:00Z');
    expect(who.code).toBe(0);
    expect(who.out).toContain('on call at 2026-12-07 10:00Z');
    expect(who.out).toMatch(
      /primary\s+ana\s+layer days\s+2026-12-07 09:00\s+2026-12-08 09:00\s+Europe\/Berlin/,
    );
    expect(who.out).toMatch(/default\s+1\s+ana\s+5m/);
    expect(who.out).toMatch(/\s+2\s+lead\s+5m/);
    expect(who.err).toContain('warning: user "bo" is named in oncall:');
    const json = JSON.parse(
      (await shipcheck('oncall', 'who', '--schedule', 'primary', '--json', '--at', '2026-12-08T10:00:00Z'))
        .out,
    );
    expect(json.schedules[0].users).toEqual(['bo']);
    const unknown = await shipcheck('oncall', 'who', '--schedule', 'nope');
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain('no schedule "nope"; the schedules are "primary"');
  });

  it('lists shifts by local day, and refuses a range too long', async () => {
    const shifts = await shipcheck(
      'oncall',
      'shifts',
      'primary',
      '--from',
      '2026-12-07T09:00',
      '--to',
      '2026-12-09T09:00',
    );
    expect(shifts.code).toBe(0);
    expect(shifts.out.split('\n')).toEqual([
      'primary (Europe/Berlin), 2026-12-07 09:00 to 2026-12-09 09:00',
      expect.stringMatching(/^DAY\s+FROM\s+TO\s+WHO\s+VIA$/),
      expect.stringMatching(/^2026-12-07\s+09:00\s+2026-12-08 09:00\s+ana\s+layer days$/),
      expect.stringMatching(/^2026-12-08\s+09:00\s+2026-12-09 09:00\s+bo\s+layer days$/),
    ]);
    const long = await shipcheck('oncall', 'shifts', 'primary', '--from', 'now', '--to', '+100d');
    expect(long.code).not.toBe(0);
    expect(long.err).toContain('at most 90 days apart');
  });

  it('adds, lists and removes an override', async () => {
    const added = await shipcheck(
      'oncall',
      'override',
      'add',
      'primary',
      'ana',
      '--from',
      '2026-12-08T12:00',
      '--to',
      '2026-12-08T14:00',
      '--reason',
      'swap',
    );
    expect(added.code).toBe(0);
    expect(added.out).toBe(
      'override #1: ana is on call for primary from 2026-12-08 11:00Z to 2026-12-08 13:00Z',
    );
    const list = await shipcheck('oncall', 'override', 'list', 'primary');
    expect(list.out).toMatch(/^1\s+ana\s+2026-12-08 11:00Z\s+2026-12-08 13:00Z\s+ana\s+swap$/m);
    const during = JSON.parse(
      (await shipcheck('oncall', 'who', '--json', '--at', '2026-12-08T12:00:00Z')).out,
    );
    expect(during.schedules[0].users).toEqual(['ana']);
    expect(during.schedules[0].shifts[0].overrideId).toBe(1);
    const removed = await shipcheck('oncall', 'override', 'remove', '1');
    expect(removed.out).toBe('removed override #1 (ana on primary)');
    expect((await shipcheck('oncall', 'override', 'list', 'primary')).out).toBe(
      'primary has no override from now on',
    );
    expect((await shipcheck('oncall', 'override', 'remove', '77')).code).not.toBe(0);
  });
});
