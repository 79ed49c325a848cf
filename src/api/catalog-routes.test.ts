import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInstallation } from '../config/installation.js';
import type { LoadedConfig } from '../config/loader.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { buildApi, createRegistry } from './server.js';

const RUNBOOK = `# Restart

Run \`shipcheck deploy\` again.

<script>alert("x")</script>

[wiki](https://wiki.example.com/web) [bad](javascript:alert(1)) ![diagram](https://img.example/d.png)
`;

let dir: string;
let services: LoadedConfig[];
let app: ReturnType<typeof buildApi>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-catalog-routes-'));
  await mkdir(path.join(dir, 'runbooks'));
  await writeFile(path.join(dir, 'runbooks', 'restart.md'), RUNBOOK);
  await writeFile(
    path.join(dir, 'shipcheck.yaml'),
    `service: web
fleet: { kind: local, command: "true" }
catalog:
  owner: ana
  tier: 1
  dependencies:
    - { name: orders-db, kind: database, critical: true, url: "postgres://app:hunter2@db.internal/shop" }
  dataFlows:
    - { from: web, to: orders-db, data: "orders <&>" }
  runbooks:
    - { title: Restart, file: runbooks/restart.md }
    - { title: Wiki, url: "https://wiki.example.com/web" }
    - { title: Gone, file: runbooks/gone.md }
`,
  );
  services = (await loadInstallation(path.join(dir, 'shipcheck.yaml'))).services;
  const store = SqliteStore.open(':memory:');
  app = buildApi({
    engines: new Map(),
    store,
    logger: pino({ level: 'silent' }),
    registry: createRegistry(),
    web: null,
    catalog: () => services,
  });
  app.addHook('onClose', async () => store.close());
});
afterAll(async () => {
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the catalog routes', () => {
  it('list every service catalog with the diagrams as Mermaid and as edges', async () => {
    const res = await app.inject('/api/v1/catalog');
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      catalog: string;
      services: {
        service: string;
        catalog: { owner: string };
        runbooks: { title: string; kind: string }[];
      }[];
      diagrams: Record<string, { svg: string; mermaid: string; edges: string[] }>;
    }>();
    expect(body.catalog).toMatch(/^[0-9a-f]{16}$/);
    expect(body.services[0]?.catalog.owner).toBe('ana');
    expect(JSON.stringify(body)).not.toContain('hunter2');
    expect(body.services[0]?.runbooks.map((r) => `${r.title} ${r.kind}`)).toEqual([
      'Restart file',
      'Wiki url',
      'Gone file',
    ]);
    expect(body.diagrams.dependencies?.edges).toEqual(['web → orders-db (critical)']);
    expect(body.diagrams['data-flow']?.edges).toEqual(['web → orders-db (orders <&>)']);
    expect(body.diagrams['data-flow']?.mermaid).toContain('flowchart LR');
    expect(body.diagrams.dependencies?.svg).toBe('/api/v1/catalog/diagrams/dependencies.svg');
  });

  it('serve each diagram as SVG under a CSP that allows no script, and 404 for any other name', async () => {
    for (const name of ['dependencies', 'data-flow']) {
      const res = await app.inject(`/api/v1/catalog/diagrams/${name}.svg`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
      expect(res.headers['content-security-policy']).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; sandbox",
      );
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.body).toMatch(/^<\?xml/);
      expect(res.body).toContain('>orders-db</text>');
      expect(res.body).not.toContain('<script');
    }
    expect((await app.inject('/api/v1/catalog/diagrams/dependencies.png')).statusCode).toBe(404);
    expect((await app.inject('/api/v1/catalog/diagrams/other.svg')).statusCode).toBe(404);
  });

  it('render a file runbook with raw HTML escaped and unsafe links dropped, and a URL runbook as a link', async () => {
    const list = await app.inject('/api/v1/services/web@production/runbooks');
    expect(list.statusCode).toBe(200);
    expect(list.json<{ runbooks: unknown[] }>().runbooks).toHaveLength(3);

    const file = await app.inject('/api/v1/services/web/runbooks/0');
    expect(file.statusCode).toBe(200);
    const html = file.json<{ runbook: { html: string } }>().runbook.html;
    expect(html).toContain('<h1>Restart</h1>');
    expect(html).toContain('<code>shipcheck deploy</code>');
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
    expect(html).not.toMatch(/<script|javascript:|<img/);
    expect(html).toContain('<a href="https://wiki.example.com/web" rel="noopener noreferrer">wiki</a>');
    expect(html).toContain('<a href="https://img.example/d.png" rel="noopener noreferrer">diagram</a>');

    const url = await app.inject('/api/v1/services/web/runbooks/1');
    expect(url.json<{ runbook: { html: string } }>().runbook.html).toBe(
      '<p><a href="https://wiki.example.com/web" rel="noopener noreferrer">Wiki</a></p>',
    );
    const gone = await app.inject('/api/v1/services/web/runbooks/2');
    expect(gone.json<{ runbook: { error: string } }>().runbook.error).toMatch(/^runbooks\/gone\.md: ENOENT/);
  });

  it('answer 400 for a bad index and 404 for an unknown service or runbook', async () => {
    const bad = await app.inject('/api/v1/services/web/runbooks/first');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/is not an index/);
    expect((await app.inject('/api/v1/services/web/runbooks/9')).statusCode).toBe(404);
    expect((await app.inject('/api/v1/services/shop/runbooks')).statusCode).toBe(404);
  });
});
