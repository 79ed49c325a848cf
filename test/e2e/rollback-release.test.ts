import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scenario, TEST_USER, waitFor } from './harness.js';

/** One deploy item, and the seed's manual rollback steps: one automated, one signed by a person. */
const TEMPLATE = `name: rollback
items:
  - id: deployment/verification/check-application-health-endpoints
    section: Deployment / Verification
    title: Check application health endpoints
    kind: http
    gate: verify
    params: { url: /healthz }
  - id: rollback-plan/manual-rollback-steps/revert-to-previous-container-image
    section: Rollback Plan / Manual Rollback Steps
    title: Revert to previous container image
    kind: http
    gate: rollback
    params: { url: /, target: stable, expectStatus: 200 }
  - id: rollback-plan/manual-rollback-steps/verify-rollback-success
    section: Rollback Plan / Manual Rollback Steps
    title: Verify rollback success
    kind: manual
    gate: rollback
`;

interface Item {
  id: string;
  gate: string;
  state: string;
  evidence: { summary: string; by?: string }[];
}

describe('a manual rollback', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it("is a release with the checklist's manual rollback steps, checked once the old version serves again", async () => {
    // Given v1 then v2, both succeeded
    s = await Scenario.create({ extra: 'checklist:\n  template: checklist.yaml\n' });
    fs.writeFileSync(path.join(s.dir, 'checklist.yaml'), TEMPLATE);
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    expect((await s.cli('deploy', 'v2', '--wait')).code).toBe(0);

    // When a person rolls back to v1
    const rollback = await s.cli('rollback', '--wait');
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect(await s.status()).toMatchObject({ stable: 'v1', release: { version: 'v1', state: 'succeeded' } });

    // Then the rollback release carries the rollback gate's items: the automated one checked v1
    const result = await s.cli('checklist', '--json');
    expect(result.code, result.stderr).toBe(0);
    const view = JSON.parse(result.stdout) as { gate: string | null; items: Item[] };
    expect(view.gate).toBe('rollback');
    expect(view.items.map((i) => [i.id.split('/').at(-1), i.gate, i.state])).toEqual([
      ['revert-to-previous-container-image', 'rollback', 'passed'],
      ['verify-rollback-success', 'rollback', 'pending'],
    ]);
    expect(view.items[0]!.evidence[0]!.summary).toMatch(/^GET http:\/\/127.0.0.1:\d+\/ \(stable\): 200/);

    // And the manual step is signed after the release ended, and the report records both
    expect((await s.cli('sign', 'verify-rollback-success', '--note', 'orders page checked')).code).toBe(0);
    const out = path.join(s.dir, 'reports', 'rollback.md');
    fs.mkdirSync(path.dirname(out));
    const exported = await s.cli('checklist', 'export', '--format', 'md', '--out', out);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toBe(`wrote ${out}: release #3, 2 items (md)\n`);
    const report = { stdout: fs.readFileSync(out, 'utf8') };
    expect(report.stdout).toMatch(/^# Release #3: web v2 -> v1/);
    expect(report.stdout).toContain('## Rollback Plan / Manual Rollback Steps');
    expect(report.stdout).toMatch(
      new RegExp(
        `\\*\\*Verify rollback success\\*\\* \\(passed;.*\n {2}- .*signed by ${TEST_USER} \\(orders page checked\\)`,
      ),
    );
    const unwritable = await s.cli('checklist', 'export', '--out', path.join(s.dir, 'no', 'such', 'dir.md'));
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toMatch(/cannot write .*dir\.md: ENOENT/);
    await waitFor('v1 stays stable', async () => (await s!.status()).stable === 'v1');
  });
});
