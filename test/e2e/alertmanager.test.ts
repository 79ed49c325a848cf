import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ALERTMANAGER_PATH } from '../../src/api/alertmanager.js';
import { freePort } from '../../src/util/net.js';
import { type CliResult, Scenario, waitFor } from './harness.js';

const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';
const AMTOOL_BIN = '/usr/bin/amtool';
const HAS_ALERTMANAGER = [ALERTMANAGER_BIN, AMTOOL_BIN].every(
  (bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0,
);
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const MISSING_REASON =
  `SKIPPED: no Alertmanager (${ALERTMANAGER_BIN} and ${AMTOOL_BIN}; install them with ` +
  '`apt-get install prometheus-alertmanager`; set SHIPCHECK_REQUIRE_REAL=1 to make this a failure)';

const TOKEN = 'e2e-alertmanager-token-0123456789';
const ALERTS = `  alerts:
    token: ${TOKEN}
    matchers: ['service="{{service}}"']`;
/** v2 stops at 20% until promoted, so only an alert can end it. */
const STEPS = '[{setWeight: 20}, {pause: {}}]';
const STOP_LIMIT_MS = 5_000;
const LOG_TAIL_CHARS = 4000;

/** An alert as Alertmanager's API v2 lists it. */
interface AmAlert {
  fingerprint: string;
  startsAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** One Alertmanager process for the whole file, rerouted to each test's control plane. */
class Alertmanager {
  private log = '';

  private constructor(
    readonly url: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    const keepTail = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-LOG_TAIL_CHARS);
    };
    child.stdout?.on('data', keepTail);
    child.stderr?.on('data', keepTail);
  }

  /** Starts it on a free port with clustering off, and waits until it is ready. */
  static async start(): Promise<Alertmanager> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-alertmanager-'));
    const port = await freePort();
    // Nothing listens on port 9 (discard); each test points the receiver at its own control plane.
    fs.writeFileSync(path.join(dir, 'alertmanager.yml'), Alertmanager.config('http://127.0.0.1:9', TOKEN));
    const child = spawn(
      ALERTMANAGER_BIN,
      [
        `--config.file=${path.join(dir, 'alertmanager.yml')}`,
        `--storage.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // An empty address turns clustering (gossip on 9094) off.
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const am = new Alertmanager(`http://127.0.0.1:${port}`, dir, child);
    await waitFor('alertmanager ready', async () => {
      if (child.exitCode !== null) throw new Error(`alertmanager exited ${child.exitCode}:\n${am.log}`);
      return fetch(`${am.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
    });
    return am;
  }

  /**
   * Alertmanager 0.25 syntax. One group per alert name and service, sent at once, and repeated every
   * few seconds while it fires: the repeats are what shipcheck must not act on twice.
   */
  private static config(apiUrl: string, token: string): string {
    return `route:
  receiver: shipcheck
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: shipcheck
    webhook_configs:
      - url: ${apiUrl}${ALERTMANAGER_PATH}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: ${token}
`;
  }

  /** Sends notifications to `apiUrl` with `token` from now on (rewrites the config and reloads it). */
  async routeTo(apiUrl: string, token = TOKEN): Promise<void> {
    fs.writeFileSync(path.join(this.dir, 'alertmanager.yml'), Alertmanager.config(apiUrl, token));
    const res = await fetch(`${this.url}/-/reload`, { method: 'POST' });
    if (!res.ok) throw new Error(`alertmanager reload: ${res.status} ${await res.text()}\n${this.log}`);
  }

  /** Runs amtool against this Alertmanager. */
  amtool(...args: string[]): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(AMTOOL_BIN, [`--alertmanager.url=${this.url}`, ...args], (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Alerts it holds that are still firing. */
  async firing(): Promise<AmAlert[]> {
    const res = await fetch(`${this.url}/api/v2/alerts?active=true&silenced=true&inhibited=true`);
    return (await res.json()) as AmAlert[];
  }

  /** Resolves alerts through its API, as Prometheus does: same labels and startsAt, an endsAt now. */
  async resolve(alerts: AmAlert[]): Promise<void> {
    if (alerts.length === 0) return;
    const endsAt = new Date().toISOString();
    const res = await fetch(`${this.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        alerts.map((a) => ({ labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, endsAt })),
      ),
    });
    if (!res.ok) throw new Error(`alertmanager POST /api/v2/alerts: ${res.status} ${await res.text()}`);
  }

  /** Webhook notifications attempted and failed so far, from its own metrics. */
  async notifications(): Promise<{ sent: number; failed: number }> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const counter = (name: string): number =>
      Number(new RegExp(`^${name}\\{integration="webhook"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return {
      sent: counter('alertmanager_notifications_total'),
      failed: counter('alertmanager_notifications_failed_total'),
    };
  }

  /** Waits until `count` more webhook notifications went out than `since`. */
  async waitForNotifications(
    since: { sent: number },
    count: number,
  ): Promise<{ sent: number; failed: number }> {
    let now = since as { sent: number; failed: number };
    await waitFor(`${count} more webhook notification(s)`, async () => {
      now = await this.notifications();
      return now.sent >= since.sent + count;
    });
    return now;
  }

  /** SIGTERM by pid, SIGKILL if it has not exited in time; removes its folder. */
  async stop(): Promise<void> {
    const { child } = this;
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      const late = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }, STOP_LIMIT_MS);
      await exited;
      clearTimeout(late);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

interface ReleaseView {
  id: number;
  version: string;
  state: string;
  phase: string;
  weight: number;
  reason: string | null;
}

interface EventView {
  type: string;
  message: string;
  data: Record<string, unknown>;
}

async function releaseOf(s: Scenario, id: number): Promise<ReleaseView> {
  return (await (await s.api(`/api/v1/releases/${id}`)).json()) as ReleaseView;
}

async function eventsOf(s: Scenario, id: number): Promise<EventView[]> {
  const res = await s.api(`/api/v1/releases/${id}/events`);
  return ((await res.json()) as { events: EventView[] }).events;
}

/** Given v1 stable and `version` held at 20% until promoted; returns that release. */
async function canaryWaitingForPromote(s: Scenario, version: string): Promise<ReleaseView> {
  const deployed = await s.cli('deploy', version);
  expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
  await waitFor(`${version} at 20%, waiting for promote`, async () => {
    const release = (await s.status()).release;
    return release?.version === version && release.state === 'paused' && release.weight === 20;
  });
  return (await s.status()).release!;
}

/** A hand-made POST to the webhook endpoint. */
function postAlert(s: Scenario, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${s.apiUrl}${ALERTMANAGER_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

// A missing binary is a loud warning, or a failure when a real Alertmanager is required.
if (!HAS_ALERTMANAGER && !REQUIRE_REAL) console.warn(`alertmanager.test.ts: ${MISSING_REASON}`);
describe.runIf(!HAS_ALERTMANAGER && REQUIRE_REAL)('alerts from a real Alertmanager (required)', () => {
  it('needs prometheus-alertmanager and amtool because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(
      `no ${ALERTMANAGER_BIN} or ${AMTOOL_BIN} and SHIPCHECK_REQUIRE_REAL=1; apt-get install prometheus-alertmanager`,
    );
  });
});

describe.runIf(HAS_ALERTMANAGER)('alerts from a real Alertmanager', () => {
  let am: Alertmanager | undefined;
  let s: Scenario | undefined;
  beforeAll(async () => {
    am = await Alertmanager.start();
  });
  afterAll(async () => {
    await am?.stop();
  });
  afterEach(async () => {
    // Alertmanager outlives the test: what still fires would reach the next test's control plane.
    await am?.resolve(await am.firing()).catch(() => undefined);
    await s?.cleanup();
    s = undefined;
  });

  /** Given a control plane that takes alerts, Alertmanager routing to it, and v1 stable. */
  async function givenStableV1(): Promise<Scenario> {
    s = await Scenario.create({ steps: STEPS, rollbackExtra: ALERTS });
    await am!.routeTo(s.apiUrl);
    await s.up();
    const result = await s.cli('deploy', 'v1', '--wait');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    return s;
  }

  it('ignores a firing alert for another service', async () => {
    // Given v2 waiting at 20%
    const scenario = await givenStableV1();
    const v2 = await canaryWaitingForPromote(scenario, 'v2');
    const before = await am!.notifications();

    // When an alert fires for service=other, and Alertmanager delivers it (and repeats it)
    const added = await am!.amtool('alert', 'add', 'HighErrorRate', 'service=other', 'severity=page');
    expect(added.code, added.stderr).toBe(0);
    const after = await am!.waitForNotifications(before, 2);

    // Then every delivery was accepted, and v2 is where it was
    expect(after.failed).toBe(before.failed);
    expect(await releaseOf(scenario, v2.id)).toMatchObject({ state: 'paused', phase: 'canary', weight: 20 });
    expect((await eventsOf(scenario, v2.id)).filter((e) => e.type.startsWith('alert.'))).toEqual([]);
  });

  it('rolls the release back when a matching alert fires, once however often it repeats, and records its resolution', async () => {
    // Given v2 waiting at 20%
    const scenario = await givenStableV1();
    const v2 = await canaryWaitingForPromote(scenario, 'v2');

    // When Alertmanager gets a HighErrorRate alert for service=web
    const added = await am!.amtool(
      'alert',
      'add',
      'HighErrorRate',
      'service=web',
      'severity=page',
      '--annotation=summary=5xx above 5%',
    );
    expect(added.code, added.stderr).toBe(0);

    // Then v2 is rolled back with the alert as the reason, and v1 serves alone
    await waitFor('v2 rolled back', async () => (await releaseOf(scenario, v2.id)).state === 'rolled_back');
    expect(await releaseOf(scenario, v2.id)).toMatchObject({
      weight: 0,
      reason: 'alert firing: HighErrorRate (severity=page): 5xx above 5%',
    });
    expect((await scenario.status()).stable).toBe('v1');
    await waitFor('v2 stopped', () => !('v2' in scenario.processCounts()));
    const alert = (await am!.firing()).find((a) => a.labels.service === 'web');
    expect(alert).toBeDefined();
    const firing = (await eventsOf(scenario, v2.id)).filter((e) => e.type === 'alert.firing');
    expect(firing).toHaveLength(1);
    // Alertmanager's API lists startsAt in milliseconds; its webhook sends nanoseconds.
    expect(Date.parse(firing[0]!.data.startsAt as string)).toBe(Date.parse(alert!.startsAt));
    expect(firing[0]!.data).toMatchObject({
      fingerprint: alert!.fingerprint,
      labels: { alertname: 'HighErrorRate', service: 'web', severity: 'page' },
      receiver: 'shipcheck',
    });

    // When v3 is deployed while Alertmanager keeps repeating the same alert
    const v3 = await canaryWaitingForPromote(scenario, 'v3');
    const before = await am!.notifications();
    const after = await am!.waitForNotifications(before, 2);

    // Then the repeats were accepted and did nothing: the alert already had its rollback
    expect(after.failed).toBe(before.failed);
    expect(await releaseOf(scenario, v3.id)).toMatchObject({ state: 'paused', weight: 20 });
    expect((await eventsOf(scenario, v2.id)).filter((e) => e.type === 'alert.firing')).toHaveLength(1);
    expect((await eventsOf(scenario, v3.id)).filter((e) => e.type === 'alert.firing')).toEqual([]);

    // When the alert is resolved
    await am!.resolve([alert!]);

    // Then its resolution is recorded on the active release, which goes on
    await waitFor('alert.resolved', async () =>
      (await eventsOf(scenario, v3.id)).some((e) => e.type === 'alert.resolved'),
    );
    const resolved = (await eventsOf(scenario, v3.id)).find((e) => e.type === 'alert.resolved')!;
    expect(resolved.message).toBe('alert resolved: HighErrorRate (severity=page): 5xx above 5%');
    expect(resolved.data).toMatchObject({ fingerprint: alert!.fingerprint, labels: alert!.labels });
    expect(await releaseOf(scenario, v3.id)).toMatchObject({ state: 'paused', weight: 20 });
  });

  it('refuses a wrong or missing token (401) and a malformed payload (400), touching nothing', async () => {
    // Given v2 waiting at 20%, and an Alertmanager sending the wrong credentials
    const scenario = await givenStableV1();
    const v2 = await canaryWaitingForPromote(scenario, 'v2');
    await am!.routeTo(scenario.apiUrl, 'not-the-configured-token');
    const before = await am!.notifications();

    // When an alert that matches fires
    const added = await am!.amtool('alert', 'add', 'HighErrorRate', 'service=web', 'severity=page');
    expect(added.code, added.stderr).toBe(0);

    // Then Alertmanager's deliveries fail
    await waitFor(
      'a failed webhook notification',
      async () => (await am!.notifications()).failed > before.failed,
    );

    // And hand-made requests get 401 or 400 with a message saying what is wrong
    const body = JSON.stringify({
      version: '4',
      status: 'firing',
      receiver: 'shipcheck',
      groupKey: '{}:{}',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'HighErrorRate', service: 'web' },
          annotations: {},
          startsAt: new Date().toISOString(),
          fingerprint: '0123456789abcdef',
        },
      ],
    });
    const missing = await postAlert(scenario, body, {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="shipcheck"');
    expect(((await missing.json()) as { error: string }).error).toMatch(
      /^missing "Authorization: Bearer <token>" header/,
    );
    const wrong = await postAlert(scenario, body, { authorization: 'Bearer not-the-configured-token' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: 'the bearer token does not match rollback.alerts.token' });
    const malformed = await postAlert(scenario, body.replace('"version":"4"', '"version":"3"'), {
      authorization: `Bearer ${TOKEN}`,
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toMatch(
      /^invalid Alertmanager payload: version: expected "4"/,
    );
    const notJson = await postAlert(scenario, '{"version": "4",', { authorization: `Bearer ${TOKEN}` });
    expect(notJson.status).toBe(400);

    // And v2 is where it was, with no alert recorded
    expect(await releaseOf(scenario, v2.id)).toMatchObject({ state: 'paused', phase: 'canary', weight: 20 });
    expect((await eventsOf(scenario, v2.id)).filter((e) => e.type.startsWith('alert.'))).toEqual([]);
  });
});
