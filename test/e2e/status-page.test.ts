import { afterEach, describe, expect, it } from 'vitest';
import { Scenario, waitFor } from './harness.js';

/** A page of one component showing the service `web`. */
const STATUS_PAGE = `statusPage:
  name: Web status
  components:
    - { name: Website, services: [web] }
`;

interface ComponentsJson {
  components: { name: string; status: string }[];
}

describe('the status page of a running shipcheck up', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('follows the real instances, publicly, and records the outage for the uptime bar', async () => {
    // Given v1 on two instances that turn unhealthy a while after they start
    s = await Scenario.create({
      instances: 2,
      faults: { v1: { unhealthyAfterMs: 6000 } },
      extra: STATUS_PAGE,
    });
    await s.up();
    const scenario = s;
    const result = await s.cli('deploy', 'v1', '--wait');
    expect(result.code, result.stderr + result.stdout).toBe(0);

    // Then anyone reads the page and its JSON without signing in, and sees the outage once it comes
    const publicJson = async (): Promise<ComponentsJson> =>
      (await (await fetch(`${scenario.apiUrl}/api/v2/components.json`)).json()) as ComponentsJson;
    await waitFor('the Website component to show an outage', async () =>
      ['partial_outage', 'major_outage'].includes((await publicJson()).components[0]?.status ?? ''),
    );
    const page = await fetch(`${s.apiUrl}/status`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Website');
    // The admin routes need a credential
    expect((await fetch(`${s.apiUrl}/api/v1/status-page/components`)).status).toBe(401);
    const admin = (await (await s.api('/api/v1/status-page/components')).json()) as {
      components: { units: string[] }[];
    };
    expect(admin.components[0]?.units).toEqual(['web']);

    // And the timer of shipcheck up records it: the uptime bar's day says so
    await waitFor('the outage in the uptime bar', async () =>
      /title="\d{4}-\d{2}-\d{2}: [\d.]+% up, worst (partial|major) outage"/.test(
        await (await fetch(`${scenario.apiUrl}/status`)).text(),
      ),
    );

    // When a deployer overrides it from the CLI, the public JSON shows the override
    const set = await s.cli('statuspage', 'set', 'Website', 'operational', '--until', '1h');
    expect(set.code, set.stderr).toBe(0);
    expect((await publicJson()).components[0]?.status).toBe('operational');
    const listed = await s.cli('statuspage', 'components');
    expect(listed.stdout).toMatch(/Website\s+operational\s+(partial|major)_outage\s+operational by /);
  });
});
