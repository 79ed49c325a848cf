import { z } from 'zod';
import { configSchema, controlPlaneSchema } from './schema.js';

/** Identifies the schema; editors match on the file name, so no host has to serve it. */
const SCHEMA_ID = 'urn:shipcheck:shipcheck.schema.json';

/** Path of the committed schema, relative to the repository root. */
export const SCHEMA_FILE = 'docs/shipcheck.schema.json';

/**
 * JSON Schema (draft 2020-12) for what a user may write in shipcheck.yaml, generated from
 * `configSchema` (a service file) and `controlPlaneSchema` (a file listing service files).
 */
export function configJsonSchema(): object {
  // 'input': the file holds `5m` and `5%`, not the milliseconds and fractions they parse to.
  const options = { io: 'input', target: 'draft-2020-12' } as const;
  const { $schema, ...service } = z.toJSONSchema(configSchema, options);
  const { $schema: _same, ...controlPlane } = z.toJSONSchema(controlPlaneSchema, options);
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'shipcheck.yaml',
    description:
      'A service file (service:, fleet:, ...) or a control-plane file (server:, store:, services:). Reference: docs/config.md.',
    anyOf: [
      { title: 'service file', ...service },
      { title: 'control-plane file', ...controlPlane },
    ],
  };
}

/** The exact text of docs/shipcheck.schema.json: 2-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
