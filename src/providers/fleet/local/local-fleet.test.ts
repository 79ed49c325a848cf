import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceRecord } from '../../../store/types.js';
import {
  allIn,
  CANARY,
  faultsEnv,
  get,
  isAlive,
  killLeftovers,
  only,
  QUIET_PERIOD_MS,
  SAMPLE_APP,
  sleep,
  STABLE,
  waitFor,
} from '../../../../test/support/fleet.js';
import {
  CONTRACT_HEALTH,
  CONTRACT_SERVICE,
  CONTRACT_STOP_TIMEOUT_MS,
  runFleetContract,
} from '../fleet.case.js';
import type { Drainer, Instance } from '../types.js';
import { LocalFleet, type LocalFleetOptions } from './local-fleet.js';
import { MemoryInstanceRecordStore } from './memory-records.js';

const REPO_ROOT = path.dirname(path.dirname(path.dirname(SAMPLE_APP)));
const APP_COMMAND = [process.execPath, SAMPLE_APP];
const MISSING_COMMAND = 'shipcheck-test-no-such-command';

/** Instance records in memory that also remember every pid saved: what the tests clean up after. */
class PidRecordingStore extends MemoryInstanceRecordStore {
  readonly pids: number[] = [];

  override async saveInstance(record: InstanceRecord): Promise<void> {
    if (record.pid > 0 && !this.pids.includes(record.pid)) this.pids.push(record.pid);
    await super.saveInstance(record);
  }
}

/** A local fleet of the sample app; the contract's health and stop timeout, with quick restarts. */
function localFleet(
  logDir: string,
  records: PidRecordingStore,
  overrides: Partial<LocalFleetOptions> = {},
): LocalFleet {
  return new LocalFleet({
    service: CONTRACT_SERVICE,
    command: APP_COMMAND,
    cwd: REPO_ROOT,
    env: {},
    stopTimeoutMs: CONTRACT_STOP_TIMEOUT_MS,
    health: CONTRACT_HEALTH,
    logDir,
    records,
    restartBackoff: { initialMs: 50, maxMs: 200 },
    ...overrides,
  });
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-local-fleet-'));
}

runFleetContract('local', () => {
  const logDir = tempDir();
  const records = new PidRecordingStore();
  return {
    fleet: (options = {}) =>
      localFleet(logDir, records, { drainer: options.drainer, env: options.env ?? {} }),
    pidOf: (instance) => pidOf(instance),
    startedPids: () => [...records.pids],
    dispose: () => fs.rmSync(logDir, { recursive: true, force: true }),
  };
});

const fleets: LocalFleet[] = [];
const recordStores: PidRecordingStore[] = [];
const tempDirs: string[] = [];

/** A local fleet closed (its instances stopped) after the test; records passed in must remember pids. */
function makeFleet(
  overrides: Partial<Omit<LocalFleetOptions, 'records'>> & { records?: PidRecordingStore } = {},
): LocalFleet {
  const logDir = overrides.logDir ?? tempDir();
  tempDirs.push(logDir);
  const records = overrides.records ?? new PidRecordingStore();
  recordStores.push(records);
  const fleet = localFleet(logDir, records, { ...overrides, logDir, records });
  fleets.push(fleet);
  return fleet;
}

/**
 * An app command whose run finds its port in use: it listens on PORT, then listens on it once more,
 * and dies of the real EADDRINUSE. With `marker`, only the first run does; later runs are the sample app.
 */
function portTakenOnce(marker: string | undefined): string[] {
  const script = `
    const fs = require('node:fs');
    const net = require('node:net');
    const marker = ${JSON.stringify(marker ?? null)};
    if (marker !== null && fs.existsSync(marker)) {
      import(require('node:url').pathToFileURL(${JSON.stringify(SAMPLE_APP)}).href);
    } else {
      if (marker !== null) fs.writeFileSync(marker, '');
      net.createServer().listen(Number(process.env.PORT), '127.0.0.1', () => {
        net.createServer().listen(Number(process.env.PORT), '127.0.0.1');
      });
    }`;
  return [process.execPath, '-e', script];
}

function pidOf(instance: Instance): number {
  if (instance.pid === undefined) throw new Error(`${instance.id} has no pid`);
  return instance.pid;
}

