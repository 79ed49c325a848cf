import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMA_FILE, configJsonSchema, configJsonSchemaText } from './json-schema.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STALE = `${SCHEMA_FILE} is stale: run npm run build && npm run schema`;

describe('configJsonSchema', () => {
  it('matches the committed docs/shipcheck.schema.json', async () => {
    const onDisk = await readFile(path.join(ROOT, SCHEMA_FILE), 'utf8').catch(() => '');
    if (onDisk !== configJsonSchemaText()) expect.fail(STALE);
  });

  it('describes what users write: durations and percentages as text, required keys only', () => {
    const { $id, anyOf } = configJsonSchema() as { $id: string; anyOf: unknown[] };
    const [serviceFile, controlPlaneFile] = anyOf as [
      {
        required: string[];
        properties: {
          fleet: {
            oneOf: {
              properties: { kind: { const: string }; startTimeout: { type: string; default: string } };
            }[];
          };
        };
      },
      { required: string[]; properties: Record<string, unknown> },
    ];
    expect($id).toMatch(/shipcheck/);
    expect(serviceFile.required).toEqual(['service', 'fleet']);
    expect(controlPlaneFile.required).toEqual(['services']);
    expect(Object.keys(controlPlaneFile.properties)).toEqual([
      'store',
      'server',
      'channels',
      'oncall',
      'statusPage',
      'services',
    ]);
    const fleets = serviceFile.properties.fleet.oneOf;
    expect(fleets.map((f) => f.properties.kind.const)).toEqual(['local', 'hooks']);
    for (const fleet of fleets)
      expect(fleet.properties.startTimeout).toMatchObject({ type: 'string', default: '30s' });
  });
});
