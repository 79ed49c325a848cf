import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_FILE, configJsonSchemaText } from './json-schema.js';

/** The repository root, found from this file's place in src/config or dist/src/config. */
function repositoryRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSrc = path.resolve(here, '..', '..');
  return path.basename(fromSrc) === 'dist' ? path.dirname(fromSrc) : fromSrc;
}

/** Writes the generated JSON Schema to `file` (default: docs/shipcheck.schema.json in this repository). */
export async function writeSchema(file = path.join(repositoryRoot(), SCHEMA_FILE)): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, configJsonSchemaText());
  return file;
}

// Run by `npm run schema` (node dist/src/config/write-schema.js [output]); importing it writes nothing.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const written = await writeSchema(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  console.log(`wrote ${path.relative(process.cwd(), written) || written}`);
}
