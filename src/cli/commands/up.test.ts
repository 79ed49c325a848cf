/**
 * `shipcheck up`'s shutdown has a deadline: an instance that ignores SIGTERM (with a long
 * fleet.stopTimeout) holds `close()` past `server.shutdownTimeout`, and the process then says what it
 * was waiting on and exits 1. A second SIGTERM during the shutdown exits 1 at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, runCli, startCommand, waitFor, type RunningCommand } from '../../../test/e2e/harness.js';
import { isAlive } from '../../../test/support/fleet.js';
import { killProxyProcesses } from '../../../test/support/proxy-process.js';
import { freePort } from '../../util/net.js';

/** An app that answers its health check and ignores SIGTERM, as a stuck worker would. */
const STUBBORN_APP = `
const http = require('node:http');
process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Running {
  dir: string;
  up: RunningCommand;
}

const started: Running[] = [];

afterEach(() => {
  for (const { dir, up } of started.splice(0)) {
    for (const pid of [up.pid, ...appPids(dir)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    // A shutdown that gave up leaves the built-in proxy's process serving, as it leaves the instance.
    killProxyProcesses(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Pids of the stubborn app processes started for `dir` (the folder is in their argv). */
function appPids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(path.join(dir, 'stubborn.js')) && isAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Given `up` running one instance of v1 that ignores SIGTERM, with a 30 s grace before SIGKILL. */
async function upWithStubbornInstance(shutdownTimeout: string): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-up-'));
  const apiPort = await freePort();
  fs.writeFileSync(path.join(dir, 'stubborn.js'), STUBBORN_APP);
  fs.writeFileSync(
    path.join(dir, 'shipcheck.yaml'),
    `service: web
server:
  listen: 127.0.0.1:${apiPort}
  auth: { required: false }
  shutdownTimeout: ${shutdownTimeout}
fleet:
  kind: local
  command: ["${process.execPath}", "${path.join(dir, 'stubborn.js')}"]
  instances: 1
  stopTimeout: 30s
  health: { interval: 100ms }
traffic: { kind: proxy, listen: 127.0.0.1:${await freePort()} }
`,
  );
  const up = startCommand(process.execPath, [BIN, 'up', '-c', path.join(dir, 'shipcheck.yaml')], {
    cwd: dir,
  });
  const running = { dir, up };
  started.push(running);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await waitFor('shipcheck up', () =>
    fetch(`${apiUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    ),
  );
  const deploy = await runCli(['deploy', 'v1'], { cwd: dir, env: { SHIPCHECK_URL: apiUrl } });
  expect(deploy.code, deploy.stderr).toBe(0);
  await waitFor('the instance of v1', () => appPids(dir).length === 1);
  return running;
}

describe('shipcheck up', () => {
  it('exits 1 naming what it waited on when stopping outlasts server.shutdownTimeout', async () => {
    // Given an instance that will not stop within the 1 s deadline (it ignores SIGTERM for 30 s)
    const { dir, up } = await upWithStubbornInstance('1s');
    // When the control plane is asked to stop
    process.kill(up.pid, 'SIGTERM');
    // Then it gives up on the instance, says why, and exits 1
    const result = await up.result;
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(
      /shutdown did not finish within server\.shutdownTimeout \(1s\): still stopping the instances of web; exiting 1/,
    );
    // The instance is still there: a shutdown that gave up stops nothing more (the next up adopts it).
    expect(appPids(dir)).toHaveLength(1);
  });

  it('exits 1 at once on a second SIGTERM during the shutdown', async () => {
    // Given a shutdown that would wait up to the 30 s grace of an instance ignoring SIGTERM
    const { up } = await upWithStubbornInstance('10m');
    process.kill(up.pid, 'SIGTERM');
    await waitFor('the shutdown to begin', () => up.stdout().includes('shutting down'));
    // When a second SIGTERM comes
    process.kill(up.pid, 'SIGTERM');
    // Then it exits 1 without waiting for the deadline, saying what it left
    const result = await up.result;
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(
      /SIGTERM during shutdown: exiting 1 at once, while stopping the instances of web/,
    );
    expect(result.stdout).not.toMatch(/server\.shutdownTimeout/);
  });
});
