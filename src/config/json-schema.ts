import { z } from 'zod';
import { configSchema } from './schema.js';

/** Identifies the schema; editors match on the file name, so no host has to serve it. */
const SCHEMA_ID = 'urn:shipcheck:shipcheck.schema.json';

/** Path of the committed schema, relative to the repository root. */
export const SCHEMA_FILE = 'docs/shipcheck.schema.json';

/** JSON Schema (draft 2020-12) for what a user may write in shipcheck.yaml, generated from `configSchema`. */
export function configJsonSchema(): object {
  // 'input': the file holds `5m` and `5%`, not the milliseconds and fractions they parse to.
  const generated = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'shipcheck.yaml',
    description: 'Configuration of one service deployed by shipcheck. Reference: docs/config.md.',
    ...rest,
  };
}

/** The exact text of docs/shipcheck.schema.json: 2-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
