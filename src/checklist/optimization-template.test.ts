import { describe, expect, it } from 'vitest';
import { templateFolder } from '../../test/support/template-files.js';
import { checkKinds } from './kinds/index.js';
import { resolveItems } from './template-resolver.js';

const { write, load } = templateFolder();

/** The extension file docs/checklist.md shows for the optimization items. */
const EXTENSION = `name: payments
extends: default
items:
  - id: performance/optimization/query-snapshot
    section: Performance / Optimization
    title: Query statistics before the release
    kind: queries
    gate: pre-deploy
    params: { phase: before }
    requires: [migrations.database]
  - id: performance/optimization/cdn-configuration
    section: Performance / Optimization
    title: CDN configuration
    kind: cache
    gate: scheduled
    params:
      urls:
        - { url: 'https://cdn.example.com/assets/app.js', expect: public, maxAge: 1d }
        - { url: /account, expect: private }
      varnish: { name: /var/lib/varnish/edge, minHitRatio: 90% }
`;

const OPTIMIZATION = 'performance/optimization/';

describe('the optimization items', () => {
  it('are automated in the default template once their keys and vars are set, and sign-offs before', async () => {
    const template = await load('default', checkKinds());
    const items = template.items.filter((item) => item.id.startsWith(OPTIMIZATION));
    expect(items.map((item) => [item.id, item.kind, item.gate, item.requires])).toEqual([
      [`${OPTIMIZATION}query-optimization`, 'queries', 'scheduled', ['migrations.database']],
      [`${OPTIMIZATION}caching-strategy`, 'cache', 'scheduled', undefined],
      [`${OPTIMIZATION}cdn-configuration`, 'cache', 'scheduled', ['cdn']],
    ]);

    const none = resolveItems(template, { vars: {}, configured: () => false }).filter((item) =>
      item.id.startsWith(OPTIMIZATION),
    );
    expect(none.map((item) => [item.kind, item.hint])).toEqual([
      [
        'manual',
        'automated once "migrations.database" is configured; review the slowest queries (slow query log or pg_stat_statements)',
      ],
      [
        'manual',
        'set checklist.vars.cacheUrls to automate; review cache hit ratios and what is cached for how long',
      ],
      ['manual', `automated once "cdn" is configured; review the CDN's cache rules and hit ratio`],
    ]);

    const all = resolveItems(template, {
      vars: { cacheUrls: '/, https://cdn.example.com/app.js' },
      configured: () => true,
    }).filter((item) => item.id.startsWith(OPTIMIZATION));
    expect(all.map((item) => [item.kind, item.params])).toEqual([
      ['queries', {}],
      ['cache', { urls: ['/', 'https://cdn.example.com/app.js'] }],
      ['cache', { varnish: { minHitRatio: 0.8 } }],
    ]);
  });

  it('load as docs/checklist.md extends them', async () => {
    await write('checklist.yaml', EXTENSION);
    const template = await load('checklist.yaml', checkKinds());
    const items = template.items.filter((item) => item.id.startsWith(OPTIMIZATION));
    expect(items.map((item) => [item.id, item.gate])).toEqual([
      [`${OPTIMIZATION}query-optimization`, 'scheduled'],
      [`${OPTIMIZATION}caching-strategy`, 'scheduled'],
      [`${OPTIMIZATION}cdn-configuration`, 'scheduled'],
      [`${OPTIMIZATION}query-snapshot`, 'pre-deploy'],
    ]);
  });
});
