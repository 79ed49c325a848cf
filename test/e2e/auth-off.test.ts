/**
 * An open API (`server.auth.required: false`) is for a laptop: it runs on loopback only, with a
 * warning, and a config that opens it on another address is refused before anything starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';
import { killProxyProcesses } from '../support/proxy-process.js';
import { BIN, ROOT, runCli, startCommand, waitFor } from './harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-auth-off-'));
const SAMPLE_APP = path.join(ROOT, 'examples', 'app', 'server.js');
let stop: (() => void) | undefined;

afterAll(() => {
  stop?.();
  killProxyProcesses(dir);
  fs.rmSync(dir, { recursive: true, force: true });
});

function config(listen: string, proxyPort: number): string {
  return `service: web
server:
  listen: ${listen}
  auth: { required: false }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
traffic: { kind: proxy, listen: 127.0.0.1:${proxyPort} }
`;
}

describe('server.auth.required: false', () => {
  it('is refused on an address other than loopback, at the key', async () => {
    const file = path.join(dir, 'open.yaml');
    fs.writeFileSync(file, config('0.0.0.0:7999', await freePort()));
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /open\.yaml:4:\d+: .*cannot run without authentication on 0\.0\.0\.0:7999: only on a loopback address/,
    );
  });

  it('opens the API on loopback, with a warning in the log', async () => {
    const file = path.join(dir, 'shipcheck.yaml');
    const port = await freePort();
    fs.writeFileSync(file, config(`127.0.0.1:${port}`, await freePort()));
    const up = startCommand(process.execPath, [BIN, 'up', '-c', file], { cwd: dir });
    stop = () => {
      try {
        process.kill(up.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    await waitFor('the open API', async () =>
      fetch(`http://127.0.0.1:${port}/api/v1/services`).then(
        (r) => r.ok,
        () => false,
      ),
    );
    expect(up.stdout() + up.stderr()).toMatch(/authentication is OFF \(server\.auth\.required: false\)/);
    expect(up.stdout()).not.toMatch(/create the first admin/);
    stop();
    await up.result;
    stop = undefined;
  });
});
