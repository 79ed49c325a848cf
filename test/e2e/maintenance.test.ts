/**
 * Scheduled checks under a real `shipcheck up`: items scheduled every couple of seconds run by
 * themselves, a failing one sends one notice to a real webhook receiver (not one per failing run),
 * and `shipcheck maintenance` and `shipcheck checklist run` work through the CLI as a signed-in user.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../support/notify-peers.js';
import { Scenario, TEST_USER, waitFor } from './harness.js';

const KEY_AGE = 'security/data-protection/key-rotation-schedule';
const SMOKE = 'maintenance/regular-checks/disk-smoke';

interface Entry {
  unit: string;
  itemId: string;
  schedule: string | null;
  nextRunAt: number | null;
  failing: boolean;
  last: { state: string; trigger: string; by: string | null } | null;
}

let scenario: Scenario;
let hook: Receiver;

beforeAll(async () => {
  hook = await startReceiver(() => ({ status: 204 }));
  scenario = await Scenario.create({
    instances: 1,
    extra: `checklist: { template: checks.yaml }
channels:
  - { name: ops-hook, type: webhook, url: "${hook.url}/ops", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }
maintenance:
  schedules:
    ${KEY_AGE}: "*/2 * * * * *"
  notify: [{ channel: ops-hook }]
`,
  });
  // A template of the team's own: the default, plus a check that fails, every two seconds.
  fs.writeFileSync(
    path.join(scenario.dir, 'checks.yaml'),
    `extends: default
items:
  - id: ${SMOKE}
    section: Maintenance / Regular Checks
    title: Disk smoke test
    kind: command
    gate: scheduled
    schedule: "*/2 * * * * *"
    params: { run: "echo disk check failed >&2; exit 3" }
`,
  );
  await scenario.up();
}, 60_000);

afterAll(async () => {
  await scenario?.cleanup();
  await hook?.close();
});

async function listed(): Promise<Entry[]> {
  const result = await scenario.cli('maintenance', '--json');
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { items: Entry[] }).items;
}

describe('scheduled checks under shipcheck up', () => {
  it('given items scheduled every two seconds, when nobody asks, then they run and a failure is told once', async () => {
    await waitFor('both scheduled items to have run', async () => {
      const items = await listed();
      const byId = new Map(items.map((item) => [item.itemId, item]));
      return byId.get(KEY_AGE)?.last?.state === 'passed' && byId.get(SMOKE)?.last?.state === 'failed';
    });
    const items = await listed();
    expect(items.find((item) => item.itemId === KEY_AGE)).toMatchObject({
      unit: 'web',
      schedule: '*/2 * * * * *',
      failing: false,
      last: { trigger: 'schedule', by: null },
    });
    expect(items.find((item) => item.itemId === SMOKE)?.failing).toBe(true);
    // Unscheduled sign-offs are not listed; the default template's own schedules are.
    expect(
      items.some((item) => item.itemId === 'incident-response/communication-channels/internal-notifications'),
    ).toBe(false);
    expect(
      items.find((item) => item.itemId === 'maintenance/regular-checks/backup-verification')?.schedule,
    ).toBe('0 3 * * 0');

    // Several failing runs later, the owners have heard once.
    await waitFor('three failing runs', async () => {
      const res = await scenario.api(`/api/v1/services/web/maintenance/${encodeURIComponent(SMOKE)}/runs`);
      const { runs } = (await res.json()) as { runs: { state: string }[] };
      return runs.filter((run) => run.state === 'failed').length >= 3;
    });
    await waitFor('the notice to reach the webhook', () => hook.received.length >= 1);
    const notices = hook.received.map(
      (request) => JSON.parse(request.body) as { event?: string; title?: string },
    );
    expect(notices).toHaveLength(1);
    expect(hook.received[0]?.path).toBe('/ops');
    expect(hook.received[0]?.body).toContain('maintenance.failed');
    expect(hook.received[0]?.body).toContain('Disk smoke test');

    // The services overview counts the failing item.
    const services = (await (await scenario.api('/api/v1/services')).json()) as {
      services: { name: string; maintenance: { failing: number } }[];
    };
    expect(services.services).toEqual([
      expect.objectContaining({ name: 'web', maintenance: { failing: 1 } }),
    ]);

    const table = await scenario.cli('maintenance');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^UNIT\s+ITEM\s+TITLE\s+SCHEDULE\s+LAST\s+NEXT/);
    expect(table.stdout).toMatch(
      new RegExp(
        `web\\s+${SMOKE}\\s+Disk smoke test\\s+\\*/2 \\* \\* \\* \\* \\* \\(UTC\\)\\s+(failed|running)`,
      ),
    );
    expect(table.stdout).toContain(`FAILING web ${SMOKE}`);
  });

  it('given a signed-in deployer, when they run an item now, then it runs on the server and the exit code says how it went', async () => {
    const passed = await scenario.cli('checklist', 'run', 'key-rotation-schedule');
    expect(passed.stderr).toBe('');
    expect(passed.code).toBe(0);
    expect(passed.stdout).toMatch(new RegExp(`^web ${KEY_AGE}: passed in \\d+\\.\\ds: `));

    const failed = await scenario.cli('checklist', 'run', SMOKE);
    // A scheduled run of the same item may hold it for a moment.
    const result =
      failed.code === 1 && failed.stderr.includes('running')
        ? await scenario.cli('checklist', 'run', SMOKE)
        : failed;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`web ${SMOKE}: failed`);
    expect(result.stdout).toContain('disk check failed');

    const res = await scenario.api(`/api/v1/services/web/maintenance/key-rotation-schedule/runs?limit=50`);
    const { runs } = (await res.json()) as { runs: { trigger: string; by: string | null }[] };
    expect(runs).toContainEqual(expect.objectContaining({ trigger: 'manual', by: TEST_USER }));

    const audit = (await (await scenario.api('/api/v1/audit?limit=50')).json()) as {
      entries: { action: string; actor: string; target: string | null }[];
    };
    expect(audit.entries).toContainEqual(
      expect.objectContaining({
        action: 'maintenance.run',
        target: 'web',
        actor: expect.stringContaining(TEST_USER),
      }),
    );
  });

  it('given an item that is a sign-off or not scheduled, when run, then the CLI says why', async () => {
    const signOff = await scenario.cli('checklist', 'run', 'internal-notifications');
    expect(signOff.code).toBe(1);
    expect(signOff.stderr).toContain('no scheduled item "internal-notifications"');
    const manual = await scenario.api(`/api/v1/services/web/maintenance/nothing-here/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(manual.status).toBe(404);
  });
});
