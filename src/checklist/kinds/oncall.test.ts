import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contextFor } from '../../../test/support/check-context.js';
import { configSchema } from '../../config/schema.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { ManualClock } from '../../util/clock.js';
import { oncallCheck, windowOf } from './oncall.js';

/** Monday 2026-12-07 10:00 in Berlin. */
const NOW = Date.parse('2026-12-07T09:00:00Z');
const HOUR = 3_600_000;

const CONFIG_INPUT = {
  service: 'web',
  fleet: { kind: 'local', command: 'true' },
  oncall: {
    schedules: [
      {
        name: 'primary',
        timeZone: 'Europe/Berlin',
        layers: [{ name: 'days', users: ['ana', 'bo'], start: '2026-12-01T09:00', turn: 'daily' }],
      },
      {
        name: 'secondary',
        timeZone: 'Europe/Berlin',
        layers: [
          {
            name: 'office',
            users: ['cy'],
            start: '2026-12-01T09:00',
            turn: 'weekly',
            restrict: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' },
          },
        ],
      },
    ],
    escalationPolicies: [
      { name: 'default', steps: [{ targets: [{ schedule: 'primary' }] }, { targets: [{ user: 'lead' }] }] },
      { name: 'office', steps: [{ targets: [{ schedule: 'secondary' }, { channel: 'ops' }] }] },
    ],
  },
};
const CONFIG = configSchema.parse(CONFIG_INPUT);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-oncall-kind-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
let store: SqliteStore;

beforeEach(async () => {
  store = SqliteStore.open(path.join(dir, `state-${files++}.db`));
  await store.migrate();
  for (const name of ['ana', 'bo', 'cy', 'lead'])
    await store.security.createUser({
      name,
      email: null,
      passwordHash: null,
      grants: [{ role: 'viewer', environment: '*' }],
      groups: [],
      source: 'local',
      subject: null,
      createdAt: NOW,
    });
});
afterEach(async () => {
  await store.close();
});

async function run(raw: Record<string, unknown>, at = NOW, withStore = true) {
  const params = oncallCheck.params.parse(raw);
  return oncallCheck.run(
    params,
    contextFor({ clock: new ManualClock(at), config: CONFIG, ...(withStore ? { store } : {}) }),
  );
}

describe('oncall params', () => {
  it('needs a schedule for primary and secondary, a policy for escalation, and from with to', () => {
    expect(oncallCheck.params.safeParse({ check: 'primary' }).error?.issues[0]?.message).toBe(
      'name the schedule: schedule: primary',
    );
    expect(oncallCheck.params.safeParse({ check: 'escalation' }).error?.issues[0]?.message).toBe(
      'name the policy: policy: default',
    );
    expect(oncallCheck.params.safeParse({ check: 'primary', schedule: 'p', from: '22:00' }).success).toBe(
      false,
    );
    expect(oncallCheck.params.parse({ check: 'primary', schedule: 'p' })).toEqual({
      check: 'primary',
      schedule: 'p',
      within: 12 * HOUR,
    });
  });

  it('takes the next occurrence of a daily window, past midnight included', () => {
    const params = oncallCheck.params.parse({ check: 'primary', schedule: 'p', from: '22:00', to: '06:00' });
    expect(windowOf(params, 'Europe/Berlin', NOW).map((t) => new Date(t).toISOString())).toEqual([
      '2026-12-07T21:00:00.000Z',
      '2026-12-08T05:00:00.000Z',
    ]);
    // Inside the window: from now to its end.
    const inside = Date.parse('2026-12-07T23:00:00Z');
    expect(windowOf(params, 'Europe/Berlin', inside)).toEqual([inside, Date.parse('2026-12-08T05:00:00Z')]);
  });
});

