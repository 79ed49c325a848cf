import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';
import { Scenario, runCli, waitFor } from './harness.js';

async function withEnvironments(): Promise<Scenario> {
  const staging = await freePort();
  const production = await freePort();
  return Scenario.create({
    instances: 2,
    steps: '[{setWeight: 50}, {pause: 500ms}]',
    extra: `environments:
  staging:
    fleet: { instances: 1 }
    traffic: { listen: 127.0.0.1:${staging} }
  production:
    traffic: { listen: 127.0.0.1:${production} }
`,
  });
}

describe('environments in promotion order', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('promotes a version through staging before production, each with its own fleet and proxy', async () => {
    // Given a service with staging, then production
    s = await withEnvironments();
    await s.up();

    // When v1 goes to production first, it is blocked: it has not succeeded in staging
    expect((await s.cli('deploy', 'v1', '--env', 'production')).code).toBe(0);
    await waitFor('blocked', async () => {
      const status = JSON.parse((await s!.cli('status', '--env', 'production', '--json')).stdout) as {
        release: { reason: string | null };
      };
      return /^blocked at the pre-deploy gate/.test(status.release.reason ?? '');
    });
    const blocked = JSON.parse((await s.cli('checklist', '--env', 'production', '--json')).stdout) as {
      items: { id: string; state: string; evidence: { summary: string }[] }[];
    };
    expect(blocked.items[0]).toMatchObject({
      id: 'pre-deployment/promotion/succeeded-in-staging',
      state: 'failed',
    });
    expect(blocked.items[0]!.evidence[0]!.summary).toBe(
      'v1 has not been deployed to staging; deploy it there first (shipcheck deploy v1 --env staging)',
    );
    expect((await s.cli('abort', '--env', 'production')).code).toBe(0);

    // When it goes to staging, then to production
    const staged = await s.cli('deploy', 'v1', '--env', 'staging', '--wait');
    expect(staged.code, staged.stdout + staged.stderr).toBe(0);
    const promoted = await s.cli('deploy', 'v1', '--env', 'production', '--wait');
    expect(promoted.code, promoted.stdout + promoted.stderr).toBe(0);

    // Then each environment has v1 stable on its own instances, and production kept the evidence
    const production = JSON.parse((await s.cli('status', '--env', 'production', '--json')).stdout) as {
      service: string;
      environment: string;
      stable: string;
    };
    expect(production).toMatchObject({ service: 'web', environment: 'production', stable: 'v1' });
    expect(s.processCounts()).toEqual({ v1: 3 });
    const evidence = JSON.parse((await s.cli('checklist', '--env', 'production', '--json')).stdout) as {
      items: { id: string; state: string; evidence: { summary: string }[] }[];
    };
    expect(evidence.items.map((i) => [i.id, i.state])).toEqual([
      ['pre-deployment/promotion/succeeded-in-staging', 'passed'],
      ['pre-deployment/promotion/migrations-rehearsed-on-staging', 'passed'],
    ]);
    expect(evidence.items[0]!.evidence.at(-1)!.summary).toMatch(/^v1 succeeded in staging \(release #2/);

    // And a command without --env says which environments there are
    const ambiguous = await s.cli('status');
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/"web" has environments, pass --env \(web@staging, web@production\)/);
  });

  it('reports a bad environment override at its own line', async () => {
    s = await withEnvironments();
    fs.appendFileSync(s.file, '  qa:\n    fleet: { instances: none }\n    server: { listen: 1 }\n');
    const result = await runCli(['validate', '-c', s.file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/:\d+:5: environments.qa: "server" is shared by every environment/);
    const wrongType = fs.readFileSync(s.file, 'utf8').replace('    server: { listen: 1 }\n', '');
    fs.writeFileSync(s.file, wrongType);
    const typed = await runCli(['validate', '-c', s.file]);
    expect(typed.stderr).toMatch(
      /:\d+:\d+: environments.qa: fleet.instances: expected a number, got string "none"/,
    );
  });
});
