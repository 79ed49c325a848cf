/**
 * A scheduled run cut short by kill -9 of `shipcheck up` (SQLite): once the dead run's claim lapses,
 * the restarted control plane records it as interrupted and runs the item again, by itself, although
 * the item's own schedule is a year away.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, startCommand, BIN, waitFor } from './harness.js';

const SLOW = 'maintenance/regular-checks/slow-check';
/** The claim of a dead run lapses 30 s after its last renewal; the wait allows for it and a start. */
const LAPSE_WAIT_MS = 90_000;

interface Run {
  state: string;
  trigger: string;
  by: string | null;
}

let scenario: Scenario;

beforeAll(async () => {
  scenario = await Scenario.create({ instances: 1, extra: 'checklist: { template: checks.yaml }\n' });
  fs.writeFileSync(
    path.join(scenario.dir, 'checks.yaml'),
    `extends: none
items:
  - id: ${SLOW}
    section: Maintenance / Regular Checks
    title: Slow check
    kind: command
    gate: scheduled
    schedule: "0 0 1 1 *"
    params: { run: "sleep 3; echo done" }
`,
  );
  await scenario.up();
}, 60_000);

afterAll(async () => {
  await scenario?.cleanup();
});

async function runs(): Promise<Run[]> {
  const res = await scenario.api(`/api/v1/services/web/maintenance/${encodeURIComponent(SLOW)}/runs`);
  return ((await res.json()) as { runs: Run[] }).runs;
}

describe('a scheduled run and kill -9', () => {
  it('given a run in progress, when the control plane is killed and started again, then the run is recorded interrupted and runs again', async () => {
    // A person starts the check; the control plane dies while it runs.
    const asked = startCommand(process.execPath, [BIN, 'checklist', 'run', 'slow-check'], {
      cwd: scenario.dir,
      env: scenario.cliEnv,
    });
    await waitFor('the run to start', async () => (await runs())[0]?.state === 'running');
    await scenario.crash();
    expect((await asked.result).code).not.toBe(0);

    await scenario.up();
    await waitFor(
      'the interrupted run to be run again',
      async () => (await runs()).map((r) => r.state).join(' ') === 'passed interrupted',
      LAPSE_WAIT_MS,
    );
    const [again, cut] = await runs();
    expect(cut).toMatchObject({ state: 'interrupted', trigger: 'manual' });
    expect(again).toMatchObject({ state: 'passed', trigger: 'schedule', by: null });
  }, 120_000);
});
