import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { Scenario, waitFor } from './harness.js';

describe('a canary rollout through the built-in proxy', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('starts a first release on every instance, with nothing to protect', async () => {
    // Given a service that has never been deployed
    s = await Scenario.create();
    await s.up();
    // When v1 is deployed
    const result = await s.cli('deploy', 'v1', '--wait');
    // Then it succeeds on three instances and serves traffic
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect((await s.status()).stable).toBe('v1');
    expect(s.processCounts()).toEqual({ v1: 3 });
    const res = await fetch(`${s.proxyUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-shipcheck-served-by')).toBe('v1');
  });

  it('promotes a good version with zero failed requests under load', async () => {
    // Given v1 on three instances, and steady traffic with error and latency triggers armed
    s = await Scenario.create({
      triggers: '[{metric: error_rate, above: 5%, window: 5s, minRequests: 5}, {health: failed}]',
    });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const load = new LoadGenerator({
      url: `${s.proxyUrl}/`,
      rps: 100,
      concurrency: 8,
      maxDurationMs: 60_000,
    });
    load.start();
    // When v2 is deployed and followed to the end
    const result = await s.cli('deploy', 'v2', '--wait');
    const report = await load.stop();
    // Then it is promoted, no request failed, and v1 stays warm with no traffic
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/weight 20%/);
    expect(result.stdout).toMatch(/weight 50%/);
    expect(result.stdout).toMatch(/succeeded/);
    const status = await s.status();
    expect(status.stable).toBe('v2');
    expect(status.release).toMatchObject({ version: 'v2', state: 'succeeded', weight: 100 });
    expect(report.failed).toBe(0);
    expect(report.proxyErrors).toBe(0);
    expect(report.byVersion.v2?.['2xx'] ?? 0).toBeGreaterThan(0);
    expect(Object.values(report.byVersion).every((c) => (c['5xx'] ?? 0) === 0)).toBe(true);
    expect(s.processCounts()).toEqual({ v1: 3, v2: 3 });
    const after = await fetch(`${s.proxyUrl}/`);
    expect(after.headers.get('x-shipcheck-served-by')).toBe('v2');
  });

  it('pauses, resumes, promotes, aborts and rolls back on command', async () => {
    // Given v1, and a v2 release that waits at an indefinite pause
    s = await Scenario.create({ steps: '[{setWeight: 20}, {pause: {}}, {setWeight: 50}, {pause: 1h}]' });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    await s.waitForState('paused');
    expect((await s.status()).release).toMatchObject({
      weight: 20,
      reason: 'waiting for promote at step 2/4',
    });

    // When it is resumed it moves past the indefinite pause into the timed one
    expect((await s.cli('resume')).code).toBe(0);
    await waitFor('weight 50', async () => (await s!.status()).release?.weight === 50);
    expect((await s.status()).release?.state).toBe('progressing');

    // When it is paused by hand, then promoted to 100%
    expect((await s.cli('pause')).code).toBe(0);
    expect((await s.status()).release).toMatchObject({ state: 'paused', reason: 'paused by user' });
    const promoted = await s.cli('promote', '--full');
    expect(promoted.code, promoted.stderr).toBe(0);
    await s.waitForState('succeeded');
    expect((await s.status()).stable).toBe('v2');

    // When a rollback is asked for after success, v1 (still warm) takes the traffic back
    const rollback = await s.cli('rollback', '--wait');
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect((await s.status()).stable).toBe('v1');

    // When v3 is deployed and aborted, it ends aborted with exit code 4 for a waiting client
    const waiting = s.cli('deploy', 'v3', '--wait');
    await waitFor('v3 release', async () => (await s!.status()).release?.version === 'v3');
    expect((await s.cli('abort')).code).toBe(0);
    const aborted = await waiting;
    expect(aborted.code).toBe(4);
    expect((await s.status()).release).toMatchObject({
      version: 'v3',
      state: 'aborted',
      reason: 'aborted by user',
    });
    await waitFor('v3 stopped', () => !('v3' in s!.processCounts()));
    expect((await s.status()).stable).toBe('v1');
  });

  it('refuses a second release of the same service while one is active', async () => {
    // Given a release held at an indefinite pause
    s = await Scenario.create({ steps: '[{setWeight: 20}, {pause: {}}]' });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    // When another deploy comes in
    const second = await s.cli('deploy', 'v3');
    // Then it gets a clear conflict error and exit code 1
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/already has an active release: #2 of v2/);
    expect(second.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
