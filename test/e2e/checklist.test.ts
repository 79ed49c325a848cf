import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scenario, TEST_USER, waitFor } from './harness.js';

const TEMPLATE = `name: e2e
items:
  - id: pre-deployment/testing/run-full-test-suite
    section: Pre-Deployment / Testing
    title: Run full test suite
    kind: command
    gate: pre-deploy
    params: { run: "{{vars.testCommand}}", timeout: 30s }
  - id: pre-deployment/application/prepare-rollback-plan
    section: Pre-Deployment / Application
    title: Prepare rollback plan
    kind: manual
    gate: pre-deploy
  - id: deployment/process/verify-functionality
    section: Deployment / Process
    title: Verify functionality
    kind: http
    gate: canary
    params: { url: /, target: canary, expectStatus: 200 }
  - id: deployment/verification/check-application-health-endpoints
    section: Deployment / Verification
    title: Check application health endpoints
    kind: http
    gate: verify
    params: { url: /healthz }
  - id: post-deployment/communication/notify-stakeholders
    section: Post-Deployment / Communication
    title: Notify stakeholders
    kind: manual
    gate: post-deploy
`;

interface Item {
  id: string;
  section: string;
  title: string;
  kind: string;
  gate: string;
  state: string;
  evidence: { summary: string; by?: string; note?: string }[];
}

async function withTemplate(testCommand: string, faults = {}): Promise<Scenario> {
  const s = await Scenario.create({
    faults,
    steps: '[{setWeight: 50}, {pause: 1s}]',
    extra: `checklist:\n  template: checklist.yaml\n  vars: { testCommand: "${testCommand}" }\n`,
  });
  fs.writeFileSync(path.join(s.dir, 'checklist.yaml'), TEMPLATE);
  return s;
}

