import { spawn } from 'node:child_process';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Instance } from '../providers/fleet/types.js';
import { InstanceUsageSampler } from './instance-usage.js';

function instance(id: string, pid: number | undefined): Instance {
  return {
    id,
    version: 'v1',
    index: 0,
    address: '127.0.0.1:1',
    pid,
    state: 'ready',
    healthFailures: 0,
    failedChecks: 0,
    restarts: 0,
    lastError: undefined,
    exitCode: undefined,
    logFile: undefined,
  };
}

describe('InstanceUsageSampler', () => {
  let pid: number | undefined;
  afterEach(() => {
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    pid = undefined;
  });

  it('reads CPU and memory of a real process group, shows them as gauges, and drops them when it ends', async () => {
    // Given a busy process leading its own group, as a local fleet starts instances
    const child = spawn(
      process.execPath,
      ['-e', 'const end = Date.now() + 30000; while (Date.now() < end) {}'],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    pid = child.pid;
    if (pid === undefined) throw new Error('the busy process did not start');
    const registry = new Registry();
    const sampler = new InstanceUsageSampler('web', registry, '/proc', 0);
    const busy = instance('web-v1-0', pid);

    // When it is sampled twice, some CPU time apart
    sampler.sample([busy]);
    expect(sampler.of('v1')[0]).toMatchObject({ id: 'web-v1-0', cpu: undefined });
    await new Promise((resolve) => setTimeout(resolve, 500));
    sampler.sample([busy]);

    // Then it has a CPU rate and a resident size, and both are gauges
    const [reading] = sampler.of('v1');
    expect(reading?.cpu).toBeGreaterThan(0);
    expect(reading?.rssBytes).toBeGreaterThan(1_000_000);
    expect(sampler.mean('v1').cpu).toBe(reading?.cpu);
    const text = await registry.metrics();
    expect(text).toMatch(
      /shipcheck_instance_cpu_ratio\{unit="web",version="v1",instance="web-v1-0"\} [\d.e-]+/,
    );
    expect(text).toMatch(/shipcheck_instance_rss_bytes\{unit="web",version="v1",instance="web-v1-0"\} \d+/);

    // And once the instance is gone, so are its gauges
    sampler.sample([]);
    expect(sampler.of('v1')).toEqual([]);
    expect(sampler.mean('v1')).toEqual({ cpu: undefined, rss: undefined });
    expect(await registry.metrics()).not.toMatch(/instance="web-v1-0"/);
  });

  it('has no reading for an instance without a live process', () => {
    const sampler = new InstanceUsageSampler('web', undefined, '/proc', 0);
    sampler.sample([instance('web-v1-0', undefined), instance('web-v1-1', 2 ** 22 + 12345)]);
    expect(sampler.of('v1')).toEqual([]);
  });
});
