/**
 * `shipcheck incident ...` against a running `shipcheck up` (authentication off, on loopback): open,
 * list, acknowledge, note, resolve, postmortem and show, and an unknown id as one line with status 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';
import { killProxyProcesses } from '../support/proxy-process.js';
import { BIN, ROOT, runCli, startCommand, waitFor } from './harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-incidents-'));
const SAMPLE_APP = path.join(ROOT, 'examples', 'app', 'server.js');
let stop: (() => Promise<void>) | undefined;
let url = '';

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(
    file,
    `service: web
server:
  listen: 127.0.0.1:${port}
  auth: { required: false }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
traffic: { kind: proxy, listen: 127.0.0.1:${await freePort()} }
`,
  );
  const up = startCommand(process.execPath, [BIN, 'up', '-c', file], { cwd: dir });
  stop = async () => {
    try {
      process.kill(up.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await up.result;
  };
  await waitFor('shipcheck up', async () =>
    fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    ),
  );
});

afterAll(async () => {
  await stop?.();
  killProxyProcesses(dir);
  fs.rmSync(dir, { recursive: true, force: true });
});

const shipcheck = (...args: string[]) => runCli([...args, '--url', url], { cwd: dir });

describe('shipcheck incident', () => {
  it('opens, lists, acknowledges, notes, resolves and shows an incident', async () => {
    const opened = await shipcheck(
      'incident',
      'open',
      'Checkout fails',
      '--severity',
      'critical',
      '-s',
      'web',
    );
    expect(opened.stderr).toBe('');
    expect(opened.code).toBe(0);
    expect(opened.stdout.trim()).toBe('incident #1 triggered: Checkout fails');

    const listed = await shipcheck('incident', 'list', '--state', 'triggered');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /^ID\s+STATE\s+SEVERITY\s+SERVICE\s+AGE\s+TITLE\n1\s+triggered\s+critical\s+web\s+0m\s+Checkout fails/,
    );

    expect((await shipcheck('incident', 'ack', '1')).stdout.trim()).toBe(
      'incident #1 acknowledged: Checkout fails',
    );
    expect((await shipcheck('incident', 'update', '1', 'rolled back', '--severity', 'error')).code).toBe(0);
    expect((await shipcheck('incident', 'resolve', '1', '--message', 'fixed')).stdout.trim()).toBe(
      'incident #1 resolved: Checkout fails',
    );
    expect((await shipcheck('incident', 'postmortem', '1', 'A bad deploy.')).code).toBe(0);

    const shown = await shipcheck('incident', 'show', '1', '--json');
    const detail = JSON.parse(shown.stdout) as {
      incident: { state: string; severity: string; postmortem: string };
      timeline: { kind: string; actor: string; message: string }[];
    };
    expect(detail.incident).toMatchObject({
      state: 'resolved',
      severity: 'error',
      postmortem: 'A bad deploy.',
    });
    expect(detail.timeline.map((e) => e.kind)).toEqual([
      'triggered',
      'acknowledged',
      'note',
      'resolved',
      'postmortem',
    ]);
    expect(detail.timeline[1]!.actor).toBe('anonymous');
  });

  it('says so in one line, with status 1, for an unknown id; a resolved incident cannot be acked', async () => {
    const unknown = await shipcheck('incident', 'ack', '42');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('error: incident #42 not found');
    const opened = await shipcheck('incident', 'open', 'Short one');
    const id = /#(\d+)/.exec(opened.stdout)![1]!;
    await shipcheck('incident', 'resolve', id);
    const again = await shipcheck('incident', 'ack', id);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`error: incident #${id} is resolved; it cannot be acknowledged`);
    const bad = await shipcheck('incident', 'open', 'X', '--severity', 'sev1');
    expect(bad.code).toBe(2);
  });
});
