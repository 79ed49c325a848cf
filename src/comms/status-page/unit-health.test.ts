import { describe, expect, it } from 'vitest';
import type { StatusView, VersionFigures } from '../../engine/views.js';
import { unitHealthOf, unitsHealth } from './unit-health.js';

function figures(version: string, states: string[]): VersionFigures {
  return {
    version,
    rps: 0,
    requests: 0,
    errorRate: null,
    p50: null,
    p99: null,
    instances: states.map((state, i) => ({
      id: `${version}-${i}`,
      address: '',
      state,
      restarts: 0,
      lastError: null,
    })),
  };
}

function view(extra: Partial<StatusView>): StatusView {
  return {
    service: 'web',
    environment: null,
    stable: 'v1',
    previous: null,
    release: null,
    versions: { stable: figures('v1', ['ready', 'exited']), canary: null },
    replica: null,
    ...extra,
  };
}

describe('a unit health from its status view', () => {
  it('reads the stable and canary instances and the active release', () => {
    const release = { phase: 'rolling-back', state: 'progressing' } as StatusView['release'];
    expect(
      unitHealthOf(
        'web',
        view({
          release,
          versions: { stable: figures('v1', ['ready']), canary: figures('v2', ['unhealthy']) },
        }),
      ),
    ).toEqual({
      unit: 'web',
      stable: ['ready'],
      canary: ['unhealthy'],
      release: { phase: 'rolling-back', state: 'progressing' },
      known: true,
    });
    const ended = { phase: 'completed', state: 'succeeded' } as StatusView['release'];
    expect(unitHealthOf('web', view({ release: ended })).release).toBeNull();
  });

  it('knows a unit only on the replica that drives it', () => {
    expect(unitHealthOf('web', view({ replica: { id: 'a', leading: false, holder: 'b' } })).known).toBe(
      false,
    );
    expect(unitHealthOf('web', view({ replica: { id: 'b', leading: true, holder: 'b' } })).known).toBe(true);
  });

  it('counts a unit whose status cannot be read as having no instances', async () => {
    const failing = { status: (): Promise<StatusView> => Promise.reject(new Error('store down')) };
    expect(await unitsHealth(new Map([['web', failing]]))).toEqual([
      { unit: 'web', stable: [], canary: [], release: null },
    ]);
  });
});
