/**
 * `shipcheck docs`' output, computed from the config alone: the dependency and data-flow diagrams
 * (Mermaid source and SVG), a markdown page per service and an index. Every file records the
 * catalog's stamp in a comment (model.ts), so the `catalog` check can tell a stale file. Same config
 * and folder, same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from '../config/loader.js';
import { mermaidSource } from './mermaid.js';
import {
  type CatalogService,
  DIAGRAMS,
  type DiagramName,
  edgeSentences,
  graphOf,
  stampLine,
  stampOf,
} from './model.js';
import { runbookList, runbookPath } from './runbooks.js';
import { svgDiagram } from './svg-diagram.js';
import { redactUrl } from '../util/redact.js';

/** Where `shipcheck docs` writes when given no folder: docs/catalog beside the installation's file. */
export const DEFAULT_DOCS_DIR = path.join('docs', 'catalog');

/** One generated file: its path relative to the output folder, and its text. */
export interface DocFile {
  name: string;
  content: string;
}

/** The diagram's file names: `dependencies.mmd`, `dependencies.svg`. */
export function diagramFiles(name: DiagramName): [string, string] {
  return [`${name}.mmd`, `${name}.svg`];
}

/** A service page's file name. */
export function servicePage(service: string): string {
  return `services/${service}.md`;
}

const TITLES: Record<DiagramName, string> = { dependencies: 'Dependencies', 'data-flow': 'Data flows' };

/**
 * The folder the docs go to: the `catalog.docsDir` the services name (resolved against each service
 * file), when they all name one and the same; else docs/catalog beside the installation's file.
 */
export function defaultDocsDir(installation: { dir: string; services: readonly LoadedConfig[] }): string {
  const named = new Set(
    installation.services.flatMap((s) =>
      s.config.catalog?.docsDir === undefined ? [] : [path.resolve(s.dir, s.config.catalog.docsDir)],
    ),
  );
  const [only] = named;
  return named.size === 1 && only !== undefined ? only : path.join(installation.dir, DEFAULT_DOCS_DIR);
}

