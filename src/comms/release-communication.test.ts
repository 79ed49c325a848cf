import { describe, expect, it } from 'vitest';
import { communicationSchema } from '../config/communication-schema.js';
import type { EventRow } from '../store/types.js';
import { communicationFor, migrationMaintenanceKey, rollbackIncidentKey } from './release-communication.js';

const policy = communicationSchema.parse({
  notify: { started: ['chat'], succeeded: ['chat'], rolledBack: ['chat', 'pager'], aborted: ['chat'] },
  incident: { escalationPolicy: 'web-oncall' },
});

function event(type: string, data: Record<string, unknown> = {}, message = 'm'): EventRow {
  return {
    id: 7,
    service: 'web',
    releaseId: 3,
    at: 1,
    type,
    message,
    data: { version: 'v3', state: 'progressing', ...data },
  };
}

describe('communicationFor', () => {
  it('asks nothing without a policy, or for an event of no release', () => {
    expect(communicationFor('web', event('release.created'), undefined)).toEqual([]);
    expect(communicationFor('web', { ...event('release.created'), releaseId: null }, policy)).toEqual([]);
  });

  it('tells the channels of each end, under a key of the event', () => {
    const [started] = communicationFor(
      'web',
      event('release.created'),
      policy,
      (id) => `http://x/releases/${id}`,
    );
    expect(started).toMatchObject({
      do: 'notify',
      key: 'event:web:7',
      channels: ['chat'],
      notice: {
        event: 'release.created',
        title: 'web: release v3 started',
        url: 'http://x/releases/3',
        severity: 'info',
      },
    });
    const ended = communicationFor('web', event('release.succeeded'), policy);
    expect(ended.filter((a) => a.do === 'notify').map((a) => a.channels)).toEqual([['chat']]);
  });

  it('opens an incident on an automated rollback, not on an abort, and resolves it when the rollback ends', () => {
    const opened = communicationFor(
      'web',
      event('release.rolling_back', { outcome: 'rolled_back' }, 'error_rate 20% > 5%'),
      policy,
    );
    expect(opened).toEqual([
      {
        do: 'open-incident',
        key: rollbackIncidentKey('web', 3),
        title: 'web: release v3 rolled back automatically',
        message: 'error_rate 20% > 5%',
        severity: 'critical',
        escalationPolicy: 'web-oncall',
        public: true,
        componentStatus: 'degraded_performance',
      },
    ]);
    expect(communicationFor('web', event('release.rolling_back', { outcome: 'aborted' }), policy)).toEqual(
      [],
    );
    const ended = communicationFor('web', event('release.rolled_back', {}, 'v3 rolled back: why'), policy);
    expect(ended).toContainEqual({
      do: 'resolve-incident',
      key: rollbackIncidentKey('web', 3),
      message: 'Rollback verified: v3 rolled back: why',
      afterMs: 0,
    });
    expect(ended).toContainEqual(expect.objectContaining({ do: 'notify', channels: ['chat', 'pager'] }));
  });

  it('shows migrations as maintenance, ended by the migrations or by the end of the release', () => {
    expect(communicationFor('web', event('release.migrating'), policy)).toEqual([
      expect.objectContaining({ do: 'start-maintenance', key: migrationMaintenanceKey('web', 3) }),
    ]);
    expect(communicationFor('web', event('release.migrated'), policy)).toEqual([
      expect.objectContaining({ do: 'end-maintenance', key: migrationMaintenanceKey('web', 3) }),
    ]);
    const quiet = communicationSchema.parse({
      statusPage: { duringMigrations: 'none' },
      incident: { onRollback: false },
    });
    expect(communicationFor('web', event('release.migrating'), quiet)).toEqual([]);
    expect(communicationFor('web', event('release.rolling_back', { outcome: 'rolled_back' }), quiet)).toEqual(
      [],
    );
  });
});
