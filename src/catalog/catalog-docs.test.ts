import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { catalogSchema } from '../config/catalog-schema.js';
import { catalogDocs, writeDocs } from './catalog-docs.js';
import {
  type CatalogService,
  dataFlowGraph,
  dependencyGraph,
  readStamp,
  serviceHash,
  stampOf,
} from './model.js';
import { mermaidSource } from './mermaid.js';
import { svgDiagram, xmlText } from './svg-diagram.js';

const out = await mkdtemp(path.join(tmpdir(), 'shipcheck-catalog-docs-'));
afterAll(async () => rm(out, { recursive: true, force: true }));

function service(name: string, catalog: unknown): CatalogService {
  return { service: name, file: `/srv/${name}.yaml`, dir: '/srv', catalog: catalogSchema.parse(catalog) };
}

const SERVICES: CatalogService[] = [
  service('web', {
    owner: 'ana',
    tier: 1,
    dependencies: [
      { name: 'orders-db', kind: 'database', url: 'postgres://db:5432/orders', critical: true },
      { name: 'api', kind: 'service' },
      { name: 'Pay <&> "Co"', kind: 'api', url: 'https://pay.example' },
    ],
    dataFlows: [
      { from: 'web', to: 'orders-db', data: 'orders & refunds' },
      { from: 'web', to: 'Pay <&> "Co"', data: 'card <tokens>' },
    ],
    runbooks: [{ title: 'Restart', file: 'runbooks/restart.md' }],
    contacts: [{ user: 'ana' }],
  }),
  service('api', {
    dependencies: [{ name: 'redis', kind: 'cache' }],
    dataFlows: [{ from: 'api', to: 'redis', data: 'sessions' }],
  }),
  service('batch', undefined),
];

/**
 * A small XML well-formedness check: every tag closes in order, attributes are quoted, no text holds
 * a raw `<` or an `&` that starts no entity. Returns the element names in document order.
 */
