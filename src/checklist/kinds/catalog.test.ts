import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../../test/support/check-context.js';
import { catalogDocs, writeDocs } from '../../catalog/catalog-docs.js';
import { catalogServices } from '../../catalog/model.js';
import { configSchema, type Config } from '../../config/schema.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { configuredIn, loadTemplate, resolveItems } from '../template.js';
import { checkKinds } from './index.js';
import { ManualClock } from '../../util/clock.js';
import { catalogCheck } from './catalog.js';

const NOW = Date.parse('2026-12-07T09:00:00Z');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-catalog-kind-'));
let server: http.Server;
/** A peer that takes each connection and closes it at once: a runbook host that is down. */
let closer: net.Server;
let closed = '';
let base = '';
let store: SqliteStore;

beforeAll(async () => {
  // A real server for runbook URLs: HEAD answered, HEAD refused but GET answered, and a missing page.
  server = http.createServer((req, res) => {
    if (req.url === '/runbook') res.writeHead(200).end();
    else if (req.url === '/get-only') res.writeHead(req.method === 'HEAD' ? 405 : 200).end('ok');
    else if (req.url === '/moved') res.writeHead(302, { location: '/runbook' }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closer = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
  closed = `http://127.0.0.1:${(closer.address() as AddressInfo).port}/runbook`;
  store = SqliteStore.open(path.join(dir, 'state.db'));
  await store.migrate();
  for (const name of ['ana', 'bo', 'cy', 'dee']) {
    const user = await store.security.createUser({
      name,
      email: null,
      passwordHash: null,
      grants: [{ role: 'viewer', environment: '*' }],
      groups: [],
      source: 'local',
      subject: null,
      createdAt: NOW,
    });
    // ana and cy have a way to be reached; dee has one but is disabled; bo has none.
    if (name !== 'bo')
      await store.notifications.contacts.add(
        { userId: user.id, type: 'email', shown: `${name}@example.com` },
        () => 'sealed',
        NOW,
      );
    if (name === 'dee') await store.security.updateUser(user.id, { disabledAt: NOW }, NOW);
  }
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await new Promise((resolve) => closer.close(resolve));
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function config(extra: Record<string, unknown>): Config {
  return configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, ...extra });
}

async function run(check: string, cfg: Config, configDir = dir) {
  // The unit's checklist, as unit.ts resolves it for the check context.
  const template = await loadTemplate(cfg.checklist.template, { configDir, kinds: checkKinds() });
  const checklistItems = resolveItems(template, { vars: cfg.checklist.vars, configured: configuredIn(cfg) });
  return catalogCheck.run(
    catalogCheck.params.parse({ check, timeout: '2s' }),
    contextFor({ config: cfg, configDir, store, clock: new ManualClock(NOW), checklistItems }),
  );
}

describe('the catalog kind', () => {
  it('diagrams: passes on current files, says "stale" after a catalog change, and names missing files', async () => {
    const folder = fs.mkdtempSync(path.join(dir, 'svc-'));
    const catalog = { owner: 'ana', dependencies: [{ name: 'orders-db', kind: 'database' }] };
    const cfg = config({ catalog });
    const loaded = [{ config: cfg, file: path.join(folder, 'shipcheck.yaml'), dir: folder }];
    const out = path.join(folder, 'docs', 'catalog');
    await writeDocs(out, await catalogDocs(catalogServices({ services: loaded as never }), out));

    const current = await run('diagrams', cfg, folder);
    expect(current.ok, current.summary).toBe(true);
    expect(current.summary).toMatch(/are current/);

    // From a service folder below, the nearest docs/catalog above is found.
    const below = path.join(folder, 'services');
    fs.mkdirSync(below);
    expect((await run('diagrams', cfg, below)).ok).toBe(true);

    const changed = await run('diagrams', config({ catalog: { ...catalog, tier: 2 } }), folder);
    expect(changed.ok).toBe(false);
    expect(changed.summary).toMatch(/^stale: regenerate with shipcheck docs/);

    fs.rmSync(path.join(out, 'data-flow.svg'));
    const missing = await run('diagrams', cfg, folder);
    expect(missing.ok).toBe(false);
    expect(missing.summary).toMatch(/missing in .*: data-flow\.svg; generate them with shipcheck docs/);

    const elsewhere = await run('diagrams', config({ catalog: { ...catalog, docsDir: 'nowhere' } }), folder);
    expect(elsewhere.summary).toContain(path.join(folder, 'nowhere'));
  });

  it('dependencies: every database, CDN, metrics source and checklist host the config names is listed', async () => {
    const folder = fs.mkdtempSync(path.join(dir, 'deps-'));
    fs.writeFileSync(
      path.join(folder, 'checklist.yaml'),
      `name: deps
items:
  - { id: pre/cache, section: Pre, title: Cache, kind: tcp, gate: pre-deploy, params: { address: 'cache.internal:6379' } }
  - { id: pre/partner, section: Pre, title: Partner, kind: http, gate: pre-deploy, params: { url: '{{vars.partnerUrl}}' } }
  - { id: pre/self, section: Pre, title: Self, kind: http, gate: pre-deploy, params: { url: 'http://127.0.0.1:8080/healthz' } }
`,
    );
    const common = {
      migrations: { dir: 'migrations', database: 'postgres://app:secret@db.internal:5432/shop' },
      backup: { database: 'sqlite:app.db' },
      cdn: { purge: [{ url: 'http://127.0.0.1:6081/' }] },
      metrics: { kind: 'prometheus', url: 'http://prom.internal:9090' },
      checklist: { template: 'checklist.yaml', vars: { partnerUrl: 'https://partner.example/status' } },
    };
    const partial = config({
      ...common,
      catalog: {
        dependencies: [
          { name: 'orders-db', kind: 'database', url: 'postgres://db.internal/shop' },
          { name: 'varnish', kind: 'cache', url: 'http://127.0.0.1:6081' },
        ],
      },
    });
    const missing = await run('dependencies', partial, folder);
    expect(missing.ok).toBe(false);
    expect(missing.summary).toBe(
      `not in catalog.dependencies: ${path.join(folder, 'app.db')} (backup.database); prom.internal:9090 (metrics.url); cache.internal:6379 (pre/cache); partner.example:443 (pre/partner, checklist.vars.partnerUrl)`,
    );
    // Credentials never reach the evidence.
    expect(JSON.stringify(missing.data)).not.toContain('secret');

    const whole = config({
      ...common,
      catalog: {
        dependencies: [
          { name: 'orders-db', kind: 'database', url: 'postgres://db.internal/shop' },
          { name: 'app-db', kind: 'database', url: 'sqlite:app.db' },
          { name: 'varnish', kind: 'cache', url: 'http://127.0.0.1:6081' },
          { name: 'prom.internal', kind: 'other' },
          { name: 'cache', kind: 'cache', url: 'cache.internal:6379' },
          { name: 'partner', kind: 'api', url: 'https://partner.example' },
        ],
      },
    });
    const passed = await run('dependencies', whole, folder);
    expect(passed.summary).toBe('all 6 dependencies the config names are in the catalog (6 listed)');
    expect(passed.ok).toBe(true);
  });

  it('runbooks: files exist and URLs answer 2xx or 3xx, HEAD then GET; anything else fails with the reason', async () => {
    fs.writeFileSync(path.join(dir, 'restart.md'), '# Restart\n');
    const good = config({
      catalog: {
        runbooks: [
          { title: 'Restart', file: 'restart.md' },
          { title: 'Wiki', url: `${base}/runbook` },
          { title: 'Old wiki', url: `${base}/get-only` },
          { title: 'Moved', url: `${base}/moved` },
        ],
      },
    });
    const passed = await run('runbooks', good);
    expect(passed.ok, passed.summary).toBe(true);
    expect(passed.summary).toBe(
      `"Restart" restart.md exists; "Wiki" ${base}/runbook: HEAD 200; "Old wiki" ${base}/get-only: HEAD 405, GET 200; "Moved" ${base}/moved: HEAD 302`,
    );

    const bad = config({
      catalog: {
        runbooks: [
          { title: 'Gone', file: 'gone.md' },
          { title: 'Missing', url: `${base}/missing` },
          { title: 'Down', url: closed },
        ],
      },
    });
    const failed = await run('runbooks', bad);
    expect(failed.ok).toBe(false);
    expect(failed.value).toBe(3);
    expect(failed.summary).toMatch(
      /^"Gone" gone\.md: no such file; "Missing" .*\/missing: HEAD 404, GET 404; "Down" http:\/\/127\.0\.0\.1:\d+\/runbook: other side closed$/,
    );
    expect((await run('runbooks', config({ catalog: {} }))).summary).toBe('no runbooks in catalog.runbooks');
  });

  it('contacts: users must exist, be enabled and have a contact method; a schedule someone reachable on call', async () => {
    const oncall = {
      schedules: [
        {
          name: 'days',
          timeZone: 'UTC',
          layers: [{ name: 'a', users: ['ana', 'bo'], start: '2026-12-07T00:00', turn: 'daily' }],
        },
        {
          name: 'nights',
          timeZone: 'UTC',
          layers: [{ name: 'a', users: ['bo'], start: '2026-12-07T00:00', turn: 'daily' }],
        },
      ],
    };
    const good = await run(
      'contacts',
      config({ oncall, catalog: { contacts: [{ user: 'ana' }, { user: 'cy' }, { schedule: 'days' }] } }),
    );
    expect(good.summary).toBe(
      'user ana: reachable; user cy: reachable; schedule days: ana is on call and reachable',
    );
    expect(good.ok).toBe(true);

    const bad = await run(
      'contacts',
      config({
        oncall,
        catalog: { contacts: [{ user: 'bo' }, { user: 'dee' }, { user: 'zed' }, { schedule: 'nights' }] },
      }),
    );
    expect(bad.ok).toBe(false);
    expect(bad.summary).toBe(
      'user bo: user "bo" has no contact method (shipcheck user contact add); user dee: user "dee" is disabled; user zed: no user "zed"; schedule nights: user "bo" has no contact method (shipcheck user contact add)',
    );
  });

  it('fails plainly for a service without a catalog block', async () => {
    expect(await run('contacts', config({}))).toEqual({
      ok: false,
      summary: 'the service has no catalog: block',
    });
  });
});
