/**
 * The demo's catalog part: the demo service's `catalog:` block (its SQLite database, the Varnish
 * cache when there is one, a payment API, two data flows, runbook files written into the demo
 * folder), `shipcheck docs` run on it, and the default template's Documentation items run against
 * the running control plane's store, the way the scheduler runs them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { catalogDocs, defaultDocsDir, writeDocs } from '../../catalog/catalog-docs.js';
import { catalogServices } from '../../catalog/model.js';
import { checkKinds } from '../../checklist/kinds/index.js';
import { configuredIn, loadTemplate, resolveItems } from '../../checklist/template.js';
import { loadInstallation } from '../../config/installation.js';
import type { ControlPlane } from '../../control-plane.js';
import { systemClock } from '../../util/clock.js';
import type { Io } from '../target.js';

/** The demo service's catalog, as config lines; the cache is listed when the demo runs Varnish. */
export function demoCatalogConfig(cacheUrl: string | undefined, oncall: string): string {
  return `catalog:
  owner: ${oncall}
  team: shop
  tier: 1
  description: The demo shop, a sample app behind the built-in proxy.
  dependencies:
    - { name: orders-db, kind: database, url: "sqlite:app.db", critical: true }
${cacheUrl ? `    - { name: varnish, kind: cache, url: "${cacheUrl}" }\n` : ''}    - { name: payments, kind: api, url: "https://payments.demo.example" }
  dataFlows:
    - { from: demo, to: orders-db, data: orders }
    - { from: demo, to: payments, data: card tokens, description: "tokens only, never card numbers" }
  runbooks:
    - { title: Restart the shop, file: runbooks/restart.md }
    - { title: Roll back a release, file: runbooks/rollback.md }
  contacts: [{ schedule: primary }, { user: ${oncall} }]
`;
}

const RUNBOOKS: Record<string, string> = {
  'restart.md': `# Restart the shop

1. \`shipcheck status\`: note the stable version.
2. \`shipcheck deploy <stable version> --wait\`: new instances replace the old ones one step at a time.
3. Watch the error rate on the release page until it ends.
`,
  'rollback.md': `# Roll back a release

- \`shipcheck rollback\` sends all traffic back to the stable version at once.
- With \`rollback.migrations: down\` the release's migrations are undone.
`,
};

/**
 * Writes the runbooks, generates the docs, runs the Documentation items, and prints the dashboard's
 * catalog page. `expect` records what must hold.
 */
export async function showCatalog(
  plane: ControlPlane,
  file: string,
  expect: (ok: boolean, what: string) => void,
  io: Io,
): Promise<void> {
  const dir = path.dirname(file);
  fs.mkdirSync(path.join(dir, 'runbooks'), { recursive: true });
  for (const [name, text] of Object.entries(RUNBOOKS))
    fs.writeFileSync(path.join(dir, 'runbooks', name), text);

  io.out('');
  io.out('== shipcheck docs');
  const installation = await loadInstallation(file);
  const outDir = defaultDocsDir(installation);
  const written = await writeDocs(outDir, await catalogDocs(catalogServices(installation), outDir));
  io.out(`  wrote ${written.map((f) => path.relative(dir, f)).join(', ')}`);
  expect(
    ['dependencies.svg', 'data-flow.svg', 'dependencies.mmd', 'data-flow.mmd'].every((name) =>
      fs.existsSync(path.join(outDir, name)),
    ),
    'the dependency and data-flow diagrams were written as Mermaid and SVG',
  );

  // The Documentation items of the default template, run now against the running store.
  const loaded = installation.services[0];
  const unit = plane.units[0];
  if (!loaded || !unit) return;
  const { config } = loaded;
  const kinds = checkKinds();
  const template = await loadTemplate(config.checklist.template, { configDir: dir, kinds });
  const checklistItems = resolveItems(template, {
    vars: config.checklist.vars,
    configured: configuredIn(config),
  });
  const items = checklistItems.filter((item) => item.kind === 'catalog' && item.automated);
  const kind = kinds.get('catalog');
  if (!kind) return;
  const results: boolean[] = [];
  for (const item of items) {
    const result = await kind.run(kind.params.parse(item.params), {
      service: config.service,
      version: '',
      fromVersion: null,
      proxyUrl: unit.proxyUrl,
      configDir: dir,
      metrics: unit.metricSource,
      instances: (version) => unit.fleet.instances(version),
      envOf: () => ({}),
      config,
      clock: systemClock,
      signal: AbortSignal.timeout(30_000),
      store: plane.store,
      checklistItems,
    });
    io.out(`  [${result.ok ? 'passed' : 'failed'}] ${item.title}: ${result.summary}`);
    results.push(result.ok);
  }
  expect(
    items.length === 6 && results.every(Boolean),
    `the ${items.length} Documentation items passed: diagrams current, dependencies listed, runbooks found, contacts reachable`,
  );
  io.out(`  catalog in the dashboard: ${plane.apiUrl}/catalog`);
}
