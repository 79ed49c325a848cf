/**
 * A diagram as SVG: laid out by elkjs (the layered algorithm), drawn by our own small writer from
 * ELK's node positions and edge sections. The SVG holds rects with text, polylines with an arrowhead
 * marker and edge labels; every text is escaped, and there is no script, no style sheet and no
 * reference outside the file. See docs/decisions/020-catalog-diagrams-and-runbooks.md.
 */
import ElkBundled from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { Graph, NodeKind } from './model.js';

/** An estimate of text width at the SVG's font size; ELK needs sizes before anything is drawn. */
const CHAR_WIDTH = 7.2;
const FONT_SIZE = 12;
const NODE_HEIGHT = 36;
const NODE_PADDING = 24;
const MIN_NODE_WIDTH = 80;
const LABEL_HEIGHT = 16;
const MARGIN = 12;

/** Fill colours by kind; the stroke is the same for all. */
const FILLS: Record<NodeKind, string> = {
  self: '#dbeafe',
  service: '#dbeafe',
  database: '#fef3c7',
  cache: '#dcfce7',
  queue: '#f3e8ff',
  api: '#fee2e2',
  other: '#f1f5f9',
};

/** The bundled build runs ELK in this thread; its CommonJS default export is the constructor. */
const ELK = ElkBundled as unknown as new () => { layout(graph: ElkNode): Promise<ElkNode> };

const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'RIGHT',
  'elk.randomSeed': '1',
  'elk.spacing.nodeNode': '30',
  'elk.layered.spacing.nodeNodeBetweenLayers': '60',
  'elk.edgeLabels.inline': 'false',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
};

/** Text for XML content and attribute values. */
export function xmlText(text: string): string {
  // XML 1.0 allows no control characters but tab and the line ends: they are dropped.
  const allowed = [...text].filter((c) => c >= ' ' || c === '\t' || c === '\n' || c === '\r').join('');
  return allowed.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function textWidth(text: string): number {
  return Math.ceil(text.length * CHAR_WIDTH);
}

/** Coordinates with one decimal at most, so output does not depend on float noise. */
function n(value: number | undefined): string {
  return String(Math.round((value ?? 0) * 10) / 10);
}

/** Runs ELK's layered layout on the graph. */
async function layout(graph: Graph): Promise<ElkNode> {
  const elk = new ELK();
  const root: ElkNode = {
    id: 'root',
    layoutOptions: LAYOUT_OPTIONS,
    children: graph.nodes.map((node) => ({
      id: node.id,
      width: Math.max(MIN_NODE_WIDTH, textWidth(node.label) + NODE_PADDING),
      height: NODE_HEIGHT,
    })),
    edges: graph.edges.map((edge, i): ElkExtendedEdge => ({
      id: `e${i}`,
      sources: [edge.from],
      targets: [edge.to],
      ...(edge.label
        ? { labels: [{ id: `e${i}l`, text: edge.label, width: textWidth(edge.label), height: LABEL_HEIGHT }] }
        : {}),
    })),
  };
  return elk.layout(root);
}

/** The graph laid out and drawn; `stamp` goes into a comment at the top. */
export async function svgDiagram(graph: Graph, stamp: string): Promise<string> {
  const laid = await layout(graph);
  const width = Math.ceil((laid.width ?? 0) + 2 * MARGIN);
  const height = Math.ceil((laid.height ?? 0) + 2 * MARGIN);
  const nodes = new Map(graph.nodes.map((node) => [node.id, node]));
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- ${xmlText(stamp)} -->`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="diagram-title" font-family="sans-serif" font-size="${FONT_SIZE}">`,
    `<title id="diagram-title">${xmlText(graph.title)}</title>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<g transform="translate(${MARGIN},${MARGIN})">`,
  ];
  if (graph.nodes.length === 0)
    out.push(`<text x="0" y="${FONT_SIZE}" fill="#475569">Nothing in the catalog yet</text>`);
  out.push('<g class="edges">');
  for (const edge of laid.edges ?? []) {
    for (const section of edge.sections ?? []) {
      const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
      out.push(
        `<polyline points="${points.map((p) => `${n(p.x)},${n(p.y)}`).join(' ')}" fill="none" stroke="#475569" stroke-width="1.5" marker-end="url(#arrow)"/>`,
      );
    }
    for (const label of edge.labels ?? [])
      out.push(
        `<text x="${n((label.x ?? 0) + (label.width ?? 0) / 2)}" y="${n((label.y ?? 0) + (label.height ?? 0) / 2)}" text-anchor="middle" dominant-baseline="central" fill="#334155">${xmlText(label.text ?? '')}</text>`,
      );
  }
  out.push('</g>', '<g class="nodes">');
  for (const child of laid.children ?? []) {
    const node = nodes.get(child.id);
    if (!node) continue;
    const rx = node.kind === 'self' || node.kind === 'service' ? 18 : 4;
    out.push(
      `<g class="node node-${node.kind}"><rect x="${n(child.x)}" y="${n(child.y)}" width="${n(child.width)}" height="${n(child.height)}" rx="${rx}" fill="${FILLS[node.kind]}" stroke="#334155"/>` +
        `<text x="${n((child.x ?? 0) + (child.width ?? 0) / 2)}" y="${n((child.y ?? 0) + (child.height ?? 0) / 2)}" text-anchor="middle" dominant-baseline="central" fill="#0f172a">${xmlText(node.label)}</text></g>`,
    );
  }
  out.push('</g>', '</g>', '</svg>');
  return `${out.join('\n')}\n`;
}
