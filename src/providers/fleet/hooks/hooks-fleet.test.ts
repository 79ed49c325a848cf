import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../errors.js';
import { ManualClock } from '../../../util/clock.js';
import {
  allIn,
  CANARY,
  get,
  isAlive,
  killLeftovers,
  only,
  QUIET_PERIOD_MS,
  SAMPLE_APP,
  sleep,
  STABLE,
  WAIT_POLL_MS,
  waitFor,
} from '../../../../test/support/fleet.js';
import {
  CONTRACT_HEALTH,
  CONTRACT_SERVICE,
  CONTRACT_STOP_TIMEOUT_MS,
  runFleetContract,
} from '../fleet.case.js';
import { HooksFleet, type HooksFleetOptions } from './hooks-fleet.js';

const HOOK_TIMEOUT_MS = 10_000;

/**
 * The hooks under test, as a user would write them for one host: start launches the sample app in the
 * background on a free port, and every instance is a file `instances/<port>` holding
 * `pid service version address instance environment`. Every pid ever started also goes to `pids.log`,
 * so the tests can clean up whatever a failed test left behind.
 */
const SCRIPTS: Record<string, string> = {
  'start.sh': `#!/bin/sh
set -eu
echo "starting $SHIPCHECK_SERVICE $SHIPCHECK_VERSION #$SHIPCHECK_INSTANCE"
port=$("$NODE_BIN" -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
if [ "\${KEEP_STDERR:-}" = 1 ]; then
  # Careless but common: the app inherits the hook's stderr and holds it open after the hook exits.
  PORT=$port APP_VERSION=$SHIPCHECK_VERSION "$NODE_BIN" "$APP" >"$HOOK_STATE/app-$port.log" &
else
  PORT=$port APP_VERSION=$SHIPCHECK_VERSION "$NODE_BIN" "$APP" >"$HOOK_STATE/app-$port.log" 2>&1 &
fi
echo "$!" >>"$HOOK_STATE/pids.log"
echo "$! $SHIPCHECK_SERVICE $SHIPCHECK_VERSION 127.0.0.1:$port $SHIPCHECK_INSTANCE \${SHIPCHECK_ENVIRONMENT:--}" >"$HOOK_STATE/instances/$port"
printf '{"address": "127.0.0.1:%s"}\\n' "$port"
`,
  'stop.sh': `#!/bin/sh
set -eu
echo "$SHIPCHECK_SERVICE $SHIPCHECK_VERSION $SHIPCHECK_ADDRESS \${SHIPCHECK_INSTANCE:--}" >>"$HOOK_STATE/stops.log"
if [ -f "$HOOK_STATE/fail-stop" ]; then echo "ssh: connect to host app-3: Connection refused" >&2; exit 255; fi
file="$HOOK_STATE/instances/\${SHIPCHECK_ADDRESS##*:}"
[ -f "$file" ] || exit 0
read -r pid _rest <"$file"
# Gone, or a zombie nobody reaps in this container: either way it no longer serves.
alive() {
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
kill "$pid" 2>/dev/null || true
tries=0
while alive "$pid"; do
  tries=$((tries + 1))
  if [ "$tries" -eq 100 ]; then kill -9 "$pid" 2>/dev/null || true; fi
  sleep 0.05
done
rm -f "$file"
`,
  'list.sh': `#!/bin/sh
set -eu
printf '['
sep=''
for file in "$HOOK_STATE"/instances/*; do
  [ -f "$file" ] || continue
  read -r pid service version address instance _env <"$file"
  [ "$service" = "$SHIPCHECK_SERVICE" ] || continue
  printf '%s{"address": "%s", "version": "%s", "instance": %s, "pid": %s}' "$sep" "$address" "$version" "$instance" "$pid"
  sep=','
done
printf ']\\n'
`,
};

let scriptsDir: string;
const fleets: HooksFleet[] = [];
const stateDirs: string[] = [];

beforeAll(() => {
  scriptsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-hooks-'));
  for (const [name, text] of Object.entries(SCRIPTS)) {
    fs.writeFileSync(path.join(scriptsDir, name), text, { mode: 0o755 });
  }
});

afterEach(async () => {
  for (const fleet of fleets.splice(0)) await fleet.close({ stopInstances: true });
  // Safety net for a test that failed half-way: nothing it started may outlive it.
  for (const dir of stateDirs) killLeftovers(startedPids(dir));
});

afterAll(() => {
  for (const dir of [...stateDirs.splice(0), scriptsDir]) fs.rmSync(dir, { recursive: true, force: true });
});

