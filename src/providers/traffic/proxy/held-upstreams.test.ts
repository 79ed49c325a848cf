import { describe, expect, it } from 'vitest';
import type { Instance, InstanceState } from '../../fleet/types.js';
import { HeldUpstreams } from './held-upstreams.js';

function instance(version: string, address: string, state: InstanceState, healthFailures = 0): Instance {
  return {
    id: `web-${version}-${address}`,
    version,
    index: 0,
    address,
    pid: 1,
    state,
    healthFailures,
    failedChecks: 0,
    restarts: 0,
    lastError: undefined,
    exitCode: undefined,
    logFile: undefined,
  };
}

describe('HeldUpstreams', () => {
  it('keeps an adopted address while its instance waits for its first check', () => {
    const held = new HeldUpstreams({ v1: ['a:1', 'a:2'] });
    const instances = [instance('v1', 'a:1', 'starting'), instance('v1', 'a:2', 'starting')];
    expect(held.addTo('v1', [], instances)).toEqual(['a:1', 'a:2']);
    // A pass makes it ready: listed once, and no longer held
    instances[0]!.state = 'ready';
    expect(held.addTo('v1', ['a:1'], instances)).toEqual(['a:1', 'a:2']);
    expect(held.size).toBe(1);
  });

  it('lets an address go for good after a failed first check, or with no instance there', () => {
    const held = new HeldUpstreams({ v1: ['a:1', 'a:2'], v2: ['b:1'] });
    const failed = instance('v1', 'a:1', 'starting', 1);
    expect(held.addTo('v1', [], [failed])).toEqual([]);
    // Even if the instance at a:1 looks unchecked again later (a new process on that port), it is not held
    failed.healthFailures = 0;
    expect(held.addTo('v1', [], [failed])).toEqual([]);
    // An address of another version is not this version's
    expect(held.addTo('v2', [], [instance('v1', 'b:1', 'starting')])).toEqual([]);
    expect(held.size).toBe(0);
  });

  it('holds nothing for a process nobody pushed a table to', () => {
    const held = new HeldUpstreams();
    expect(held.addTo('v1', ['a:1'], [instance('v1', 'a:9', 'starting')])).toEqual(['a:1']);
  });
});
