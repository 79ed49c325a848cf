import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../errors.js';
import type { Drainer, Instance } from '../types.js';
import { LocalFleet, type LocalFleetOptions } from './local-fleet.js';
import { MemoryInstanceRecordStore } from './memory-records.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const SAMPLE_APP = path.join(REPO_ROOT, 'examples/app/server.js');
const APP_COMMAND = [process.execPath, SAMPLE_APP];
const MISSING_COMMAND = 'shipcheck-test-no-such-command';
const HEALTH_INTERVAL_MS = 100;
const UNHEALTHY_AFTER = 3;
const WAIT_TIMEOUT_MS = 15_000;
const WAIT_POLL_MS = 20;
/** Only used to show that something does not happen: several health ticks and restart backoffs. */
const QUIET_PERIOD_MS = 500;
const STABLE = { restartOnExit: true };
const CANARY = { restartOnExit: false };

const fleets: LocalFleet[] = [];
const pids = new Set<number>();
const tempDirs: string[] = [];

function track(fleet: LocalFleet): void {
  for (const instance of fleet.instances()) if (instance.pid !== undefined) pids.add(instance.pid);
}

function makeFleet(overrides: Partial<LocalFleetOptions> = {}): LocalFleet {
  const logDir = overrides.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-local-fleet-'));
  tempDirs.push(logDir);
  const fleet = new LocalFleet({
    service: 'web',
    command: APP_COMMAND,
    cwd: REPO_ROOT,
    env: {},
    stopTimeoutMs: 2_000,
    health: {
      path: '/healthz',
      intervalMs: HEALTH_INTERVAL_MS,
      timeoutMs: 500,
      unhealthyAfter: UNHEALTHY_AFTER,
    },
    logDir,
    records: new MemoryInstanceRecordStore(),
    restartBackoff: { initialMs: 50, maxMs: 200 },
    ...overrides,
  });
  fleets.push(fleet);
  return fleet;
}

function faults(byVersion: Record<string, object>): Record<string, string> {
  return { SAMPLE_FAULTS: JSON.stringify(byVersion) };
}

