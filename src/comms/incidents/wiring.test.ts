import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { oncallSchema } from '../../config/oncall-schema.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { onCallTargets, policiesOf } from './wiring.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-incident-wiring-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const oncall = oncallSchema.parse({
  schedules: [
    {
      name: 'primary',
      timeZone: 'UTC',
      layers: [{ name: 'all', users: ['ana', 'bo'], start: '2026-01-05T00:00', turn: 'weekly' }],
    },
  ],
  escalationPolicies: [
    {
      name: 'web',
      steps: [{ delay: '1m', targets: [{ user: 'lead' }, { schedule: 'primary' }, { channel: 'ops' }] }],
    },
  ],
});

describe('incident wiring for shipcheck up', () => {
  it("reads the installation's escalation policies", () => {
    expect(policiesOf({ oncall }).map((p) => p.name)).toEqual(['web']);
    expect(policiesOf({ oncall: oncallSchema.parse({}) })).toEqual([]);
  });

  it('reaches users and channels as they are, and a schedule through whoever it has on call, stored overrides first', async () => {
    const store = SqliteStore.open(path.join(dir, 'state.db'));
    await store.migrate();
    try {
      const resolve = onCallTargets(store, () => oncall);
      const policy = policiesOf({ oncall })[0]!;
      const firstWeek = Date.parse('2026-01-06T12:00:00Z');
      expect(await resolve(policy, 0, firstWeek)).toEqual([
        { user: 'lead' },
        { user: 'ana' },
        { channel: 'ops' },
      ]);
      const secondWeek = Date.parse('2026-01-13T12:00:00Z');
      expect(await resolve(policy, 0, secondWeek)).toContainEqual({ user: 'bo' });
      await store.oncall.addOverride(
        {
          schedule: 'primary',
          user: 'cy',
          startsAt: secondWeek - 3600_000,
          endsAt: secondWeek + 3600_000,
          reason: null,
          createdBy: 'admin',
        },
        secondWeek,
      );
      const overridden = await resolve(policy, 0, secondWeek);
      expect(overridden).toContainEqual({ user: 'cy' });
      expect(overridden).not.toContainEqual({ user: 'bo' });
    } finally {
      await store.close();
    }
  });
});