afterEach(async () => {
  for (const fleet of fleets.splice(0)) await fleet.close({ stopInstances: true });
  // Safety net for a test that failed half-way: nothing it started may outlive it.
  for (const records of recordStores.splice(0)) killLeftovers(records.pids);
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('LocalFleet', () => {
  it('writes the output of each instance to its own log file', async () => {
    const fleet = makeFleet();
    await fleet.start();
    await fleet.ensure('v1', 2, STABLE);
    await waitFor('2 ready instances', allIn(fleet, 'v1', 'ready', 2), fleet);

    const instances = fleet.instances('v1');
    expect(new Set(instances.map((i) => i.logFile)).size).toBe(2);
    for (const instance of instances) {
      const log = fs.readFileSync(instance.logFile ?? '', 'utf8');
      expect(log).toContain(`listening on ${instance.address.split(':')[1]} version v1`);
    }
  });

  it('records each instance with its pid and process start time, and deletes the record once stopped', async () => {
    const records = new PidRecordingStore();
    const fleet = makeFleet({ records });
    await fleet.start();
    await fleet.ensure('v1', 2, STABLE);

    const saved = await records.listInstances('web');
    expect(saved.map((r) => r.id).sort()).toEqual(['web-v1-0', 'web-v1-1']);
    for (const record of saved) {
      const instance = fleet.instances('v1').find((i) => i.id === record.id);
      expect(record.pid).toBe(instance?.pid);
      expect(record.pidStartTime).toMatch(/^\d+$/);
      expect(`127.0.0.1:${record.port}`).toBe(instance?.address);
    }

    await fleet.stop('v1');
    expect(await records.listInstances('web')).toEqual([]);
  });

  it('restarts a stable instance that crashes', async () => {
    const fleet = makeFleet({ env: faultsEnv({ v1: { crashAfterMs: 300 } }) });
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
    const fleet = makeFleet({ env: faultsEnv({ v2: { crashAfterMs: 200 } }) });
    await fleet.start();
    await fleet.ensure('v2', 1, CANARY);
    const instance = only(fleet, 'v2');

    await waitFor('the canary to exit', () => instance.state === 'exited', fleet);
    await sleep(QUIET_PERIOD_MS);

    expect(instance.state).toBe('exited');
    expect(instance.exitCode).toBe(1);
    expect(instance.restarts).toBe(0);
    expect(instance.lastError).toBe('exited with code 1: crashing after 200ms (crashAfterMs fault)');
    expect(fleet.instances('v2')).toEqual([instance]);
    expect(fleet.readyAddresses('v2')).toEqual([]);
  });

  it('starts an instance whose port was taken before it listened again on another port, and keeps it a canary that never exited', async () => {
    // Given an app whose first run finds its port in use (a real EADDRINUSE, as when another process
    // takes the port between the fleet's choice and the app's listen), and whose next run is the sample app
    const marker = path.join(tempDir(), 'first-run-done');
    const fleet = makeFleet({ command: portTakenOnce(marker) });
    await fleet.start();
    const states = new Set<string>();
    await fleet.ensure('v2', 1, CANARY);
    const instance = only(fleet, 'v2');
    await waitFor(
      'the canary to be ready',
      () => {
        states.add(instance.state);
        return instance.state === 'ready';
      },
      fleet,
    );
    // Then it was started again at once, on another port, and was never seen exited
    expect(fs.existsSync(marker)).toBe(true);
    expect(instance.restarts).toBe(1);
    expect(states.has('exited')).toBe(false);
    const log = fs.readFileSync(instance.logFile ?? '', 'utf8');
    const ports = [...log.matchAll(/on port (\d+)/g)].map((m) => m[1]);
    expect(ports).toHaveLength(2);
    expect(ports[0]).not.toBe(ports[1]);
  });

  it('leaves an instance exited once its port is taken run after run, saying why', async () => {
    const fleet = makeFleet({ command: portTakenOnce(undefined) });
    await fleet.start();
    await fleet.ensure('v2', 1, CANARY);
    const instance = only(fleet, 'v2');
    await waitFor('the canary to exit', () => instance.state === 'exited', fleet);
    // Three more tries, then the real reason, not the runtime's closing banner
    expect(instance.restarts).toBe(3);
    expect(instance.lastError).toMatch(
      /^exited with code 1: Error: listen EADDRINUSE: address already in use/,
    );
  });

  it('keeps a never-healthy instance starting, with the failure as lastError', async () => {
    const fleet = makeFleet({ env: faultsEnv({ v1: { neverHealthy: true } }) });
    await fleet.start();
    await fleet.ensure('v1', 1, CANARY);
    const instance = only(fleet, 'v1');

    await waitFor('a 503 health answer', () => instance.lastError === 'GET /healthz: 503', fleet);
    await waitFor(
      'several failed checks',
      () => instance.healthFailures > CONTRACT_HEALTH.unhealthyAfter,
      fleet,
    );

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

  it('keeps retrying a missing command of a stable version without failing', async () => {
    const fleet = makeFleet({ command: [MISSING_COMMAND] });
    await fleet.start();
    await fleet.ensure('v1', 1, STABLE);
    const instance = only(fleet, 'v1');

    await waitFor('two restarts', () => instance.restarts >= 2);

    expect(instance.lastError).toContain('ENOENT');
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

  it('notices an adopted instance that dies and restarts it', async () => {
    const records = new PidRecordingStore();
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
    const records = new PidRecordingStore();
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
});

describe('sample app', () => {
  it('fails exactly every 5th request at errorRate 0.2 and logs each failure', async () => {
    const fleet = makeFleet({ env: faultsEnv({ v3: { errorRate: 0.2, logErrors: true } }) });
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