describe('oncall check', () => {
  it('primary: passes naming each person on call over the window', async () => {
    const result = await run({ check: 'primary', schedule: 'primary' });
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(
      'primary covers 2026-12-07 10:00 to 2026-12-07 22:00 (Europe/Berlin): ana 10:00-22:00',
    );
    const overnight = await run({ check: 'primary', schedule: 'primary', within: '24h' });
    expect(overnight.data?.people).toEqual(['ana', 'bo']);
  });

  it('primary: a gap fails with its times, and an unknown schedule is named', async () => {
    const result = await run({ check: 'primary', schedule: 'secondary' });
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      'secondary has nobody on call 2026-12-07 17:00 to 2026-12-07 22:00 (Europe/Berlin), in the window 2026-12-07 10:00 to 2026-12-07 22:00 (Europe/Berlin)',
    );
    expect((await run({ check: 'primary', schedule: 'tertiary' })).summary).toBe(
      'no schedule "tertiary" in oncall.schedules; the schedules are "primary", "secondary"',
    );
  });

  it('primary: a stored override fills a gap', async () => {
    await store.oncall.addOverride(
      {
        schedule: 'secondary',
        user: 'bo',
        startsAt: Date.parse('2026-12-07T16:00:00Z'),
        endsAt: Date.parse('2026-12-07T22:00:00Z'),
        reason: null,
        createdBy: 'ana',
      },
      NOW,
    );
    const result = await run({ check: 'primary', schedule: 'secondary' });
    expect(result.ok).toBe(true);
    expect(result.summary).toContain('cy 10:00-17:00, bo 17:00-22:00');
  });

  it('secondary: covers the window and writes a notice to each person, once', async () => {
    const result = await run({ check: 'secondary', schedule: 'secondary', from: '11:00', to: '15:00' });
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(
      'secondary covers 2026-12-07 11:00 to 2026-12-07 15:00 (Europe/Berlin): cy 11:00-15:00; notified cy',
    );
    await run({ check: 'secondary', schedule: 'secondary', from: '11:00', to: '15:00' });
    const sent = await store.notifications.list();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      to: { user: 'cy' },
      notice: { event: 'oncall.secondary', service: 'web' },
    });
    const gap = await run({ check: 'secondary', schedule: 'secondary' });
    expect(gap.ok).toBe(false);
    expect(await store.notifications.list()).toHaveLength(1);
    const noStore = await run(
      { check: 'secondary', schedule: 'secondary', from: '11:00', to: '15:00' },
      NOW,
      false,
    );
    expect(noStore).toMatchObject({ ok: false, inconclusive: true });
  });

  it('escalation: passes when every target is reachable, and fails naming gaps, unknown and disabled users', async () => {
    const good = await run({ check: 'escalation', policy: 'default' });
    expect(good.ok).toBe(true);
    expect(good.summary).toBe(
      'escalation policy "default": 2 steps, every target reachable; now it reaches ana, lead',
    );
    const gappy = await run({ check: 'escalation', policy: 'office' });
    expect(gappy.ok).toBe(false);
    expect(gappy.summary).toBe(
      'escalation policy "office": step 1: schedule "secondary" has nobody on call 2026-12-07 17:00 to 2026-12-07 22:00 (Europe/Berlin)',
    );
    const renamed = configSchema.parse({
      ...CONFIG_INPUT,
      oncall: {
        ...CONFIG_INPUT.oncall,
        escalationPolicies: [{ name: 'x', steps: [{ targets: [{ user: 'zed' }] }] }],
      },
    });
    const unknown = await oncallCheck.run(
      oncallCheck.params.parse({ check: 'escalation', policy: 'x' }),
      contextFor({ clock: new ManualClock(NOW), config: renamed, store }),
    );
    expect(unknown.summary).toBe('escalation policy "x": user "zed" is not a user of this installation');
    const lead = await store.security.getUserByName('lead');
    await store.security.updateUser(lead!.id, { disabledAt: NOW }, NOW);
    const disabled = await run({ check: 'escalation', policy: 'default', within: '24h' });
    expect(disabled.summary).toBe('escalation policy "default": user "lead" is disabled');
    expect((await run({ check: 'escalation', policy: 'gone' })).summary).toBe(
      'no escalation policy "gone" in oncall.escalationPolicies; the policies are "default", "office"',
    );
  });
});
