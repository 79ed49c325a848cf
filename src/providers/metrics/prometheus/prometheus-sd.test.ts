import { describe, expect, it } from 'vitest';
import { prometheusTargets } from './prometheus-sd.js';

describe('prometheusTargets', () => {
  it('groups live instances by version with service, version, role and environment labels', () => {
    const groups = prometheusTargets([
      {
        service: 'web',
        environment: 'production',
        stable: 'v1',
        canary: 'v2',
        instances: [
          { address: '127.0.0.1:4001', version: 'v1', state: 'ready' },
          { address: '127.0.0.1:4002', version: 'v1', state: 'unhealthy' },
          { address: '127.0.0.1:4003', version: 'v2', state: 'starting' },
          { address: '127.0.0.1:4004', version: 'v1', state: 'exited' },
          { address: '127.0.0.1:4005', version: 'v2', state: 'stopping' },
        ],
      },
    ]);
    expect(groups).toEqual([
      {
        targets: ['127.0.0.1:4001', '127.0.0.1:4002'],
        labels: { service: 'web', version: 'v1', role: 'stable', environment: 'production' },
      },
      {
        targets: ['127.0.0.1:4003'],
        labels: { service: 'web', version: 'v2', role: 'canary', environment: 'production' },
      },
    ]);
  });

  it('omits environment when null and keeps services apart', () => {
    const groups = prometheusTargets([
      {
        service: 'web',
        environment: null,
        stable: 'v1',
        canary: undefined,
        instances: [{ address: 'a:1', version: 'v1', state: 'ready' }],
      },
      {
        service: 'api',
        environment: null,
        stable: 'v1',
        canary: undefined,
        instances: [{ address: 'b:1', version: 'v1', state: 'ready' }],
      },
    ]);
    expect(groups).toEqual([
      { targets: ['a:1'], labels: { service: 'web', version: 'v1', role: 'stable' } },
      { targets: ['b:1'], labels: { service: 'api', version: 'v1', role: 'stable' } },
    ]);
  });

  it('leaves out versions that are neither stable nor canary, and versions with no live instance', () => {
    const groups = prometheusTargets([
      {
        service: 'web',
        environment: 'staging',
        stable: 'v3',
        canary: 'v4',
        instances: [
          { address: 'a:1', version: 'v2', state: 'ready' },
          { address: 'a:2', version: 'v3', state: 'ready' },
          { address: 'a:3', version: 'v4', state: 'exited' },
        ],
      },
    ]);
    expect(groups).toEqual([
      { targets: ['a:2'], labels: { service: 'web', version: 'v3', role: 'stable', environment: 'staging' } },
    ]);
    expect(prometheusTargets([])).toEqual([]);
  });
});
