/**
 * A service's `scaling` block: the bounds of its stable instance count and the autoscaler's target
 * (docs/capacity.md). Without the block nothing scales on its own; `shipcheck scale` still works.
 */
import { z } from 'zod';
import type { Finding } from './yaml-positions.js';
import { duration } from './schema-values.js';

const target = z
  .strictObject({
    rpsPerInstance: z
      .number()
      .positive()
      .optional()
      .describe('Requests per second one instance should take, read from the request metrics.'),
    cpuPercent: z
      .number()
      .positive()
      .optional()
      .describe(
        'CPU one instance should use, in percent of one core, read from /proc (the local fleet only).',
      ),
  })
  .refine((t) => (t.rpsPerInstance === undefined) !== (t.cpuPercent === undefined), {
    message: 'set one of rpsPerInstance or cpuPercent',
  })
  .describe('What one instance should carry: `{ rpsPerInstance: N }` or `{ cpuPercent: N }`.');

/** The `scaling` block of a service (or environment). */
export const scalingSchema = z
  .strictObject({
    min: z.number().int().min(1).describe('Fewest stable instances the autoscaler keeps.'),
    max: z.number().int().min(1).describe('Most stable instances the autoscaler starts.'),
    target,
    cooldown: duration
      .prefault('1m')
      .describe(
        'Least time between two scalings; a scale-down also waits this long and takes the highest recommendation seen in it.',
      ),
    interval: duration.prefault('15s').describe('How often the autoscaler reads its metrics and decides.'),
  })
  .refine((s) => s.min <= s.max, { message: 'at least scaling.min', path: ['max'] })
  .describe(
    'Autoscaling of the stable version between min and max instances, for the local and hooks fleets.',
  );

/** A validated `scaling` block; durations in ms. */
export type ScalingConfig = z.output<typeof scalingSchema>;

/** What the schema alone cannot see: a CPU target needs the local fleet's processes. */
export function scalingFindings(config: {
  fleet: { kind: string };
  scaling?: ScalingConfig | undefined;
}): Finding[] {
  if (config.scaling?.target.cpuPercent === undefined || config.fleet.kind === 'local') return [];
  return [
    {
      path: ['scaling', 'target', 'cpuPercent'],
      anchor: 'key',
      message: `scaling.target.cpuPercent needs the local fleet's processes; fleet.kind ${config.fleet.kind} scales on rpsPerInstance only`,
    },
  ];
}
