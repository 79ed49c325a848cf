/**
 * The service catalog over HTTP, computed from the running config (read afresh on each request, so
 * a reload applies at once): every service's catalog with the diagrams' Mermaid source and edges, the
 * diagrams as SVG, and each service's runbooks, a file runbook rendered to HTML (raw HTML escaped).
 * Viewer access throughout; the runbook routes are about a unit, so a role in its environment does.
 */
import type { FastifyInstance } from 'fastify';
import { mermaidSource } from '../catalog/mermaid.js';
import {
  type CatalogService,
  DIAGRAMS,
  type DiagramName,
  catalogServices,
  edgeSentences,
  graphOf,
  stampLine,
  stampOf,
} from '../catalog/model.js';
import { renderRunbook, runbookList } from '../catalog/runbooks.js';
import { svgDiagram } from '../catalog/svg-diagram.js';
import type { LoadedConfig } from '../config/loader.js';
import { InputError, NotFoundError } from '../errors.js';
import { redactUrl } from '../util/redact.js';
import { withAccess } from './access.js';

/** An SVG served on its own: it may draw and style itself, and nothing else; no script, no fetches. */
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
/** Diagrams kept laid out, by catalog hash and name; ELK's layout is the costly part. */
const SVG_CACHE_SIZE = 8;

/** What the catalog routes read: the installation's services as they are now. */
export interface CatalogRoutesOptions {
  services: () => readonly LoadedConfig[];
}

function serviceOf(services: readonly CatalogService[], unit: string): CatalogService {
  const name = unit.split('@')[0] ?? unit;
  const found = services.find((s) => s.service === name);
  if (!found) throw new NotFoundError(`no service "${name}"`);
  return found;
}

/** Registers the catalog routes on `app`. */
export function registerCatalogRoutes(app: FastifyInstance, options: CatalogRoutesOptions): void {
  const current = (): CatalogService[] => catalogServices({ services: options.services() });
  const svgs = new Map<string, Promise<string>>();

  app.get('/api/v1/catalog', withAccess('viewer'), async () => {
    const services = current();
    const stamp = stampOf(services);
    const line = stampLine(stamp);
    return {
      catalog: stamp.hash,
      services: services.map((s) => {
        const { docsDir: _local, ...catalog } = s.catalog ?? { dependencies: [] };
        // A dependency's URL is shown as a message would show it: without a password.
        const dependencies = catalog.dependencies.map((d) => (d.url ? { ...d, url: redactUrl(d.url) } : d));
        return {
          service: s.service,
          catalog: s.catalog ? { ...catalog, dependencies } : null,
          runbooks: runbookList(s),
        };
      }),
      diagrams: Object.fromEntries(
        DIAGRAMS.map((name) => {
          const graph = graphOf(name, services);
          return [
            name,
            {
              title: graph.title,
              svg: `/api/v1/catalog/diagrams/${name}.svg`,
              mermaid: mermaidSource(graph, line),
              edges: edgeSentences(graph),
            },
          ];
        }),
      ),
    };
  });

  app.get<{ Params: { file: string } }>(
    '/api/v1/catalog/diagrams/:file',
    withAccess('viewer'),
    async (request, reply) => {
      const name = request.params.file.replace(/\.svg$/, '') as DiagramName;
      if (!request.params.file.endsWith('.svg') || !DIAGRAMS.includes(name))
        throw new NotFoundError(
          `no diagram "${request.params.file}"; the diagrams are ${DIAGRAMS.map((d) => `${d}.svg`).join(', ')}`,
        );
      const services = current();
      const stamp = stampOf(services);
      const key = `${stamp.hash} ${name}`;
      let svg = svgs.get(key);
      if (!svg) {
        svg = svgDiagram(graphOf(name, services), stampLine(stamp));
        svgs.set(key, svg);
        svg.catch(() => svgs.delete(key));
        for (const old of svgs.keys()) if (svgs.size > SVG_CACHE_SIZE) svgs.delete(old);
      }
      const text = await svg;
      void reply
        .header('content-type', 'image/svg+xml; charset=utf-8')
        .header('content-security-policy', SVG_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache');
      return text;
    },
  );

  app.get<{ Params: { service: string } }>(
    '/api/v1/services/:service/runbooks',
    withAccess('viewer'),
    async (request) => {
      const service = serviceOf(current(), request.params.service);
      return { service: service.service, runbooks: runbookList(service) };
    },
  );

  app.get<{ Params: { service: string; index: string } }>(
    '/api/v1/services/:service/runbooks/:index',
    withAccess('viewer'),
    async (request) => {
      const raw = request.params.index;
      const index = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(index))
        throw new InputError(`runbook "${raw.slice(0, 40)}" is not an index; use 0 for the first runbook`);
      const service = serviceOf(current(), request.params.service);
      const runbook = await renderRunbook(service, index);
      if (!runbook)
        throw new NotFoundError(
          `service "${service.service}" has ${service.catalog?.runbooks.length ?? 0} runbook(s); no runbook ${index}`,
        );
      return { service: service.service, runbook };
    },
  );
}