/** Polls `condition` until it holds, failing with `what` after a generous bound. */
async function waitFor(what: string, condition: () => boolean, fleet?: LocalFleet): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    if (fleet) track(fleet);
    if (condition()) return;
    if (Date.now() > deadline) {
      const state = fleet?.instances().map((i) => `${i.id}=${i.state} (${i.lastError ?? ''})`);
      throw new Error(`timed out waiting for ${what}; instances: ${state?.join(', ') ?? 'n/a'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function allIn(fleet: LocalFleet, version: string, state: Instance['state'], count: number): () => boolean {
  return () => {
    const instances = fleet.instances(version);
    return instances.length === count && instances.every((i) => i.state === state);
  };
}

function only(fleet: LocalFleet, version: string): Instance {
  const [instance, ...rest] = fleet.instances(version);
  if (!instance || rest.length > 0) throw new Error(`expected one instance of ${version}`);
  return instance;
}

function pidOf(instance: Instance): number {
  if (instance.pid === undefined) throw new Error(`${instance.id} has no pid`);
  return instance.pid;
}

function get(address: string, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${urlPath}`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

afterEach(async () => {
  for (const fleet of fleets.splice(0)) {
    track(fleet);
    await fleet.close({ stopInstances: true });
  }
  // Safety net for a test that failed half-way: nothing it started may outlive it.
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  pids.clear();
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('LocalFleet', () => {
  it('starts instances that become ready with their own port, version and index', async () => {
    const fleet = makeFleet();
    await fleet.start();
    await fleet.ensure('v1', 3, STABLE);
    await waitFor('3 ready instances', allIn(fleet, 'v1', 'ready', 3), fleet);

    const instances = fleet.instances('v1');
    expect(instances.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(new Set(instances.map((i) => i.address)).size).toBe(3);
    expect(fleet.versions()).toEqual(['v1']);
    expect(fleet.readyAddresses('v1')).toEqual(instances.map((i) => i.address));
    for (const instance of instances) {
      expect(instance.id).toBe(`web-v1-${instance.index}`);
      const res = await get(instance.address);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ version: 'v1', instance: String(instance.index) });
      expect(instance.logFile).toBeDefined();
      const log = fs.readFileSync(instance.logFile ?? '', 'utf8');
      expect(log).toContain(`listening on ${instance.address.split(':')[1]} version v1`);
    }
  });

  it('records each instance with its pid and process start time', async () => {
    const records = new MemoryInstanceRecordStore();
    const fleet = makeFleet({ records });
    await fleet.start();
    await fleet.ensure('v1', 2, STABLE);
    track(fleet);

    const saved = await records.listInstances('web');
    expect(saved.map((r) => r.id).sort()).toEqual(['web-v1-0', 'web-v1-1']);
    for (const record of saved) {
      const instance = fleet.instances('v1').find((i) => i.id === record.id);
      expect(record.pid).toBe(instance?.pid);
      expect(record.pidStartTime).toMatch(/^\d+$/);
      expect(`127.0.0.1:${record.port}`).toBe(instance?.address);
    }
  });

  it('restarts a stable instance that crashes', async () => {
    const fleet = makeFleet({ env: faults({ v1: { crashAfterMs: 300 } }) });
    await fleet.start();
    await fleet.ensure('v1', 1, STABLE);
    const instance = only(fleet, 'v1');
    const firstPid = pidOf(instance);

    await waitFor('a restart', () => instance.restarts >= 1 && instance.pid !== firstPid, fleet);

    const log = (): string => fs.readFileSync(instance.logFile ?? '', 'utf8');
    const starts = (): number => log().match(/listening on \d+ version v1/g)?.length ?? 0;
    await waitFor('the restarted process to listen', () => starts() >= 2, fleet);
    expect(only(fleet, 'v1')).toBe(instance);
    expect(log()).toContain('crashing after 300ms');
  });

  it('leaves a crashed canary exited, with its exit code and last log line', async () => {
    const fleet = makeFleet({ env: faults({ v2: { crashAfterMs: 200 } }) });
    await fleet.start();
    await fleet.ensure('v2', 1, CANARY);
    const instance = only(fleet, 'v2');

    await waitFor('the canary to exit', () => instance.state === 'exited', fleet);
    await new Promise((resolve) => setTimeout(resolve, QUIET_PERIOD_MS));

    expect(instance.state).toBe('exited');
    expect(instance.exitCode).toBe(1);
    expect(instance.restarts).toBe(0);
    expect(instance.lastError).toBe('exited with code 1: crashing after 200ms (crashAfterMs fault)');
    expect(fleet.instances('v2')).toEqual([instance]);
    expect(fleet.readyAddresses('v2')).toEqual([]);
  });

  it('marks a ready instance unhealthy after unhealthyAfter failed checks', async () => {
    const fleet = makeFleet({ env: faults({ v1: { unhealthyAfterMs: 1_500 } }) });
    await fleet.start();
    await fleet.ensure('v1', 1, STABLE);
    const instance = only(fleet, 'v1');

    await waitFor('ready', () => instance.state === 'ready', fleet);
    await waitFor('unhealthy', () => instance.state === 'unhealthy', fleet);

    expect(instance.healthFailures).toBeGreaterThanOrEqual(UNHEALTHY_AFTER);
    expect(instance.failedChecks).toBeGreaterThanOrEqual(UNHEALTHY_AFTER);
    expect(instance.lastError).toBe('GET /healthz: 503');
    expect(fleet.readyAddresses('v1')).toEqual([]);
  });

  it('keeps a never-healthy instance starting, with the failure as lastError', async () => {
    const fleet = makeFleet({ env: faults({ v1: { neverHealthy: true } }) });
    await fleet.start();
    await fleet.ensure('v1', 1, CANARY);
    const instance = only(fleet, 'v1');

    await waitFor('a 503 health answer', () => instance.lastError === 'GET /healthz: 503', fleet);
    await waitFor('several failed checks', () => instance.healthFailures > UNHEALTHY_AFTER, fleet);

    expect(instance.state).toBe('starting');
    // Refusals while starting are judged by fleet.startTimeout, not counted for the health trigger.
    expect(instance.failedChecks).toBe(0);
  });

  it('reports a command that does not exist as an exited instance (argv form)', async () => {
    const fleet = makeFleet({ command: [MISSING_COMMAND, '--port'] });
    await fleet.start();
    await fleet.ensure('v1', 1, CANARY);
    const instance = only(fleet, 'v1');

    await waitFor('the instance to exit', () => instance.state === 'exited');

    expect(instance.pid).toBeUndefined();
    expect(instance.exitCode).toBe('ENOENT');
    expect(instance.lastError).toContain(`spawn ${MISSING_COMMAND} ENOENT`);
  });

  it('reports a command that does not exist as an exited instance (shell form)', async () => {
    const fleet = makeFleet({ command: `${MISSING_COMMAND} --port "$PORT"` });
    await fleet.start();
    await fleet.ensure('v1', 1, CANARY);
    const instance = only(fleet, 'v1');

    await waitFor('the instance to exit', () => instance.state === 'exited', fleet);

    expect(instance.exitCode).toBe(127);
    expect(instance.lastError).toMatch(/^exited with code 127: .*not found/);
    expect(instance.lastError).toContain(MISSING_COMMAND);
  });

  it('names a working directory that does not exist', async () => {
    const cwd = path.join(os.tmpdir(), 'shipcheck-test-no-such-dir');
    const fleet = makeFleet({ cwd });
    await fleet.start();
    await fleet.ensure('v1', 1, CANARY);
    const instance = only(fleet, 'v1');

    await waitFor('the instance to exit', () => instance.state === 'exited');

    expect(instance.lastError).toContain(`cwd ${cwd} does not exist`);
  });

  it('rejects a negative instance count', async () => {
    const fleet = makeFleet();
    await expect(fleet.ensure('v1', -1, STABLE)).rejects.toBeInstanceOf(InputError);
  });

  it('keeps retrying a missing command of a stable version without failing', async () => {
    const fleet = makeFleet({ command: [MISSING_COMMAND] });
    await fleet.start();
    await fleet.ensure('v1', 1, STABLE);
    const instance = only(fleet, 'v1');

    await waitFor('two restarts', () => instance.restarts >= 2);

    expect(instance.lastError).toContain('ENOENT');
  });

  it('is idempotent: ensuring 3 instances five times starts 3 processes', async () => {
    const records = new MemoryInstanceRecordStore();
    const fleet = makeFleet({ records });
    await fleet.start();
    await Promise.all([1, 2, 3].map(() => fleet.ensure('v1', 3, STABLE)));
    await fleet.ensure('v1', 3, STABLE);
    await fleet.ensure('v1', 3, STABLE);
    track(fleet);

    const instances = fleet.instances('v1');
    expect(instances).toHaveLength(3);
    expect(new Set(instances.map(pidOf)).size).toBe(3);
    expect(await records.listInstances('web')).toHaveLength(3);
    await waitFor('3 ready instances', allIn(fleet, 'v1', 'ready', 3), fleet);
  });

  it('scales down by stopping the highest index', async () => {
    const fleet = makeFleet();
    await fleet.start();
    await fleet.ensure('v1', 3, STABLE);
    await waitFor('3 ready instances', allIn(fleet, 'v1', 'ready', 3), fleet);
    const before = fleet.instances('v1').map(pidOf);

    await fleet.ensure('v1', 2, STABLE);

    const after = fleet.instances('v1');
    expect(after.map((i) => i.index)).toEqual([0, 1]);
    expect(after.map(pidOf)).toEqual(before.slice(0, 2));
    expect(isAlive(before[2] ?? 0)).toBe(false);
  });

  it('drains an instance before stopping it, then forgets it', async () => {
    let release: () => void = () => {};
    const drained = new Promise<void>((resolve) => {
      release = resolve;
    });
    const drainCalls: { address: string; timeoutMs: number }[] = [];
    const drainer: Drainer = {
      drain: (address, timeoutMs) => {
        drainCalls.push({ address, timeoutMs });
        return drained;
      },
    };
    const records = new MemoryInstanceRecordStore();
    const fleet = makeFleet({ drainer, records });
    await fleet.start();
    await fleet.ensure('v1', 1, STABLE);
    const instance = only(fleet, 'v1');
    await waitFor('ready', () => instance.state === 'ready', fleet);
    const pid = pidOf(instance);

    const stopping = fleet.stop('v1');
    await waitFor('the drain call', () => drainCalls.length === 1);

    expect(drainCalls[0]).toEqual({ address: instance.address, timeoutMs: 2_000 });
    expect(instance.state).toBe('stopping');
    expect(fleet.readyAddresses('v1')).toEqual([]);
    expect(isAlive(pid)).toBe(true);

    release();
    await stopping;

    expect(() => process.kill(pid, 0)).toThrow();
    expect(fleet.instances()).toEqual([]);
    expect(fleet.versions()).toEqual([]);
    expect(await records.listInstances('web')).toEqual([]);
    await fleet.stop('v1');
  });

  it('stops one version without waiting for another that is draining', async () => {
    let releaseV1: () => void = () => {};
    const v1Drained = new Promise<void>((resolve) => {
      releaseV1 = resolve;
    });
    const addresses: Record<string, string> = {};
    const drainer: Drainer = {
      drain: (address) => (address === addresses.v1 ? v1Drained : Promise.resolve()),
    };
    const fleet = makeFleet({ drainer });
    await fleet.start();
    await fleet.ensure('v1', 1, STABLE);
    await fleet.ensure('v2', 1, CANARY);
    addresses.v1 = only(fleet, 'v1').address;
    const v1Pid = pidOf(only(fleet, 'v1'));
    const v2Pid = pidOf(only(fleet, 'v2'));

    const stoppingV1 = fleet.stop('v1');
    await fleet.stop('v2');

    expect(isAlive(v2Pid)).toBe(false);
    expect(isAlive(v1Pid)).toBe(true);
    expect(fleet.versions()).toEqual(['v1']);

    releaseV1();
    await stoppingV1;
    expect(isAlive(v1Pid)).toBe(false);
  });

  it('adopts instances left running by a previous controller', async () => {
    const records = new MemoryInstanceRecordStore();
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-local-fleet-'));
    const first = makeFleet({ records, logDir });
    await first.start();
    await first.ensure('v1', 2, STABLE);
    await waitFor('2 ready instances', allIn(first, 'v1', 'ready', 2), first);
    const pidsBefore = first.instances('v1').map(pidOf);
    const addressesBefore = first.instances('v1').map((i) => i.address);

    await first.close({ stopInstances: false });
    expect(pidsBefore.every(isAlive)).toBe(true);

    const second = makeFleet({ records, logDir });
    await second.start();
    expect(second.instances('v1').map(pidOf)).toEqual(pidsBefore);
    expect(second.instances('v1').map((i) => i.address)).toEqual(addressesBefore);
    await waitFor('adopted instances ready', allIn(second, 'v1', 'ready', 2), second);

    await second.ensure('v1', 2, STABLE);
    expect(second.instances('v1').map(pidOf)).toEqual(pidsBefore);
    expect((await records.listInstances('web')).map((r) => r.pid).sort()).toEqual([...pidsBefore].sort());

    await second.stop('v1');
    // Stopped means dead, possibly still a zombie for a moment: reaping is the parent's job, and in this
    // test the parent is this very process (the first fleet spawned them), not init as after a real crash.
    await waitFor('the adopted processes to be reaped', () => !pidsBefore.some(isAlive));
    expect(await records.listInstances('web')).toEqual([]);
  });

  it('notices an adopted instance that dies and restarts it', async () => {
    const records = new MemoryInstanceRecordStore();
    const first = makeFleet({ records });
    await first.start();
    await first.ensure('v1', 1, STABLE);
    const adoptedPid = pidOf(only(first, 'v1'));
    await first.close({ stopInstances: false });

    const second = makeFleet({ records });
    await second.start();
    await second.ensure('v1', 1, STABLE);
    const instance = only(second, 'v1');
    process.kill(adoptedPid, 'SIGKILL');

    await waitFor('a restart', () => instance.restarts === 1 && instance.pid !== adoptedPid, second);
    await waitFor('ready', () => instance.state === 'ready', second);
  });

  it('forgets records whose process is gone', async () => {
    const records = new MemoryInstanceRecordStore();
    await records.saveInstance({
      id: 'web-v0-0',
      service: 'web',
      version: 'v0',
      index: 0,
      port: 1,
      pid: process.pid,
      pidStartTime: 'not-this-process',
      logFile: '/dev/null',
    });
    const fleet = makeFleet({ records });
    await fleet.start();

    expect(fleet.instances()).toEqual([]);
    expect(await records.listInstances('web')).toEqual([]);
  });

  it('stops every instance on close({stopInstances: true})', async () => {
    const fleet = makeFleet();
    await fleet.start();
    await fleet.ensure('v1', 2, STABLE);
    await fleet.ensure('v2', 1, CANARY);
    const all = fleet.instances().map(pidOf);

    await fleet.close({ stopInstances: true });

    expect(all.some(isAlive)).toBe(false);
    await expect(fleet.ensure('v1', 1, STABLE)).rejects.toThrow(/closed/);
  });
});

describe('sample app', () => {
  it('fails exactly every 5th request at errorRate 0.2 and logs each failure', async () => {
    const fleet = makeFleet({ env: faults({ v3: { errorRate: 0.2, logErrors: true } }) });
    await fleet.start();
    await fleet.ensure('v3', 1, CANARY);
    const instance = only(fleet, 'v3');
    await waitFor('ready', () => instance.state === 'ready', fleet);

    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await get(instance.address)).status);

    expect(statuses).toEqual([200, 200, 200, 200, 500, 200, 200, 200, 200, 500]);
    expect((await get(instance.address, '/nope')).status).toBe(404);
    const log = fs.readFileSync(instance.logFile ?? '', 'utf8');
    expect(log.match(/^ERROR /gm)).toHaveLength(2);
  });
});
