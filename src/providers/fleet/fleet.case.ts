/**
 * The contract every Fleet passes, run by each fleet's own test file against real app processes (the
 * sample app, examples/app/server.js): start and ready, scale down, drain, adoption by a new fleet
 * object, unhealthy and back, a dead process noticed, close. What only one fleet does (the local
 * fleet's restarts and records, the hooks' environment and failing hooks) stays in its own test file.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, ProviderError } from '../../errors.js';
import {
  allIn,
  CANARY,
  get,
  isAlive,
  killLeftovers,
  only,
  QUIET_PERIOD_MS,
  sleep,
  STABLE,
  WAIT_POLL_MS,
  waitFor,
} from '../../../test/support/fleet.js';
import type { HealthOptions } from './health-checker.js';
import type { Drainer, Fleet, Instance } from './types.js';

/** The health check of every fleet under contract: quick ticks, and a timeout a stopped process runs into. */
export const CONTRACT_HEALTH: HealthOptions = {
  path: '/healthz',
  intervalMs: 100,
  timeoutMs: 500,
  unhealthyAfter: 2,
};
/** The stop timeout of every fleet under contract; the drainer is given it as its limit. */
export const CONTRACT_STOP_TIMEOUT_MS = 2_000;
/** The service every fleet under contract runs; instance ids start with it. */
export const CONTRACT_SERVICE = 'web';

/**
 * One place where a fleet's instances live: the local fleet's instance records, or the hooks' state on
 * their "hosts". Every fleet made from a world sees the same instances, so a second one can adopt what
 * the first started.
 */
export interface FleetWorld {
  /**
   * A new fleet object of service CONTRACT_SERVICE over this world, running the sample app with
   * CONTRACT_HEALTH and CONTRACT_STOP_TIMEOUT_MS; `env` reaches the app (SAMPLE_FAULTS).
   */
  fleet(options?: { drainer?: Drainer; env?: Record<string, string> }): Fleet;
  /** The pid of the app process serving `instance`, found the way this fleet's world records it. */
  pidOf(instance: Instance): number;
  /** Every app process started in this world so far, in the order they started. */
  startedPids(): number[];
  /** Removes what the world keeps on disk; called once its fleets are closed. */
  dispose(): void;
}

