import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Scenario, runCli } from './harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('the CLI with bad input', () => {
  it('reports config problems as file:line:col with exit code 2 and no stack trace', async () => {
    const file = writeConfig(
      'bad.yaml',
      [
        'service: web',
        'fleet:',
        '  kind: local',
        '  command: ["node", "app.js"]',
        '  startTimeout: 5 mins',
        'bogus: 1',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(dir, 'app.js'), '');
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`${file}:5:17: fleet.startTimeout: .*5 mins`));
    expect(result.stderr).toMatch(new RegExp(`${file}:6:1: .*bogus`));
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects a weight outside 0-100', async () => {
    const file = writeConfig(
      'weight.yaml',
      'service: web\nfleet: { kind: local, command: ["node", "app.js"] }\nstrategy:\n  steps:\n    - setWeight: 150\n',
    );
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /weight.yaml:5:\d+: strategy.steps\[0\].setWeight: weight must be between 0 and 100/,
    );
  });

  it('names a command that does not exist', async () => {
    const file = writeConfig(
      'cmd.yaml',
      'service: web\nfleet: { kind: local, command: ["no-such-binary-xyz"] }\n',
    );
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no-such-binary-xyz/);
  });

  it('says when a config file is missing', async () => {
    const result = await runCli(['validate', '-c', path.join(dir, 'missing.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/missing.yaml: no such file; run "shipcheck init"/);
  });

  it('says a -c file is missing for every command, not only validate', async () => {
    const missing = path.join(dir, 'missing.yaml');
    for (const args of [['status'], ['deploy', 'v1'], ['checklist'], ['sign', '--gate'], ['up']]) {
      // A URL is given, so nothing but the missing file can stop the command.
      const result = await runCli([...args, '-c', missing, '--url', 'http://127.0.0.1:9']);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toBe(
        `${missing}: no such file; run "shipcheck init" to write one\n`,
      );
    }
  });

  it('refuses a version that breaks the version rule before asking the server', async () => {
    // The server URL cannot be reached: an answer about the version comes from the CLI itself.
    const env = { SHIPCHECK_URL: 'http://127.0.0.1:9' };
    const empty = await runCli(['deploy', ''], { cwd: dir, env });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('error: a version is required: shipcheck deploy VERSION\n');
    for (const version of ['-rf', '..', '.', 'a..b', `v${'1'.repeat(128)}`]) {
      const result = await runCli(['deploy', '--', version], { cwd: dir, env });
      expect(result.code, version).toBe(2);
      expect(result.stderr, version).toMatch(
        version.length > 128
          ? /version is 129 characters long; at most 128/
          : /a version starts with a letter or a digit/,
      );
    }
    const option = await runCli(['deploy', '-rf'], { cwd: dir, env });
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/unknown option '-rf'/);
  });

  it("shows the global options in each command's help", async () => {
    for (const command of ['deploy', 'status', 'sign', 'rollback']) {
      const help = await runCli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout, command).toMatch(/Global Options:\n\s+-c, --config <file>[\s\S]*--url <url>/);
    }
    const deploy = await runCli(['deploy', '--help']);
    expect(deploy.stdout).toMatch(/--timeout <duration>/);
    expect(deploy.stdout).toMatch(/--until-held/);
    const bad = await runCli(['deploy', 'v1', '--timeout', '5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /--timeout <duration>' argument '5' is invalid. expected a duration such as 500ms/,
    );
  });

  it('writes a starter file that validates', async () => {
    const file = path.join(dir, 'starter', 'shipcheck.yaml');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(path.join(dir, 'starter', 'app.js'), '');
    expect((await runCli(['init', '-c', file])).code).toBe(0);
    const again = await runCli(['init', '-c', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    const valid = await runCli(['validate', '-c', file], { cwd: path.dirname(file) });
    expect(valid.code, valid.stderr).toBe(0);
  });

  it('reports an unreachable server on exit code 1 without a stack trace', async () => {
    const result = await runCli(['status'], { cwd: dir, env: { SHIPCHECK_URL: 'http://127.0.0.1:9' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach shipcheck at http:\/\/127.0.0.1:9/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the CLI against a running control plane', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('prints the status contract as JSON, streams events, and answers unknown things with clear errors', async () => {
    s = await Scenario.create();
    await s.up();
    const stream = await s.api('/api/v1/events');
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader = stream.body!.getReader();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    let text = '';
    while (!text.includes('event: release.succeeded')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    await reader.cancel();
    expect(text).toMatch(/id: 1\nevent: release.created\ndata: \{.*"message":"release #1: \(none\) -> v1"/);
    expect(text).toMatch(/event: release.succeeded\ndata: .*"v1 is now stable"/);
    const replay = await s.api('/api/v1/events', { headers: { 'last-event-id': '1' } });
    const replayReader = replay.body!.getReader();
    let replayed = '';
    while (!replayed.includes('release.succeeded')) {
      const { value, done } = await replayReader.read();
      if (done) break;
      replayed += Buffer.from(value).toString();
    }
    await replayReader.cancel();
    expect(replayed).not.toMatch(/id: 1\n/);
    expect(replayed).toMatch(/id: 2\n/);

    const metrics = await (await s.api('/metrics')).text();
    expect(metrics).toMatch(/shipcheck_releases_total\{service="web",state="succeeded"\} 1/);
    expect(metrics).toMatch(/shipcheck_reconcile_duration_seconds_count\{service="web"\} \d+/);
    const status = await s.cli('status', '--json');
    expect(status.code).toBe(0);
    const json = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      service: 'web',
      stable: 'v1',
      release: { id: 1, version: 'v1', phase: 'completed', state: 'succeeded', weight: 100, reason: null },
    });
    const human = await s.cli('status');
    expect(human.stdout).toMatch(/stable\s+v1/);

    expect((await s.cli('promote')).stderr).toMatch(/service web has no active release/);
    const res = await s.api('/api/v1/releases/999');
    expect(res.status).toBe(404);
    const bad = await s.api('/api/v1/services/web/releases', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"nope": 1}',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'unknown field "nope" (this route takes version); version: required',
    });
    const other = await s.api('/api/v1/services/nope');
    expect(other.status).toBe(404);

    // Prometheus finds the instances through HTTP service discovery.
    const sd = (await (await s.api('/api/v1/sd/prometheus')).json()) as {
      targets: string[];
      labels: Record<string, string>;
    }[];
    expect(sd).toHaveLength(1);
    expect(sd[0]!.labels).toMatchObject({ service: 'web', version: 'v1', role: 'stable' });
    expect(sd[0]!.targets).toHaveLength(3);

    // A deploy run again with the same idempotency key (a retried CI job) gets the first run's release.
    const keyed = await s.cli('deploy', 'v2', '--idempotency-key', 'ci-job-42', '--json');
    expect(keyed.code).toBe(0);
    const again = await s.cli('deploy', 'v2', '--idempotency-key', 'ci-job-42', '--json');
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { id: number }).id).toBe(
      (JSON.parse(keyed.stdout) as { id: number }).id,
    );
    // Another key is another deploy, refused here because v2 is active or already stable.
    expect((await s.cli('deploy', 'v2', '--idempotency-key', 'ci-job-43')).stderr).toMatch(
      /active release|already the stable version/,
    );

    // A client still following the event stream does not keep a graceful stop from finishing.
    const open = await s.api('/api/v1/events');
    expect(open.status).toBe(200);
    await s.down();
    expect(s.appProcesses()).toEqual([]);
  });

  it('refuses to start when the proxy port is taken', async () => {
    s = await Scenario.create();
    await s.up();
    const second = await runCli(['up', '-c', s.file]);
    expect(second.code).toBe(1);
    expect(second.stderr + second.stdout).toMatch(/traffic.listen 127.0.0.1:\d+: address already in use/);
  });
});
