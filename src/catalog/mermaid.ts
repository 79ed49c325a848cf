/** A diagram as Mermaid flowchart source, with the catalog's stamp as its first line. */
import type { Graph, NodeKind } from './model.js';

/** Mermaid node shapes by kind: a cylinder for a database, a stadium for a service, and so on. */
const SHAPES: Record<NodeKind, [string, string]> = {
  self: ['([', '])'],
  service: ['([', '])'],
  database: ['[(', ')]'],
  cache: ['[[', ']]'],
  queue: ['[/', '/]'],
  api: ['{{', '}}'],
  other: ['[', ']'],
};

/** Text inside a quoted Mermaid label: quotes and the characters Mermaid reads as markup as entities. */
export function mermaidText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/["#<>&|]/g, (c) => `#${c.charCodeAt(0)};`);
}

/** The graph as `flowchart LR` source; `stamp` goes into a `%%` comment at the top. */
export function mermaidSource(graph: Graph, stamp: string): string {
  const lines = [`%% ${stamp}`, `%% ${mermaidText(graph.title)}`, 'flowchart LR'];
  for (const node of graph.nodes) {
    const [open, close] = SHAPES[node.kind];
    lines.push(`  ${node.id}${open}"${mermaidText(node.label)}"${close}`);
  }
  for (const edge of graph.edges)
    lines.push(
      edge.label
        ? `  ${edge.from} -->|"${mermaidText(edge.label)}"| ${edge.to}`
        : `  ${edge.from} --> ${edge.to}`,
    );
  return `${lines.join('\n')}\n`;
}