runFleetContract('hooks', () => {
  const state = stateDir();
  return {
    fleet: (options = {}) =>
      hooksFleet(state, { drainer: options.drainer, env: { ...hookEnv(state), ...options.env } }),
    pidOf: (instance) => pidAt(state, instance.address),
    startedPids: () => startedPids(state),
    dispose: () => fs.rmSync(state, { recursive: true, force: true }),
  };
});

/** A fresh folder for the hooks' state: the "hosts" of one test. */
function stateDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-hooks-state-'));
  fs.mkdirSync(path.join(dir, 'instances'));
  return dir;
}

/** A state folder removed after the file's tests. */
function newState(): string {
  const dir = stateDir();
  stateDirs.push(dir);
  return dir;
}

/** A hooks fleet over `state` with the contract's health and stop timeout, retrying failed hooks at once. */
function hooksFleet(state: string, overrides: Partial<HooksFleetOptions> = {}): HooksFleet {
  return new HooksFleet({
    service: CONTRACT_SERVICE,
    hooks: defaultHooks(),
    cwd: scriptsDir,
    env: hookEnv(state),
    stopTimeoutMs: CONTRACT_STOP_TIMEOUT_MS,
    health: CONTRACT_HEALTH,
    retryBackoff: { initialMs: 0, maxMs: 0 },
    ...overrides,
  });
}

/** A hooks fleet closed (its instances stopped) after the test. */
function makeFleet(state: string, overrides: Partial<HooksFleetOptions> = {}): HooksFleet {
  const fleet = hooksFleet(state, overrides);
  fleets.push(fleet);
  return fleet;
}

/** What the scripts need to know: where their state is, and how to run the sample app. */
function hookEnv(state: string): Record<string, string> {
  return { HOOK_STATE: state, NODE_BIN: process.execPath, APP: SAMPLE_APP };
}

function withStart(hooks: HooksFleetOptions['hooks'], start: string): HooksFleetOptions['hooks'] {
  return { ...hooks, start };
}

function defaultHooks(): HooksFleetOptions['hooks'] {
  return {
    start: [path.join(scriptsDir, 'start.sh')],
    stop: [path.join(scriptsDir, 'stop.sh')],
    list: [path.join(scriptsDir, 'list.sh')],
    timeoutMs: HOOK_TIMEOUT_MS,
  };
}

function lines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function startedPids(state: string): number[] {
  return lines(path.join(state, 'pids.log')).map(Number);
}

/** `pid service version address instance environment` of every instance the hooks know. */
function stateLines(state: string): string[][] {
  const dir = path.join(state, 'instances');
  return fs.readdirSync(dir).map((name) => fs.readFileSync(path.join(dir, name), 'utf8').trim().split(' '));
}

function pidAt(state: string, address: string): number {
  const line = stateLines(state).find((fields) => fields[3] === address);
  if (!line) throw new Error(`no instance at ${address} in the hooks' state`);
  return Number(line[0]);
}

