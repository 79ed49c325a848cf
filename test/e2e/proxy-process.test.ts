import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { isSameProcess } from '../../src/providers/fleet/local/process-identity.js';
import { freePort } from '../../src/util/net.js';
import { Scenario, waitFor } from './harness.js';

/** Requests the proxy must answer while no control plane runs, to show it served on its own. */
const SERVED_ALONE = 100;

describe('the built-in proxy in its own process', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('serves every request through a kill -9 and restart of the control plane, which adopts it and finishes the release', async () => {
    // Given v1, and a v2 release at its first canary weight under steady load through the proxy
    s = await Scenario.create({ steps: '[{setWeight: 20}, {pause: 3s}, {setWeight: 50}, {pause: 2s}]' });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const proxy = s.proxyProcess();
    expect(proxy).toBeDefined();
    expect(proxy!.pid).not.toBe(s.serverPid);
    const load = new LoadGenerator({
      url: `${s.proxyUrl}/`,
      rps: 60,
      concurrency: 4,
      maxDurationMs: 120_000,
    });
    load.start();
    try {
      expect((await s.cli('deploy', 'v2')).code).toBe(0);
      await waitFor('weight 20', async () => (await s!.status()).release?.weight === 20);

      // When the control plane is killed with SIGKILL
      await s.crash();
      // Then the proxy process keeps serving the last route on its own
      const sentAtCrash = load.snapshot().sent;
      await waitFor(
        'requests served with no control plane',
        () => load.snapshot().sent >= sentAtCrash + SERVED_ALONE,
      );
      expect(s.proxyProcess()?.pid).toBe(proxy!.pid);

      // When the control plane starts again
      await s.up();
      // Then it adopts the same proxy process, and the release goes on to the end
      expect(s.proxyProcess()?.pid).toBe(proxy!.pid);
      expect(s.log).toContain('adopted proxy process');
      await s.waitForState('succeeded');
      expect((await s.status()).stable).toBe('v2');
      const sentAtEnd = load.snapshot().sent;
      await waitFor('requests served after the release', () => load.snapshot().sent >= sentAtEnd + 20);
    } finally {
      const report = await load.stop();
      // And not one request failed on the way
      expect(report.failures).toEqual({});
      expect(report.failed).toBe(0);
      expect(report.proxyErrors).toBe(0);
      for (const counts of Object.values(report.byVersion)) expect(Object.keys(counts)).toEqual(['2xx']);
      expect(report.byVersion.v2?.['2xx'] ?? 0).toBeGreaterThan(0);
    }

    // And a graceful stop stops the proxy process along with the app instances
    await s.down();
    expect(isSameProcess(proxy!.pid, proxy!.startTime)).toBe(false);
    expect(s.proxyProcess()).toBeUndefined();
    expect(s.appProcesses()).toEqual([]);
  });

  it('keeps the data plane serving across a stop with SIGUSR2 and the next start (an upgrade)', async () => {
    // Given v1 serving through the proxy process
    s = await Scenario.create({ instances: 2 });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const proxy = s.proxyProcess()!;
    const apps = s.appProcesses().map((p) => p.pid);
    const load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 40, concurrency: 2, maxDurationMs: 60_000 });
    load.start();
    try {
      // When the control plane is stopped with SIGUSR2
      expect(await s.leave()).toBe(0);
      // Then it exits 0 and leaves the proxy and the instances serving
      expect(s.proxyProcess()?.pid).toBe(proxy.pid);
      expect(
        s
          .appProcesses()
          .map((p) => p.pid)
          .sort(),
      ).toEqual([...apps].sort());
      const sentAtStop = load.snapshot().sent;
      await waitFor('requests served with no control plane', () => load.snapshot().sent >= sentAtStop + 40);

      // When the next control plane starts, it adopts them all
      await s.up();
      expect(s.proxyProcess()?.pid).toBe(proxy.pid);
      expect(
        s
          .appProcesses()
          .map((p) => p.pid)
          .sort(),
      ).toEqual([...apps].sort());
    } finally {
      const report = await load.stop();
      // And not one request failed
      expect(report.failed).toBe(0);
      expect(report.proxyErrors).toBe(0);
      expect(Object.keys(report.byVersion)).toEqual(['v1']);
    }
    await s.down();
    expect(s.proxyProcess()).toBeUndefined();
  });

  it('keeps the proxy process across a reload that leaves traffic alone, and replaces it when traffic.listen changes', async () => {
    // Given v1 serving through the proxy process
    s = await Scenario.create({ instances: 2 });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const proxy = s.proxyProcess()!;

    // When a reload changes the fleet only
    fs.writeFileSync(s.file, fs.readFileSync(s.file, 'utf8').replace('stopTimeout: 3s', 'stopTimeout: 4s'));
    const reloaded = await s.cli('reload');
    expect(reloaded.code, reloaded.stderr + reloaded.stdout).toBe(0);
    // Then the new providers adopt the same proxy process, which still serves
    expect(s.proxyProcess()?.pid).toBe(proxy.pid);
    expect((await fetch(`${s.proxyUrl}/`)).status).toBe(200);

    // When a reload moves traffic.listen
    const port = await freePort();
    fs.writeFileSync(s.file, fs.readFileSync(s.file, 'utf8').replace(new URL(s.proxyUrl).port, String(port)));
    const moved = await s.cli('reload');
    expect(moved.code, moved.stderr + moved.stdout).toBe(0);
    // Then the old proxy process is gone and a new one serves at the new address
    expect(isSameProcess(proxy.pid, proxy.startTime)).toBe(false);
    const replaced = s.proxyProcess()!;
    expect(replaced.pid).not.toBe(proxy.pid);
    await waitFor('v1 served at the new address', async () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.ok,
        () => false,
      ),
    );
    await s.down();
    expect(isSameProcess(replaced.pid, replaced.startTime)).toBe(false);
  });
});