/** The contract every Fleet implementation passes; `newWorld` returns a fresh, empty world per test. */
export function runFleetContract(name: string, newWorld: () => FleetWorld): void {
  describe(`Fleet contract: ${name}`, () => {
    let world: FleetWorld;
    let fleets: Fleet[];
    /** A fleet of the current world, closed (its instances stopped) after the test. */
    const newFleet = (options?: Parameters<FleetWorld['fleet']>[0]): Fleet => {
      const fleet = world.fleet(options);
      fleets.push(fleet);
      return fleet;
    };
    const pidOf = (instance: Instance): number => world.pidOf(instance);

    beforeEach(() => {
      world = newWorld();
      fleets = [];
    });

    afterEach(async () => {
      for (const fleet of fleets) await fleet.close({ stopInstances: true });
      killLeftovers(world.startedPids());
      world.dispose();
    });

    it('starts each missing index once, however often ensure is called, and its instances become ready', async () => {
      const fleet = newFleet();
      await fleet.start();
      // Called the way the engine does: concurrently, and on every reconcile while instances start.
      await Promise.all([1, 2, 3].map(() => fleet.ensure('v1', 2, STABLE)));
      for (let i = 0; i < 3; i++) {
        await fleet.ensure('v1', 2, STABLE);
        await sleep(WAIT_POLL_MS);
      }
      await waitFor('2 ready instances', allIn(fleet, 'v1', 'ready', 2), fleet);

      const instances = fleet.instances('v1');
      expect(instances.map((i) => i.id)).toEqual([`${CONTRACT_SERVICE}-v1-0`, `${CONTRACT_SERVICE}-v1-1`]);
      expect(instances.map((i) => i.index)).toEqual([0, 1]);
      expect(new Set(instances.map((i) => i.address)).size).toBe(2);
      expect(fleet.readyAddresses('v1')).toEqual(instances.map((i) => i.address));
      expect(fleet.versions()).toEqual(['v1']);
      expect(world.startedPids()).toHaveLength(2);
      for (const instance of instances) {
        expect(await get(instance.address)).toEqual({
          status: 200,
          body: JSON.stringify({ version: 'v1', instance: String(instance.index) }),
        });
      }
    });

    it('scales down by draining and stopping the highest indexes, and keeps the rest running', async () => {
      const drained: string[] = [];
      const fleet = newFleet({ drainer: { drain: async (address) => void drained.push(address) } });
      await fleet.start();
      await fleet.ensure('v1', 3, STABLE);
      await waitFor('3 ready instances', allIn(fleet, 'v1', 'ready', 3), fleet);
      const [kept, ...extra] = fleet.instances('v1');
      const keptPid = pidOf(kept!);
      const extraPids = extra.map(pidOf);

      await fleet.ensure('v1', 1, STABLE);
      // No new request may go to an instance on its way out.
      expect(fleet.readyAddresses('v1')).toEqual([kept!.address]);
      await waitFor('one instance left', () => fleet.instances('v1').length === 1, fleet);
      await waitFor('the stopped processes to exit', () => !extraPids.some(isAlive));

      expect(only(fleet, 'v1')).toMatchObject({ index: 0, address: kept!.address, state: 'ready' });
      expect(pidOf(only(fleet, 'v1'))).toBe(keptPid);
      expect(isAlive(keptPid)).toBe(true);
      expect(drained.sort()).toEqual(extra.map((i) => i.address).sort());
      expect(world.startedPids()).toHaveLength(3);
    });

    it('stops a version: marks it stopping, drains it, then stops its processes and forgets it', async () => {
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      const drains: { address: string; timeoutMs: number }[] = [];
      const fleet = newFleet({
        drainer: {
          drain: (address, timeoutMs) => {
            drains.push({ address, timeoutMs });
            return held;
          },
        },
      });
      await fleet.start();
      await fleet.ensure('v1', 1, STABLE);
      await waitFor('ready', allIn(fleet, 'v1', 'ready', 1), fleet);
      const instance = only(fleet, 'v1');
      const pid = pidOf(instance);

      const stopping = fleet.stop('v1');
      await waitFor('the drain', () => drains.length === 1);

      expect(drains).toEqual([{ address: instance.address, timeoutMs: CONTRACT_STOP_TIMEOUT_MS }]);
      expect(instance.state).toBe('stopping');
      expect(fleet.readyAddresses('v1')).toEqual([]);
      expect(isAlive(pid)).toBe(true);

      release();
      await stopping;

      expect(isAlive(pid)).toBe(false);
      expect(fleet.instances()).toEqual([]);
      expect(fleet.versions()).toEqual([]);
      // Idempotent: nothing is left to drain or stop.
      await fleet.stop('v1');
      expect(drains).toHaveLength(1);
    });

    it('adopts after a restart: a new fleet finds the running instances, checks them and starts nothing', async () => {
      const first = newFleet();
      await first.start();
      await first.ensure('v1', 2, STABLE);
      await waitFor('2 ready instances', allIn(first, 'v1', 'ready', 2), first);
      const before = first.instances('v1').map((i) => ({ id: i.id, address: i.address }));
      const pids = first.instances('v1').map(pidOf);
      // The controller goes away; its instances keep running.
      await first.close({ stopInstances: false });
      expect(pids.every(isAlive)).toBe(true);

      const second = newFleet();
      await second.start();
      expect(second.instances('v1').map((i) => ({ id: i.id, address: i.address }))).toEqual(before);
      await waitFor('the adopted instances ready', allIn(second, 'v1', 'ready', 2), second);
      await second.ensure('v1', 2, STABLE);
      await sleep(QUIET_PERIOD_MS);

      expect(world.startedPids()).toHaveLength(2);
      expect(second.instances('v1').map(pidOf)).toEqual(pids);
      expect(second.readyAddresses('v1')).toEqual(before.map((i) => i.address));

      await second.stop('v1');
      await waitFor('the adopted processes to exit', () => !pids.some(isAlive));
      expect(second.instances()).toEqual([]);
    });

    it('marks an instance whose health check fails unhealthy, and ready again once it answers', async () => {
      const fleet = newFleet();
      await fleet.start();
      await fleet.ensure('v1', 1, STABLE);
      await waitFor('ready', allIn(fleet, 'v1', 'ready', 1), fleet);
      const instance = only(fleet, 'v1');
      const pid = pidOf(instance);

      // A hung app: the process is there, its health checks time out.
      process.kill(pid, 'SIGSTOP');
      try {
        await waitFor('unhealthy', () => instance.state === 'unhealthy', fleet);
        expect(instance.healthFailures).toBeGreaterThanOrEqual(CONTRACT_HEALTH.unhealthyAfter);
        expect(instance.failedChecks).toBeGreaterThanOrEqual(CONTRACT_HEALTH.unhealthyAfter);
        expect(instance.lastError).toMatch(/^GET \/healthz: /);
        expect(fleet.readyAddresses('v1')).toEqual([]);
      } finally {
        process.kill(pid, 'SIGCONT');
      }

      await waitFor('ready again', () => instance.state === 'ready', fleet);
      expect(instance.healthFailures).toBe(0);
      expect(fleet.readyAddresses('v1')).toEqual([instance.address]);
      expect(pidOf(instance)).toBe(pid);
    });

    it('notices a canary process that dies: out of the ready set, exited or unhealthy, not restarted', async () => {
      const fleet = newFleet();
      await fleet.start();
      await fleet.ensure('v2', 1, CANARY);
      await waitFor('ready', allIn(fleet, 'v2', 'ready', 1), fleet);
      const instance = only(fleet, 'v2');

      process.kill(pidOf(instance), 'SIGKILL');
      // A fleet that watches the process sees it exit; one that cannot sees it stop answering.
      await waitFor('the death noticed', () => ['exited', 'unhealthy'].includes(instance.state), fleet);
      expect(fleet.readyAddresses('v2')).toEqual([]);

      await fleet.ensure('v2', 1, CANARY);
      await sleep(QUIET_PERIOD_MS);
      expect(['exited', 'unhealthy']).toContain(instance.state);
      expect(fleet.instances('v2')).toEqual([instance]);
      expect(world.startedPids()).toHaveLength(1);
    });

    it('stops every instance on close({stopInstances: true}) and refuses ensure once closed', async () => {
      const fleet = newFleet();
      await fleet.start();
      await fleet.ensure('v1', 2, STABLE);
      await fleet.ensure('v2', 1, CANARY);
      await waitFor('3 ready instances', () => fleet.instances().every((i) => i.state === 'ready'), fleet);
      const pids = fleet.instances().map(pidOf);
      expect(pids).toHaveLength(3);

      await fleet.close({ stopInstances: true });

      expect(pids.filter(isAlive)).toEqual([]);
      expect(fleet.instances()).toEqual([]);
      await expect(fleet.ensure('v1', 1, STABLE)).rejects.toBeInstanceOf(ProviderError);
      await expect(fleet.ensure('v1', 1, STABLE)).rejects.toThrow(/closed/);
    });

    it('rejects an instance count that is not a whole number >= 0', async () => {
      const fleet = newFleet();
      await expect(fleet.ensure('v1', -1, STABLE)).rejects.toBeInstanceOf(InputError);
      await expect(fleet.ensure('v1', 1.5, STABLE)).rejects.toBeInstanceOf(InputError);
    });
  });
}
