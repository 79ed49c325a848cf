/**
 * `shipcheck docs [--out DIR]`: writes the service catalog's diagrams (Mermaid and SVG), a markdown
 * page per service and an index, from the config alone: no server, no network. The folder is
 * `--out`, else the services' `catalog.docsDir`, else docs/catalog beside the installation's file.
 */
import path from 'node:path';
import { catalogDocs, defaultDocsDir, writeDocs } from '../../catalog/catalog-docs.js';
import { catalogServices, stampOf } from '../../catalog/model.js';
import { loadInstallation } from '../../config/installation.js';
import { plural } from '../../util/words.js';

/** Writes the docs; prints one line per file and a summary (or JSON with `json`). Returns 0. */
export async function docsCommand(
  opts: { config: string; out?: string; json?: boolean },
  io: { out: (line: string) => void },
): Promise<number> {
  const installation = await loadInstallation(opts.config);
  const outDir = opts.out !== undefined ? path.resolve(opts.out) : defaultDocsDir(installation);
  const services = catalogServices(installation);
  const written = await writeDocs(outDir, await catalogDocs(services, outDir));
  const stamp = stampOf(services);
  if (opts.json) {
    io.out(JSON.stringify({ dir: outDir, files: written, catalog: stamp }, null, 2));
    return 0;
  }
  for (const file of written) io.out(path.relative(process.cwd(), file) || file);
  const described = services.filter((s) => s.catalog !== undefined).length;
  io.out(
    `wrote ${plural(written.length, 'file')} to ${outDir} (${plural(services.length, 'service')}, ${described} with a catalog; catalog ${stamp.hash})`,
  );
  return 0;
}
