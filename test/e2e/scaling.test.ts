import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { ROOT, Scenario, TEST_USER, waitFor } from './harness.js';

const HOOKS = path.join(ROOT, 'examples', 'hooks');

/** A scaling event as the control plane stored it. */
interface ScalingEvent {
  at: number;
  type: string;
  message: string;
  data: Record<string, unknown>;
}

/** The unit's scaling events, oldest first, read from the scenario's store. */
function scalingEvents(s: Scenario): ScalingEvent[] {
  const db = new BetterSqlite3(path.join(s.dir, '.shipcheck', 'state.db'), { readonly: true });
  try {
    const rows = db
      .prepare(
        "SELECT at, type, message, data FROM events WHERE type IN ('fleet.scaled', 'autoscale.scaled', 'autoscale.held') ORDER BY id",
      )
      .all() as { at: number; type: string; message: string; data: string }[];
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}

/** Load samples the control plane recorded. */
function loadSamples(s: Scenario): { version: string; instances: number; rps: number; cpu: number | null }[] {
  const db = new BetterSqlite3(path.join(s.dir, '.shipcheck', 'state.db'), { readonly: true });
  try {
    return db.prepare('SELECT version, instances, rps, cpu FROM load_samples ORDER BY id').all() as {
      version: string;
      instances: number;
      rps: number;
      cpu: number | null;
    }[];
  } finally {
    db.close();
  }
}

describe('scaling the stable version', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('sizes the canary from the scaled count, scales the stable version during a release, leaves the canary alone, and keeps the count across a restart', async () => {
    // Given v1 on two instances, scaled to four
    s = await Scenario.create({ instances: 2, steps: '[{setWeight: 50}, {pause: {}}]' });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const up = await s.cli('scale', '4', '--reason', 'campaign');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain(`web: 2 -> 4 stable instances (set by ${TEST_USER}`);
    await waitFor('four v1 instances', () => s!.processCounts().v1 === 4);

    // When v2 is held at its 50% step, then the canary has half of the four, not of fleet.instances
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    await waitFor('v2 held at 50%', async () => (await s!.status()).release?.state === 'paused');
    await waitFor('two v2 canaries', () => s!.processCounts().v2 === 2);

    // When the stable version is scaled up, then down, mid-release
    expect((await s.cli('scale', '5')).code).toBe(0);
    await waitFor('five v1 instances', () => s!.processCounts().v1 === 5);
    expect(s.processCounts().v2).toBe(2);
    const down = await s.cli('scale', '1');
    expect(down.code, down.stderr).toBe(0);
    await waitFor('one v1 instance', () => s!.processCounts().v1 === 1);
    // Then the canary was never touched and the release is where it was
    expect(s.processCounts().v2).toBe(2);
    expect((await s.status()).release).toMatchObject({ version: 'v2', state: 'paused', weight: 50 });
    const res = await fetch(`${s.proxyUrl}/`);
    expect(res.status).toBe(200);

    // And the promoted version runs at the scaled count, which a restart keeps
    expect((await s.cli('promote', '--full')).code).toBe(0);
    await s.waitForState('succeeded');
    await waitFor('one v2 instance', () => s!.processCounts().v2 === 1);
    await s.down();
    await s.up();
    await waitFor('v2 serving after the restart', async () => (await fetch(`${s!.proxyUrl}/`)).ok);
    await waitFor('v2 warm again', () => s!.processCounts().v2 === 1);
    const shown = await s.cli('scale', '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({ instances: 1, configInstances: 2, source: 'user' });
    expect(s.processCounts().v2).toBe(1);

    const events = scalingEvents(s).filter((e) => e.type === 'fleet.scaled');
    expect(events.map((e) => [e.data.previous, e.data.instances, e.data.by])).toEqual([
      [2, 4, TEST_USER],
      [4, 5, TEST_USER],
      [5, 1, TEST_USER],
    ]);
    expect(events[0]?.message).toMatch(/campaign/);
    // The API says what is wrong with a bad count
    const bad = await s.api('/api/v1/services/web/scale', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: 0 }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/instances/);
    const otherEnv = await s.api('/api/v1/services/web/scale', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: 2, environment: 'production' }),
    });
    expect(otherEnv.status).toBe(400);
  });

  it('autoscales a real fleet under real load up to max, then down to min once the load stops, cooldowns respected', async () => {
    // Given v1 on one instance, autoscaled on 20 rps per instance between 1 and 3
    const cooldownMs = 4000;
    s = await Scenario.create({
      instances: 1,
      extra: 'scaling: { min: 1, max: 3, target: { rpsPerInstance: 20 }, cooldown: 4s, interval: 500ms }\n',
    });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, s?.processCounts().v1 ?? 0)), 200);
    try {
      // When 120 requests a second go through the proxy, for at most 40 s
      const load = new LoadGenerator({
        url: `${s.proxyUrl}/`,
        rps: 120,
        concurrency: 6,
        maxDurationMs: 40_000,
      });
      load.start();
      await waitFor('three v1 instances', () => s!.processCounts().v1 === 3, 40_000);
      const report = await load.stop();
      expect(report.failed).toBe(0);
      // Then, with no more load, it goes back to one
      await waitFor('one v1 instance', () => s!.processCounts().v1 === 1, 45_000);
    } finally {
      clearInterval(watch);
    }
    expect(most).toBeLessThanOrEqual(3);

    const events = scalingEvents(s);
    const scaled = events.filter((e) => e.type === 'autoscale.scaled');
    expect(scaled.length).toBeGreaterThanOrEqual(2);
    // Up as the load builds (one step or several), at most to max; then down
    expect(scaled[0]?.data).toMatchObject({ previous: 1, reason: 'scale-up', min: 1, max: 3 });
    expect(scaled.map((e) => e.data.instances)).toContain(3);
    expect(scaled[scaled.length - 1]?.data).toMatchObject({ instances: 1, reason: 'scale-down' });
    for (const e of scaled) {
      expect(e.data.instances as number).toBeGreaterThanOrEqual(1);
      expect(e.data.instances as number).toBeLessThanOrEqual(3);
      expect(e.data).toHaveProperty('rps');
      expect(e.data).toHaveProperty('cpuPercent');
    }
    for (let i = 1; i < scaled.length; i++)
      expect(scaled[i]!.at - scaled[i - 1]!.at).toBeGreaterThanOrEqual(cooldownMs);
    // Holds are recorded, but only when their reason or the count changes
    const held = events.filter((e) => e.type === 'autoscale.held');
    expect(held.length).toBeGreaterThan(0);
    for (let i = 1; i < held.length; i++) {
      const [a, b] = [held[i - 1]!.data, held[i]!.data];
      expect(`${String(a.reason)}:${String(a.current)}`).not.toBe(`${String(b.reason)}:${String(b.current)}`);
    }

    // CPU and memory per instance are on /metrics, and load samples were recorded beside them
    const metrics = await (await s.api('/metrics')).text();
    expect(metrics).toMatch(
      /shipcheck_instance_rss_bytes\{unit="web",version="v1",instance="web-v1-0"\} \d+/,
    );
    expect(metrics).toMatch(
      /shipcheck_instance_cpu_ratio\{unit="web",version="v1",instance="web-v1-0"\} [\d.e-]+/,
    );
    await waitFor('a load sample', () => loadSamples(s!).length > 0, 20_000);
    const samples = loadSamples(s);
    expect(samples[0]).toMatchObject({ version: 'v1' });
    expect(samples.some((x) => x.cpu !== null)).toBe(true);
    const capacity = await s.cli('capacity', '--rate', '100');
    // Too few samples for a figure: it says so and exits 1
    expect(capacity.code).toBe(1);
    expect(capacity.stdout).toMatch(/no latency_p99 trigger|not enough samples/);
  });

  it('scales a hooks fleet through its start and stop hooks, and leaves an idle one alone', async () => {
    // Given a hooks fleet (the example's scripts) with an autoscaler that has no CPU to read
    s = await Scenario.create({
      instances: 1,
      extra: 'scaling: { min: 1, max: 3, target: { rpsPerInstance: 50 }, cooldown: 2s, interval: 200ms }\n',
    });
    const state = path.join(s.dir, 'hooks-state');
    const config = fs.readFileSync(s.file, 'utf8');
    const fleet = config.slice(config.indexOf('fleet:'), config.indexOf('traffic:'));
    fs.writeFileSync(
      s.file,
      config.replace(
        fleet,
        `fleet:
  kind: hooks
  hooks: { start: ${HOOKS}/start.sh, stop: ${HOOKS}/stop.sh, list: ${HOOKS}/list.sh }
  instances: 1
  startTimeout: 20s
  stopTimeout: 3s
  env: { SHIPCHECK_HOOKS_STATE: "${state}" }
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }
`,
      ),
    );
    const ready = async (): Promise<number> => {
      const res = await s!.api('/api/v1/services/web');
      const body = (await res.json()) as { versions: { stable: { instances: { state: string }[] } | null } };
      return body.versions.stable?.instances.filter((i) => i.state === 'ready').length ?? 0;
    };
    try {
      await s.up();
      expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
      // When it is scaled up and down by hand
      expect((await s.cli('scale', '3')).code).toBe(0);
      await waitFor('three hooks instances', async () => (await ready()) === 3);
      expect((await s.cli('scale', '1')).code).toBe(0);
      await waitFor('one hooks instance', async () => (await ready()) === 1);
      // Then the hooks started and stopped them, and the idle autoscaler did not touch the count
      await waitFor(
        'the stop hook ran',
        () => fs.readdirSync(state).filter((f) => f.endsWith('.json')).length === 1,
      );
      const events = scalingEvents(s);
      expect(events.filter((e) => e.type === 'autoscale.scaled')).toEqual([]);
      expect(events.some((e) => e.type === 'autoscale.held' && e.data.reason === 'no-data')).toBe(true);
      expect(events.filter((e) => e.type === 'fleet.scaled').map((e) => e.data.instances)).toEqual([3, 1]);
    } finally {
      await s.down();
      for (const f of fs.existsSync(state) ? fs.readdirSync(state) : []) {
        if (!f.endsWith('.json')) continue;
        const pid = Number(/"pid":(\d+)/.exec(fs.readFileSync(path.join(state, f), 'utf8'))?.[1]);
        try {
          if (pid > 0) process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  });
});