function xmlElements(xml: string): string[] {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  const names: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let at = 0;
  while (at < body.length) {
    token.lastIndex = at;
    const m = token.exec(body);
    if (!m) throw new Error(`not well-formed at ${at}: ${body.slice(at, at + 40)}`);
    at = token.lastIndex;
    const [, closing, name, attrs, selfClosing, text] = m;
    if (text !== undefined) {
      if (/&(?!#\d+;|[a-z]+;)/.test(text)) throw new Error(`a bare & in text: ${text}`);
      continue;
    }
    if (attrs && /&(?!#\d+;|[a-z]+;)/.test(attrs)) throw new Error(`a bare & in attributes of ${name}`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      names.push(name ?? '');
      if (!selfClosing) stack.push(name ?? '');
    }
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
  return names;
}

/** The texts of an SVG's <text> elements, entities decoded. */
function svgTexts(xml: string): string[] {
  return [...xml.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    (m[1] ?? '').replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code))),
  );
}

describe('the catalog diagrams', () => {
  it('draw every service and dependency once, joining a service dependency with the service', () => {
    const graph = dependencyGraph(SERVICES);
    expect(graph.nodes.map((n) => `${n.id} ${n.label} ${n.kind}`)).toEqual([
      'n0 api self',
      'n1 batch self',
      'n2 orders-db database',
      'n3 Pay <&> "Co" api',
      'n4 redis cache',
      'n5 web self',
    ]);
    expect(graph.edges).toEqual([
      { from: 'n0', to: 'n4', label: '' },
      { from: 'n5', to: 'n0', label: '' },
      { from: 'n5', to: 'n2', label: 'critical' },
      { from: 'n5', to: 'n3', label: '' },
    ]);
  });

  it('write Mermaid flowcharts with labels escaped and the stamp first', () => {
    const stamp = 'shipcheck-catalog: 0123456789abcdef web=1111111111111111';
    const source = mermaidSource(dataFlowGraph(SERVICES), stamp);
    expect(source).toBe(
      [
        `%% ${stamp}`,
        '%% Data flows',
        'flowchart LR',
        '  n0(["api"])',
        '  n1[("orders-db")]',
        '  n2{{"Pay #60;#38;#62; #34;Co#34;"}}',
        '  n3[["redis"]]',
        '  n4(["web"])',
        '  n0 -->|"sessions"| n3',
        '  n4 -->|"orders #38; refunds"| n1',
        '  n4 -->|"card #60;tokens#62;"| n2',
        '',
      ].join('\n'),
    );
  });

  it('lay out SVG with ELK: well-formed, every label present and escaped, no script or outside reference', async () => {
    for (const graph of [dependencyGraph(SERVICES), dataFlowGraph(SERVICES)]) {
      const svg = await svgDiagram(graph, 'shipcheck-catalog: 0123456789abcdef');
      const elements = xmlElements(svg);
      expect(elements[0]).toBe('svg');
      expect(elements).not.toContain('script');
      expect(elements).not.toContain('foreignObject');
      expect(elements).toContain('polyline');
      expect(svg).not.toMatch(/href|javascript:|on[a-z]+=|url\((?!#arrow\))/i);
      const texts = svgTexts(svg);
      for (const node of graph.nodes) expect(texts).toContain(node.label);
      for (const edge of graph.edges.filter((e) => e.label)) expect(texts).toContain(edge.label);
      expect(readStamp(svg)?.hash).toBe('0123456789abcdef');
      // Every node lies inside the drawing.
      const [, width, height] = /viewBox="0 0 (\d+) (\d+)"/.exec(svg) ?? [];
      for (const rect of svg.matchAll(
        /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" rx/g,
      )) {
        expect(Number(rect[1]) + Number(rect[3])).toBeLessThanOrEqual(Number(width));
        expect(Number(rect[2]) + Number(rect[4])).toBeLessThanOrEqual(Number(height));
      }
    }
  });

  it('escape XML text and drop the control characters XML does not allow', () => {
    expect(xmlText('a\u0001<b & "c"\'\td')).toBe('a&#60;b &#38; &#34;c&#34;&#39;\td');
  });

  it('write the same bytes for the same config, stamped with each service hash', async () => {
    const first = await catalogDocs(SERVICES, out);
    const second = await catalogDocs(SERVICES, out);
    expect(second).toEqual(first);
    expect(first.map((f) => f.name)).toEqual([
      'dependencies.mmd',
      'dependencies.svg',
      'data-flow.mmd',
      'data-flow.svg',
      'index.md',
      'services/web.md',
      'services/api.md',
      'services/batch.md',
    ]);
    const stamp = stampOf(SERVICES);
    for (const file of first) {
      const recorded = readStamp(file.content);
      if (file.name.startsWith('services/')) {
        const name = path.basename(file.name, '.md');
        expect(recorded?.services).toEqual({ [name]: stamp.services[name] });
      } else expect(recorded).toEqual(stamp);
    }
    // A change to one service changes its hash and the whole catalog's, and no other service's.
    const changed = [
      { ...SERVICES[0]!, catalog: { ...SERVICES[0]!.catalog!, tier: 2 as const } },
      ...SERVICES.slice(1),
    ];
    expect(serviceHash(changed[0]!)).not.toBe(stamp.services.web);
    expect(stampOf(changed).services.api).toBe(stamp.services.api);
    expect(stampOf(changed).hash).not.toBe(stamp.hash);
    // docsDir moves files and changes nothing drawn.
    expect(
      serviceHash({ ...SERVICES[1]!, catalog: { ...SERVICES[1]!.catalog!, docsDir: 'elsewhere' } }),
    ).toBe(stamp.services.api);
  });

  it('write a page per service with its owner, dependencies, runbooks and links to the diagrams', async () => {
    const written = await writeDocs(out, await catalogDocs(SERVICES, out));
    expect(written).toHaveLength(8);
    const page = await readFile(path.join(out, 'services', 'web.md'), 'utf8');
    expect(page).toContain('- **Owner:** ana');
    expect(page).toContain('- orders-db (database, critical): postgres://db:5432/orders');
    expect(page).toContain('- [api](api.md) (service)');
    expect(page).toContain('- Pay \\<&\\> "Co" (api): https://pay.example');
    expect(page).toContain(
      `- [Restart](${path.relative(path.join(out, 'services'), '/srv/runbooks/restart.md')})`,
    );
    expect(page).toContain('- Dependencies: [SVG](../dependencies.svg), [Mermaid](../dependencies.mmd)');
    const index = await readFile(path.join(out, 'index.md'), 'utf8');
    expect(index).toContain('| [batch](services/batch.md) |  |  |  | 0 | 0 |');
    expect(index).toContain('- web → orders-db (critical)');
    expect(index).toContain('- web → orders-db (orders & refunds)');
    expect(index).toContain('- web → Pay \\<&\\> "Co" (card \\<tokens\\>)');
  });
});
