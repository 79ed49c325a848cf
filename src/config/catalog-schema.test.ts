import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadInstallation } from './installation.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-catalog-schema-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = `service: web
fleet: { kind: local, command: "true" }
oncall:
  schedules:
    - { name: primary, timeZone: UTC, layers: [{ name: all, users: [ana], start: '2026-01-05T00:00', turn: weekly }] }
`;

/** The problems of a service file, or [] when it loads. */
async function problems(text: string, file = 'shipcheck.yaml'): Promise<string[]> {
  await writeFile(path.join(dir, file), text);
  try {
    await loadInstallation(path.join(dir, file));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => p.replace(`${dir}${path.sep}`, ''));
  }
}

describe('the catalog block', () => {
  it('loads a whole catalog with defaults filled in', async () => {
    await writeFile(
      path.join(dir, 'shipcheck.yaml'),
      `${HEAD}catalog:
  owner: ana
  team: shop
  tier: critical
  dependencies:
    - { name: orders-db, kind: database, url: "postgres://db:5432/orders", critical: true }
    - { name: Stripe, kind: api }
  dataFlows:
    - { from: web, to: orders-db, data: orders }
    - { from: stripe, to: web, data: payment results }
  runbooks:
    - { title: Restart, file: runbooks/restart.md }
    - { title: Wiki, url: "https://wiki.example.com/web" }
  contacts: [{ user: ana }, { schedule: primary }]
`,
    );
    const installation = await loadInstallation(path.join(dir, 'shipcheck.yaml'));
    const catalog = installation.services[0]?.config.catalog;
    expect(catalog?.dependencies).toEqual([
      { name: 'orders-db', kind: 'database', url: 'postgres://db:5432/orders', critical: true },
      { name: 'Stripe', kind: 'api', critical: false },
    ]);
    expect(catalog?.tier).toBe('critical');
    expect(catalog?.contacts).toEqual([{ user: 'ana' }, { schedule: 'primary' }]);
  });

  it('is absent unless written, so requires: [catalog] leaves the items to a person', async () => {
    await writeFile(path.join(dir, 'shipcheck.yaml'), HEAD);
    const installation = await loadInstallation(path.join(dir, 'shipcheck.yaml'));
    expect(installation.services[0]?.config.catalog).toBeUndefined();
  });

  it('points at duplicate names and runbooks with both or neither of file and url', async () => {
    expect(
      await problems(`${HEAD}catalog:
  dependencies:
    - { name: cache, kind: cache }
    - { name: Cache, kind: database }
  runbooks:
    - { title: Restart }
    - { title: Both, file: a.md, url: "https://x.example" }
    - { title: restart, url: "https://x.example" }
`),
    ).toEqual([
      'shipcheck.yaml:9:15: catalog.dependencies[1].name: dependency "Cache" is also dependency 1; give each its own name, got "Cache"',
      'shipcheck.yaml:11:7: catalog.runbooks[0]: give the runbook a file or a url',
      'shipcheck.yaml:12:39: catalog.runbooks[1].url: give the runbook a file or a url, not both, got "https://x.example"',
      'shipcheck.yaml:13:16: catalog.runbooks[2].title: runbook "restart" is also runbook 1; give each its own title, got "restart"',
    ]);
  });

  it('says what a dependency kind and a tier may be', async () => {
    expect(
      await problems(`${HEAD}catalog:
  dependencies:
    - { name: q, kind: bus }
  tier: 7
`),
    ).toEqual([
      'shipcheck.yaml:8:24: catalog.dependencies[0].kind: expected one of service, database, cache, queue, api, other, got "bus"',
      'shipcheck.yaml:9:9: catalog.tier: must be at most 3, got 7',
    ]);
  });

  it('points at data flows naming unknown nodes, unknown services and unknown schedules', async () => {
    expect(
      await problems(`${HEAD}catalog:
  dependencies:
    - { name: orders-db, kind: database }
    - { name: billing, kind: service }
  dataFlows:
    - { from: web, to: orders-db, data: orders }
    - { from: web, to: warehouse, data: picks }
  contacts:
    - { schedule: nights }
`),
    ).toEqual([
      'shipcheck.yaml:9:9: catalog.dependencies[1]: no service is named "billing"; the installation runs "web" (use another kind for something shipcheck does not run)',
      'shipcheck.yaml:12:20: catalog.dataFlows[1].to: "warehouse" is neither this service, one of its dependencies ("orders-db", "billing") nor a service of the installation; add it to dependencies',
      'shipcheck.yaml:14:9: catalog.contacts[0]: no on-call schedule is named "nights"; the schedules are "primary"',
    ]);
  });

  it('lets a data flow and a service dependency name another service of a control plane', async () => {
    await writeFile(
      path.join(dir, 'shipcheck.yaml'),
      'store: sqlite:state.db\nservices: [web.yaml, api.yaml]\n',
    );
    await writeFile(
      path.join(dir, 'web.yaml'),
      `service: web
fleet: { kind: local, command: "true" }
catalog:
  dependencies: [{ name: api, kind: service, critical: true }]
  dataFlows: [{ from: web, to: api, data: carts }]
`,
    );
    await writeFile(
      path.join(dir, 'api.yaml'),
      'service: api\nfleet: { kind: local, command: "true" }\ntraffic: { kind: proxy, listen: "127.0.0.1:8081" }\n',
    );
    const installation = await loadInstallation(path.join(dir, 'shipcheck.yaml'));
    expect(installation.services.map((s) => s.config.catalog?.dependencies.length ?? 0)).toEqual([1, 0]);
  });
});