/** Markdown text: the characters markdown reads as markup escaped. */
function md(text: string): string {
  return text.replace(/[\\`*_{}[\]<>|]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
}

/** A link target: spaces and parentheses encoded so the link stays one. */
function target(href: string): string {
  return href.replace(/[ ()<>]/g, (c) => encodeURIComponent(c));
}

function posix(p: string): string {
  return p.split(path.sep).join('/');
}

function servicePageText(service: CatalogService, outDir: string): string {
  const c = service.catalog;
  const stamp = stampLine(stampOf([service]));
  const lines = [`<!-- ${stamp} -->`, `# ${md(service.service)}`, ''];
  if (!c) {
    lines.push('This service has no `catalog:` block yet.', '');
  } else {
    if (c.description) lines.push(md(c.description), '');
    lines.push(`- **Owner:** ${c.owner ? md(c.owner) : 'not set'}`);
    lines.push(`- **Team:** ${c.team ? md(c.team) : 'not set'}`);
    lines.push(`- **Tier:** ${c.tier === undefined ? 'not set' : md(String(c.tier))}`, '');
    lines.push('## Dependencies', '');
    if (c.dependencies.length === 0) lines.push('None listed.');
    for (const d of c.dependencies) {
      const link = d.kind === 'service' ? `[${md(d.name)}](${target(`${d.name}.md`)})` : md(d.name);
      lines.push(
        `- ${link} (${d.kind}${d.critical ? ', critical' : ''})${d.url ? `: ${md(redactUrl(d.url))}` : ''}`,
      );
    }
    lines.push('', '## Data flows', '');
    if (c.dataFlows.length === 0) lines.push('None listed.');
    for (const f of c.dataFlows)
      lines.push(
        `- ${md(f.from)} → ${md(f.to)}: ${md(f.data)}${f.description ? `. ${md(f.description)}` : ''}`,
      );
    lines.push('', '## Runbooks', '');
    const runbooks = runbookList(service);
    if (runbooks.length === 0) lines.push('None listed.');
    for (const r of runbooks) {
      const href =
        r.kind === 'url'
          ? (r.url ?? '')
          : posix(path.relative(path.join(outDir, 'services'), runbookPath(service, r.file ?? '')));
      lines.push(`- [${md(r.title)}](${target(href)})`);
    }
    lines.push('', '## Contacts', '');
    if (c.contacts.length === 0) lines.push('None listed.');
    for (const contact of c.contacts)
      lines.push(
        'user' in contact ? `- user ${md(contact.user)}` : `- whoever is on call for ${md(contact.schedule)}`,
      );
    lines.push('');
  }
  lines.push('## Diagrams', '');
  for (const name of DIAGRAMS) {
    const [mmd, svg] = diagramFiles(name);
    lines.push(`- ${TITLES[name]}: [SVG](../${svg}), [Mermaid](../${mmd})`);
  }
  return `${lines.join('\n')}\n`;
}

function indexText(services: readonly CatalogService[], diagrams: Record<DiagramName, string[]>): string {
  const stamp = stampLine(stampOf(services));
  const lines = [
    `<!-- ${stamp} -->`,
    '# Service catalog',
    '',
    'Generated by `shipcheck docs` from the config; do not edit by hand.',
    '',
  ];
  lines.push('| Service | Owner | Team | Tier | Dependencies | Runbooks |', '|---|---|---|---|---|---|');
  for (const s of services) {
    const c = s.catalog;
    lines.push(
      `| [${md(s.service)}](${servicePage(s.service)}) | ${md(c?.owner ?? '')} | ${md(c?.team ?? '')} | ${md(c?.tier === undefined ? '' : String(c.tier))} | ${c?.dependencies.length ?? 0} | ${c?.runbooks.length ?? 0} |`,
    );
  }
  for (const name of DIAGRAMS) {
    const [mmd, svg] = diagramFiles(name);
    lines.push(
      '',
      `## ${TITLES[name]}`,
      '',
      `![${TITLES[name]}](${svg})`,
      '',
      `Source: [${mmd}](${mmd})`,
      '',
    );
    const edges = diagrams[name];
    if (edges.length === 0) lines.push('None listed.');
    for (const edge of edges) lines.push(`- ${md(edge)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The two diagrams of the catalog: Mermaid source and SVG, each stamped. */
export async function diagramDocs(services: readonly CatalogService[]): Promise<DocFile[]> {
  const stamp = stampLine(stampOf(services));
  const files: DocFile[] = [];
  for (const name of DIAGRAMS) {
    const graph = graphOf(name, services);
    const [mmd, svg] = diagramFiles(name);
    files.push({ name: mmd, content: mermaidSource(graph, stamp) });
    files.push({ name: svg, content: await svgDiagram(graph, stamp) });
  }
  return files;
}

/** Every file `shipcheck docs` writes into `outDir`, in a fixed order. */
export async function catalogDocs(services: readonly CatalogService[], outDir: string): Promise<DocFile[]> {
  const diagrams = Object.fromEntries(
    DIAGRAMS.map((name) => [name, edgeSentences(graphOf(name, services))]),
  ) as Record<DiagramName, string[]>;
  return [
    ...(await diagramDocs(services)),
    { name: 'index.md', content: indexText(services, diagrams) },
    ...services.map((s) => ({ name: servicePage(s.service), content: servicePageText(s, outDir) })),
  ];
}

/** Writes the files into `outDir` (made when missing); returns their absolute paths. */
export async function writeDocs(outDir: string, files: readonly DocFile[]): Promise<string[]> {
  const written: string[] = [];
  for (const file of files) {
    const absolute = path.join(outDir, file.name);
    await mkdir(path.dirname(absolute), { recursive: true });
    await writeFile(absolute, file.content);
    written.push(absolute);
  }
  return written;
}
