/**
 * The installation's catalog as one model: every service's catalog entry, the two graphs drawn from
 * it (dependencies, data flows), and the hash each generated file records so that a stale file can be
 * told from a current one. Pure functions of the config: same config, same model, same bytes.
 */
import { createHash } from 'node:crypto';
import type { CatalogEntry, DependencyKind } from '../config/catalog-schema.js';
import type { LoadedConfig } from '../config/loader.js';

/** One service of the installation and its catalog entry (undefined when it has none). */
export interface CatalogService {
  service: string;
  /** The service file and its folder; runbook files resolve against the folder. */
  file: string;
  dir: string;
  catalog: CatalogEntry | undefined;
}

/** What a node of a diagram stands for. */
export type NodeKind = 'self' | DependencyKind;

export interface GraphNode {
  /** A stable id made of letters and digits: `n0`, `n1`, ... in order of the sorted keys. */
  id: string;
  label: string;
  kind: NodeKind;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** Drawn beside the edge; empty for none. */
  label: string;
}

/** A diagram before layout: nodes and edges, both sorted. */
export interface Graph {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The two diagrams, by the names of their files. */
export const DIAGRAMS = ['dependencies', 'data-flow'] as const;
export type DiagramName = (typeof DIAGRAMS)[number];

/** The services of an installation, in its order. */
export function catalogServices(installation: { services: readonly LoadedConfig[] }): CatalogService[] {
  return installation.services.map((loaded) => ({
    service: loaded.config.service,
    file: loaded.file,
    dir: loaded.dir,
    catalog: loaded.config.catalog,
  }));
}

/** JSON with object keys sorted, so the hash does not depend on the order keys were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** Length of a recorded hash, in hex digits. */
const HASH_LENGTH = 16;

/**
 * The hash of one service's catalog as generated files record it; `docsDir` (where the files go)
 * is left out, since it changes nothing drawn.
 */
export function serviceHash(service: Pick<CatalogService, 'service' | 'catalog'>): string {
  const { docsDir: _where, ...drawn } = service.catalog ?? { dependencies: [] };
  return createHash('sha256')
    .update(canonical({ service: service.service, catalog: drawn }))
    .digest('hex')
    .slice(0, HASH_LENGTH);
}

/** The stamp a generated file records: the whole catalog's hash, then each service's. */
export interface CatalogStamp {
  hash: string;
  services: Record<string, string>;
}

/** The stamp of a set of services. */
export function stampOf(services: readonly Pick<CatalogService, 'service' | 'catalog'>[]): CatalogStamp {
  const per = Object.fromEntries(services.map((s) => [s.service, serviceHash(s)]));
  const hash = createHash('sha256').update(canonical(per)).digest('hex').slice(0, HASH_LENGTH);
  return { hash, services: per };
}

const STAMP_WORD = 'shipcheck-catalog';

/** The stamp as one line of text, for a comment: `shipcheck-catalog: HASH web=HASH api=HASH`. */
export function stampLine(stamp: CatalogStamp): string {
  const per = Object.entries(stamp.services).map(([name, hash]) => `${name}=${hash}`);
  return [`${STAMP_WORD}: ${stamp.hash}`, ...per].join(' ');
}

/** The stamp a generated file records, or undefined when it records none. */
export function readStamp(text: string): CatalogStamp | undefined {
  const match = new RegExp(`${STAMP_WORD}: ([0-9a-f]+)((?: [a-z0-9-]+=[0-9a-f]+)*)`).exec(text);
  if (!match) return undefined;
  const services: Record<string, string> = {};
  for (const pair of (match[2] ?? '').trim().split(' ').filter(Boolean)) {
    const [name, hash] = pair.split('=');
    if (name && hash) services[name] = hash;
  }
  return { hash: match[1] ?? '', services };
}

/** Nodes keyed by a case-insensitive name; a service and a `service` dependency of its name are one node. */
class NodeSet {
  private readonly byKey = new Map<string, { label: string; kind: NodeKind }>();

  add(label: string, kind: NodeKind): void {
    const key = label.toLowerCase();
    const known = this.byKey.get(key);
    // A service of the installation is drawn as one; otherwise the first kind named wins.
    if (!known || (kind === 'self' && known.kind !== 'self')) this.byKey.set(key, { label, kind });
  }

  has(label: string): boolean {
    return this.byKey.has(label.toLowerCase());
  }

  /** Nodes with ids, sorted by key, and a map from key to id. */
  finish(): { nodes: GraphNode[]; idOf: (label: string) => string } {
    const keys = [...this.byKey.keys()].sort();
    const ids = new Map(keys.map((key, i) => [key, `n${i}`]));
    const nodes = keys.map((key) => ({ id: ids.get(key) ?? '', ...this.byKey.get(key)! }));
    return { nodes, idOf: (label) => ids.get(label.toLowerCase()) ?? '' };
  }
}

/** Code-unit order: the same on every machine, whatever its locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortEdges(edges: GraphEdge[]): GraphEdge[] {
  const seen = new Set<string>();
  return edges
    .filter((e) => {
      const key = `${e.from}\n${e.to}\n${e.label}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => compare(a.from, b.from) || compare(a.to, b.to) || compare(a.label, b.label));
}

/** Every service and what it depends on; an edge from a service to each dependency ("critical" when it is). */
export function dependencyGraph(services: readonly CatalogService[]): Graph {
  const set = new NodeSet();
  for (const s of services) set.add(s.service, 'self');
  for (const s of services)
    for (const d of s.catalog?.dependencies ?? []) set.add(d.name, d.kind === 'service' ? 'self' : d.kind);
  const { nodes, idOf } = set.finish();
  const edges = services.flatMap((s) =>
    (s.catalog?.dependencies ?? []).map((d) => ({
      from: idOf(s.service),
      to: idOf(d.name),
      label: d.critical ? 'critical' : '',
    })),
  );
  return { title: 'Service dependencies', nodes, edges: sortEdges(edges) };
}

/** Every data flow of every service: an edge from `from` to `to` labelled with the data. */
export function dataFlowGraph(services: readonly CatalogService[]): Graph {
  const set = new NodeSet();
  const kinds = new Map<string, NodeKind>();
  for (const s of services) kinds.set(s.service.toLowerCase(), 'self');
  for (const s of services)
    for (const d of s.catalog?.dependencies ?? [])
      if (!kinds.has(d.name.toLowerCase()))
        kinds.set(d.name.toLowerCase(), d.kind === 'service' ? 'self' : d.kind);
  const flows = services.flatMap((s) => s.catalog?.dataFlows ?? []);
  for (const f of flows)
    for (const name of [f.from, f.to]) set.add(name, kinds.get(name.toLowerCase()) ?? 'other');
  const { nodes, idOf } = set.finish();
  const edges = flows.map((f) => ({ from: idOf(f.from), to: idOf(f.to), label: f.data }));
  return { title: 'Data flows', nodes, edges: sortEdges(edges) };
}

/** The graph of a diagram by its file name. */
export function graphOf(name: DiagramName, services: readonly CatalogService[]): Graph {
  return name === 'dependencies' ? dependencyGraph(services) : dataFlowGraph(services);
}

/** The edges of a graph in words, `web → orders-db (critical)`: a diagram's text alternative. */
export function edgeSentences(graph: Graph): string[] {
  const label = new Map(graph.nodes.map((n) => [n.id, n.label]));
  return graph.edges.map(
    (e) => `${label.get(e.from) ?? e.from} → ${label.get(e.to) ?? e.to}${e.label ? ` (${e.label})` : ''}`,
  );
}
