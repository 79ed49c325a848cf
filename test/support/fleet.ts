import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Faults } from '../e2e/harness.js';
import type { Fleet, Instance } from '../../src/providers/fleet/types.js';

/** The sample app every fleet test runs as its instances. */
export const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));
/** How a stable version is ensured: an instance that exits is restarted. */
export const STABLE = { restartOnExit: true };
/** How a canary is ensured: an instance that exits stays exited, for the engine to roll back. */
export const CANARY = { restartOnExit: false };
/** Generous bound on anything a fleet test waits for; tests poll, they never assert durations. */
export const WAIT_TIMEOUT_MS = 15_000;
export const WAIT_POLL_MS = 20;
/** Only used to show that something does not happen: several reconciles, health ticks and backoffs. */
export const QUIET_PERIOD_MS = 500;

/** Faults of the sample app per version, as in test/e2e, plus logging each injected failure. */
export type SampleFaults = Record<string, Faults[string] & { logErrors?: boolean }>;

/** The environment that makes the sample app misbehave per version (see examples/app/README.md). */
export function faultsEnv(faults: SampleFaults): Record<string, string> {
  return { SAMPLE_FAULTS: JSON.stringify(faults) };
}

/** Polls `condition` until it holds, failing with `what` (and the fleet's instances) after a generous bound. */
export async function waitFor(what: string, condition: () => boolean, fleet?: Fleet): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    if (condition()) return;
    if (Date.now() > deadline) {
      const state = fleet?.instances().map((i) => `${i.id}=${i.state} (${i.lastError ?? ''})`);
      throw new Error(`timed out waiting for ${what}; instances: ${state?.join(', ') ?? 'n/a'}`);
    }
    await sleep(WAIT_POLL_MS);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A condition: `version` has exactly `count` instances, all in `state`. */
export function allIn(fleet: Fleet, version: string, state: Instance['state'], count: number): () => boolean {
  return () => {
    const instances = fleet.instances(version);
    return instances.length === count && instances.every((i) => i.state === state);
  };
}

/** The one instance of `version`; throws when there are none or several. */
export function only(fleet: Fleet, version: string): Instance {
  const [instance, ...rest] = fleet.instances(version);
  if (!instance || rest.length > 0) throw new Error(`expected one instance of ${version}`);
  return instance;
}

/** One GET on a fresh connection. */
export function get(address: string, urlPath = '/'): Promise<{ status: number; body: string }> {
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

/**
 * Running and not a zombie: an exited process nobody has reaped yet (an orphan in a container without
 * an init that reaps) stays in the process table without serving anything.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Alive and still the sample app, so a pid the kernel has handed to something else is never signalled. */
export function isSampleApp(pid: number): boolean {
  try {
    return isAlive(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(SAMPLE_APP);
  } catch {
    return false;
  }
}

/** Safety net for a test that failed half-way: SIGKILLs, by pid, every sample app in `pids` still running. */
export function killLeftovers(pids: Iterable<number>): void {
  for (const pid of pids) {
    if (!isSampleApp(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited between the check and the signal.
    }
  }
}