async function checklist(
  s: Scenario,
): Promise<{ release: { id: number }; gate: string | null; items: Item[] }> {
  const result = await s.cli('checklist', '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { release: { id: number }; gate: string | null; items: Item[] };
}

describe('the release checklist', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('holds a release at each gate until its manual items are signed, with evidence for automated ones', async () => {
    // Given v1, and a checklist with an automated test run and a manual sign-off before deploy
    s = await withTemplate('echo all 42 tests passed');
    await s.up();
    const first = s.cli('deploy', 'v1', '--wait');
    await waitFor('v1 waiting', async () => (await s!.status()).release?.state === 'waiting');
    await waitFor('tests ran', async () => (await checklist(s!)).items[0]?.state === 'passed');

    // Then it waits at pre-deploy, listing exactly the item left to sign
    const view = await checklist(s);
    expect(view.gate).toBe('pre-deploy');
    expect((await s.status()).release).toMatchObject({
      phase: 'pre-deploy',
      state: 'waiting',
      reason:
        'waiting at the pre-deploy gate: 1 item to sign: pre-deployment/application/prepare-rollback-plan',
    });
    expect(view.items[0]).toMatchObject({ kind: 'command', gate: 'pre-deploy', state: 'passed' });
    expect(view.items[0]!.evidence[0]!.summary).toMatch(/exit 0/);
    const human = await s.cli('checklist');
    expect(human.stdout).toMatch(
      /To sign at the pre-deploy gate:\n {2}shipcheck sign pre-deployment\/application\/prepare-rollback-plan/,
    );

    // When a person signs an item of a later gate, or one that does not exist, they get a clear error
    const early = await s.cli('sign', 'post-deployment/communication/notify-stakeholders');
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/belongs to the post-deploy gate; release #1 is at the pre-deploy gate/);
    const unknown = await s.cli('sign', 'no/such/item');
    expect(unknown.stderr).toMatch(/no checklist item "no\/such\/item" in release #1/);

    // When they sign the pre-deploy item, the release goes on; post-deploy waits for its own sign-off
    const signed = await s.cli(
      'sign',
      'pre-deployment/application/prepare-rollback-plan',
      '--note',
      'runbook 12',
    );
    expect(signed.code, signed.stderr).toBe(0);
    await waitFor('post-deploy gate', async () => (await s!.status()).release?.phase === 'post-deploy');
    expect((await s.cli('sign', 'post-deployment/communication/notify-stakeholders')).code).toBe(0);
    expect((await first).code).toBe(0);

    const done = await checklist(s);
    expect(done.items.map((i) => i.state)).toEqual([
      'passed',
      'passed',
      'not-applicable',
      'passed',
      'passed',
    ]);
    // The evidence names the user who signed in, not a name the client typed.
    expect(done.items[1]!.evidence[0]).toMatchObject({
      summary: `signed by ${TEST_USER}`,
      by: TEST_USER,
      note: 'runbook 12',
    });
    expect(done.items[2]!.evidence[0]!.summary).toBe('not applicable: a first release has no canary');
    expect(done.items[3]!.evidence[0]!.summary).toMatch(/200/);

    // And the report a person files shows every section with its evidence
    const report = await s.cli('checklist', 'export', '--format', 'md');
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/^# Release #1: web \(none\) -> v1/);
    for (const section of [
      'Pre-Deployment / Testing',
      'Deployment / Process',
      'Post-Deployment / Communication',
    ]) {
      expect(report.stdout).toContain(`## ${section}`);
    }
    expect(report.stdout).toMatch(
      new RegExp(
        `- \\[x\\] \\*\\*Prepare rollback plan\\*\\* \\(passed; manual at pre-deploy;.*\n {2}- .*signed by ${TEST_USER} \\(runbook 12\\)`,
      ),
    );
    const html = await s.cli('checklist', 'export', '--format', 'html');
    expect(html.stdout).toMatch(/^<!doctype html>/);

    // The report carries the audit log's head: an anchor that proves what the log said then
    const anchor =
      /Audit log anchor: entry (\d+), sha256 ([0-9a-f]{64}) \(shipcheck audit verify --anchor \1:\2\)/.exec(
        report.stdout,
      );
    expect(anchor, report.stdout.slice(0, 600)).not.toBeNull();
    const verified = await s.cli('audit', 'verify', '--anchor', `${anchor![1]}:${anchor![2]}`);
    expect(verified.stdout, verified.stderr).toMatch(/is intact/);
  });

  it('blocks at pre-deploy on a failing check, says why, and goes on once it is waived', async () => {
    s = await withTemplate('echo 3 tests failed; exit 3');
    await s.up();
    expect((await s.cli('deploy', 'v1')).code).toBe(0);
    await waitFor('blocked', async () =>
      /blocked at the pre-deploy gate/.test((await s!.status()).release?.reason ?? ''),
    );
    const status = await s.status();
    expect(status.release?.reason).toMatch(
      /^blocked at the pre-deploy gate: "Run full test suite" \(pre-deployment\/testing\/run-full-test-suite\): .*exit 3/,
    );
    expect(s.processCounts()).toEqual({});

    const noReason = await s.cli('waive', 'pre-deployment/testing/run-full-test-suite');
    expect(noReason.code).toBe(2);
    expect(
      (await s.cli('waive', 'pre-deployment/testing/run-full-test-suite', '--reason', 'known flaky test'))
        .code,
    ).toBe(0);
    expect((await s.cli('sign', 'pre-deployment/application/prepare-rollback-plan')).code).toBe(0);
    await waitFor('post-deploy', async () => (await s!.status()).release?.phase === 'post-deploy');
    const view = await checklist(s);
    expect(view.items[0]).toMatchObject({ state: 'waived' });
    expect(view.items[0]!.evidence.at(-1)).toMatchObject({ by: TEST_USER, note: 'known flaky test' });
  });

  it('rolls back when a check at the canary gate fails', async () => {
    // Given v1, and a v2 whose every request fails
    s = await withTemplate('true', { v2: { errorRate: 1 } });
    await s.up();
    const first = s.cli('deploy', 'v1', '--wait');
    await waitFor('pre-deploy wait', async () => (await s!.status()).release?.state === 'waiting');
    await s.cli('sign', 'pre-deployment/application/prepare-rollback-plan');
    await waitFor('post-deploy', async () => (await s!.status()).release?.phase === 'post-deploy');
    await s.cli('sign', 'post-deployment/communication/notify-stakeholders');
    expect((await first).code).toBe(0);

    // When v2 is deployed, the canary check reaches v2 through the proxy before any user traffic
    const second = s.cli('deploy', 'v2', '--wait');
    await waitFor('v2 pre-deploy', async () => {
      const r = (await s!.status()).release;
      return r?.version === 'v2' && r.state === 'waiting';
    });
    await s.cli('sign', 'pre-deployment/application/prepare-rollback-plan');
    // Then the release is rolled back with the check as the reason, and v2 never got user traffic
    expect((await second).code).toBe(3);
    const release = (await s.status()).release;
    expect(release?.reason).toMatch(/^canary check failed: "Verify functionality" .*500/);
    expect(release?.weight).toBe(0);
  });
});
