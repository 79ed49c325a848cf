import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { Scenario, waitFor } from './harness.js';

describe('a controller killed with kill -9', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('finishes the release after a restart, adopting its app processes without leaking or doubling any', async () => {
    // Given v1 and a v2 release in its canary pause
    s = await Scenario.create({ steps: '[{setWeight: 20}, {pause: 3s}, {setWeight: 50}, {pause: 2s}]' });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    await waitFor('weight 20', async () => (await s!.status()).release?.weight === 20);
    const before = s.appProcesses();
    expect(s.processCounts()).toEqual({ v1: 3, v2: 1 });

    // When the controller is killed with SIGKILL
    await s.crash();
    // Then the app processes keep running
    expect(
      s
        .appProcesses()
        .map((p) => p.pid)
        .sort(),
    ).toEqual(before.map((p) => p.pid).sort());

    // When it starts again
    await s.up();
    await s.waitForState('succeeded');

    // Then the release completed with exactly the processes it needs, the old ones adopted
    expect((await s.status()).stable).toBe('v2');
    expect(s.processCounts()).toEqual({ v1: 3, v2: 3 });
    const after = s.appProcesses().map((p) => p.pid);
    for (const p of before) expect(after).toContain(p.pid);
    expect(
      s
        .instanceRecords()
        .map((r) => r.pid)
        .sort(),
    ).toEqual([...after].sort());

    // And a graceful stop leaves nothing behind, the built-in proxy's process included
    expect(s.proxyProcess()).toBeDefined();
    await s.down();
    expect(s.appProcesses()).toEqual([]);
    expect(s.proxyProcess()).toBeUndefined();
  });

  it('survives a crash at every phase: starting, canary, verifying', async () => {
    s = await Scenario.create({
      steps: '[{setWeight: 20}, {pause: 2s}, {setWeight: 50}, {pause: 2s}]',
      extra: '',
    });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    // Killed right after the release was created, while it may still be starting the canary
    await s.crash();
    await s.up();
    await waitFor('canary phase', async () => (await s!.status()).release?.phase === 'canary');
    await s.crash();
    await s.up();
    await waitFor('weight 50', async () => ((await s!.status()).release?.weight ?? 0) >= 50);
    await s.crash();
    await s.up();
    await s.waitForState('succeeded');
    expect(s.processCounts()).toEqual({ v1: 3, v2: 3 });
  });

  it('rolls back a bad canary after a restart in the middle of its rollout', async () => {
    // Given a bad v2 at 50% under load
    s = await Scenario.create({
      faults: { v2: { errorRate: 0.5 } },
      steps: '[{setWeight: 50}, {pause: 1h}]',
      triggers: '[{metric: error_rate, above: 5%, window: 2s, for: 1s, minRequests: 10}]',
    });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 60, concurrency: 4, maxDurationMs: 60_000 });
    load.start();
    try {
      expect((await s.cli('deploy', 'v2')).code).toBe(0);
      await waitFor('weight 50', async () => (await s!.status()).release?.weight === 50);
      // When the controller dies and comes back
      await s.crash();
      await s.up();
      // Then analysis resumes and the release is rolled back with no human
      await s.waitForState('rolled_back');
    } finally {
      await load.stop();
    }
    expect((await s.status()).stable).toBe('v1');
    await waitFor('v2 stopped', () => !('v2' in s!.processCounts()));
    expect(s.processCounts()).toEqual({ v1: 3 });
  });
});