describe('HooksFleet', () => {
  it('runs nothing when constructed, and refuses an empty hook', () => {
    const state = newState();
    makeFleet(state, { hooks: withStart(defaultHooks(), `touch ${path.join(state, 'ran')}`) });
    expect(fs.existsSync(path.join(state, 'ran'))).toBe(false);
    expect(() => makeFleet(state, { hooks: withStart(defaultHooks(), '  ') })).toThrow(InputError);
  });

  it('starts each index once, with the service, version, instance and environment in its env', async () => {
    const state = newState();
    const fleet = makeFleet(state, { environment: 'staging' });
    await fleet.start();
    // Called like the engine does, on every reconcile, while the start hooks are still running.
    for (let i = 0; i < 5; i++) {
      await fleet.ensure('2.0.0', 2, STABLE);
      await sleep(WAIT_POLL_MS);
    }
    await waitFor('2 ready instances', allIn(fleet, '2.0.0', 'ready', 2), fleet);

    expect(startedPids(state)).toHaveLength(2);
    const instances = fleet.instances('2.0.0');
    expect(instances.map((i) => i.id)).toEqual(['web@staging-2.0.0-0', 'web@staging-2.0.0-1']);
    for (const instance of instances) {
      expect(await get(instance.address)).toEqual({
        status: 200,
        body: JSON.stringify({ version: '2.0.0', instance: String(instance.index) }),
      });
      expect(instance.pid).toBeUndefined();
      expect(instance.exitCode).toBeUndefined();
    }
    expect(
      stateLines(state)
        .map((fields) => fields.slice(1, 3).concat(fields.slice(4)))
        .sort(),
    ).toEqual([
      ['web', '2.0.0', '0', 'staging'],
      ['web', '2.0.0', '1', 'staging'],
    ]);
    expect([...fleet.readyAddresses('2.0.0')].sort()).toEqual(instances.map((i) => i.address).sort());
    expect(fleet.versions()).toEqual(['2.0.0']);
  });

  it('tells the stop hook of an adopted instance the index that list reported', async () => {
    const state = newState();
    const first = makeFleet(state);
    await first.start();
    await first.ensure('1.0.0', 1, STABLE);
    await waitFor('ready', allIn(first, '1.0.0', 'ready', 1), first);
    const address = only(first, '1.0.0').address;
    // The controller goes away; its instance keeps running.
    await first.close({ stopInstances: false });

    const second = makeFleet(state);
    await second.start();
    // The version nobody wants any more is the engine's to stop.
    await second.stop('1.0.0');

    expect(second.versions()).toEqual([]);
    expect(lines(path.join(state, 'stops.log'))).toEqual([`web 1.0.0 ${address} 0`]);
    expect(startedPids(state).filter(isAlive)).toEqual([]);
  });

  it('adopts afresh when started again after close, like a replica that won its lease back', async () => {
    const state = newState();
    const replicaA = makeFleet(state);
    await replicaA.start();
    await replicaA.ensure('2.0.0', 1, STABLE);
    await waitFor('ready on A', allIn(replicaA, '2.0.0', 'ready', 1), replicaA);
    await replicaA.close({ stopInstances: false });
    await expect(replicaA.ensure('2.0.0', 1, STABLE)).rejects.toThrow('the hooks fleet of web is closed');

    // B holds the lease for a while and scales the version up.
    const replicaB = makeFleet(state);
    await replicaB.start();
    await replicaB.ensure('2.0.0', 2, STABLE);
    await waitFor('2 ready on B', allIn(replicaB, '2.0.0', 'ready', 2), replicaB);
    await replicaB.close({ stopInstances: false });

    await replicaA.start();
    expect(replicaA.instances('2.0.0').map((i) => i.address)).toEqual(
      replicaB.instances('2.0.0').map((i) => i.address),
    );
    await waitFor('2 ready on A again', allIn(replicaA, '2.0.0', 'ready', 2), replicaA);
    await replicaA.ensure('2.0.0', 2, STABLE);
    await sleep(QUIET_PERIOD_MS);
    expect(startedPids(state)).toHaveLength(2);
  });

  it('finishes a start hook whose app keeps the stderr pipe open, and leaves the app running', async () => {
    const state = newState();
    const fleet = makeFleet(state, { env: { ...hookEnv(state), KEEP_STDERR: '1' } });
    await fleet.start();
    await fleet.ensure('2.0.0', 1, STABLE);
    await waitFor('ready', allIn(fleet, '2.0.0', 'ready', 1), fleet);
    await sleep(QUIET_PERIOD_MS);

    expect(only(fleet, '2.0.0').state).toBe('ready');
    expect(startedPids(state).filter(isAlive)).toHaveLength(1);
  });

  it('shows a canary whose start hook fails as exited, with the exit code and stderr', async () => {
    const state = newState();
    const start =
      'echo "provisioning web $SHIPCHECK_VERSION"; echo "no capacity left in pool eu-1" >&2; exit 3';
    const fleet = makeFleet(state, { hooks: withStart(defaultHooks(), start) });
    await fleet.start();
    await fleet.ensure('2.0.0', 1, CANARY);
    await waitFor('exited', () => fleet.instances('2.0.0')[0]?.state === 'exited', fleet);

    const instance = only(fleet, '2.0.0');
    expect(instance.lastError).toBe(
      'fleet.hooks.start (web 2.0.0 #0) exited 3: no capacity left in pool eu-1',
    );
    expect(instance.address).toBe('');
    // A canary is not retried: the engine rolls it back and stops the version.
    await fleet.ensure('2.0.0', 1, CANARY);
    expect(instance.state).toBe('exited');
    await fleet.stop('2.0.0');
    expect(fleet.versions()).toEqual([]);
  });

  it('retries the failed start of a stable version after a backoff, not on every ensure', async () => {
    const state = newState();
    const clock = new ManualClock();
    const attempts = path.join(state, 'attempts');
    const start = `echo try >>"${attempts}"; echo "no capacity left in pool eu-1" >&2; exit 3`;
    const fleet = makeFleet(state, {
      hooks: withStart(defaultHooks(), start),
      retryBackoff: { initialMs: 1_000, maxMs: 30_000 },
      clock,
    });
    await fleet.start();
    await fleet.ensure('2.0.0', 1, STABLE);
    await waitFor('the start to fail', () => fleet.instances('2.0.0')[0]?.lastError !== undefined, fleet);

    const instance = only(fleet, '2.0.0');
    expect(instance.state).toBe('starting');
    expect(instance.lastError).toContain('exited 3: no capacity left in pool eu-1');
    for (let i = 0; i < 3; i++) await fleet.ensure('2.0.0', 1, STABLE);
    await sleep(QUIET_PERIOD_MS);
    expect(lines(attempts)).toHaveLength(1);

    clock.advance(1_000);
    await fleet.ensure('2.0.0', 1, STABLE);
    await waitFor('a second attempt', () => lines(attempts).length === 2, fleet);
  });

  it('rejects start output that is not JSON, naming the hook and what it printed', async () => {
    const state = newState();
    const fleet = makeFleet(state, { hooks: withStart(defaultHooks(), 'echo "listening on 8080"') });
    await fleet.start();
    await fleet.ensure('2.0.0', 1, CANARY);
    await waitFor('exited', () => fleet.instances('2.0.0')[0]?.state === 'exited', fleet);

    expect(only(fleet, '2.0.0').lastError).toBe(
      'fleet.hooks.start (web 2.0.0 #0) printed a last line that is not JSON: listening on 8080; expected {"address": "host:port"} as the last line of stdout',
    );
  });

  it('stops a start hook that runs past hooks.timeout and reports the timeout', async () => {
    const state = newState();
    const hooks = { ...withStart(defaultHooks(), 'echo "waiting for a host" >&2; sleep 30'), timeoutMs: 200 };
    const fleet = makeFleet(state, { hooks });
    await fleet.start();
    await fleet.ensure('2.0.0', 1, CANARY);
    await waitFor('exited', () => fleet.instances('2.0.0')[0]?.state === 'exited', fleet);

    expect(only(fleet, '2.0.0').lastError).toBe(
      'fleet.hooks.start (web 2.0.0 #0) timed out after 200ms: waiting for a host',
    );
  });

  it('keeps an instance whose stop hook fails as stopping, and retries on the next stop', async () => {
    const state = newState();
    const fleet = makeFleet(state);
    await fleet.start();
    await fleet.ensure('2.0.0', 1, STABLE);
    await waitFor('ready', allIn(fleet, '2.0.0', 'ready', 1), fleet);
    const instance = only(fleet, '2.0.0');
    fs.writeFileSync(path.join(state, 'fail-stop'), '');

    await fleet.stop('2.0.0');
    expect(instance.state).toBe('stopping');
    expect(instance.lastError).toBe(
      `fleet.hooks.stop (web 2.0.0 #0 ${instance.address}) exited 255: ssh: connect to host app-3: Connection refused`,
    );
    expect(fleet.readyAddresses('2.0.0')).toEqual([]);
    expect(isAlive(pidAt(state, instance.address))).toBe(true);

    fs.rmSync(path.join(state, 'fail-stop'));
    await fleet.stop('2.0.0');
    expect(fleet.instances()).toEqual([]);
    expect(startedPids(state).filter(isAlive)).toEqual([]);
  });

  it('fails start() with the list hook error, and runs list again only after a backoff', async () => {
    const state = newState();
    const clock = new ManualClock();
    const calls = path.join(state, 'list-calls');
    const fleet = makeFleet(state, {
      hooks: { ...defaultHooks(), list: `echo call >>"${calls}"; echo "[{"; echo "jq: error" >&2` },
      retryBackoff: { initialMs: 1_000, maxMs: 30_000 },
      clock,
    });
    const error =
      'fleet.hooks.list (web) printed a last line that is not JSON: [{; expected a JSON array of {"address": "host:port", "version": "..."}: jq: error';
    await expect(fleet.start()).rejects.toThrow(error);
    // The engine asks again on every pass until it works; the hook is not run that often.
    await expect(fleet.start()).rejects.toThrow(error);
    expect(lines(calls)).toHaveLength(1);
    clock.advance(1_000);
    await expect(fleet.start()).rejects.toThrow(error);
    expect(lines(calls)).toHaveLength(2);
  });
});
