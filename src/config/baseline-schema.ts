/** A service's performance baseline settings: how far a release may drift from the one before it. */
import { z } from 'zod';
import { duration } from './schema-values.js';

const SIGNED_PERCENT_HINT = 'expected a percentage such as 20%, +20% or -20%';

/** A change written `20%`, `+20%`, `-20%` or as a number of percent; parsed to a fraction (0.2, -0.2). */
const signedPercent = z
  .union([
    z
      .number()
      .min(-100, 'a change is between -100% and 1000%')
      .max(1000, 'a change is between -100% and 1000%'),
    z.string().regex(/^[+-]?\d+(\.\d+)?%$/, SIGNED_PERCENT_HINT),
  ])
  .transform((value) => (typeof value === 'number' ? value : Number(value.slice(0, -1))) / 100)
  .refine((fraction) => fraction >= -1 && fraction <= 10, 'a change is between -100% and 1000%')
  .describe('A change in percent: 20%, +20% or -20%.');

/** A rise allowed before a figure counts as regressed (a fraction of the previous figure). */
const rise = (fallback: string, what: string) =>
  signedPercent
    .prefault(fallback)
    .refine((fraction) => fraction >= 0, 'a tolerated rise is 0% or more')
    .describe(`${what}: the largest rise over the previous release's baseline that still passes.`);

/** The `baseline` block of a service (or environment). */
export const baselineSchema = z
  .strictObject({
    tolerance: z
      .strictObject({
        latencyP50: signedPercent
          .refine((fraction) => fraction >= 0, 'a tolerated rise is 0% or more')
          .optional()
          .describe('p50 latency: the largest rise that still passes; unset, p50 is shown but not judged.'),
        latencyP95: signedPercent
          .refine((fraction) => fraction >= 0, 'a tolerated rise is 0% or more')
          .optional()
          .describe('p95 latency: the largest rise that still passes; unset, p95 is shown but not judged.'),
        latencyP99: rise('20%', 'p99 latency'),
        throughput: signedPercent
          .prefault('-20%')
          .refine((fraction) => fraction <= 0, 'a tolerated throughput change is a drop: 0% or less')
          .describe("Throughput: the largest drop below the previous release's baseline that still passes."),
        errorRate: signedPercent
          .prefault('1%')
          .refine((fraction) => fraction >= 0, 'a tolerated rise is 0% or more')
          .describe(
            'Error rate: the largest rise in percentage points (1% lets 0.2% become 1.2%) that still passes.',
          ),
        cpuPer1k: rise('25%', 'CPU seconds per 1,000 requests'),
        memory: rise('25%', 'Average RSS per 1,000 requests'),
      })
      .prefault({})
      .describe('How far each figure may move from the previous release’s baseline.'),
    comparableLoad: signedPercent
      .prefault('50%')
      .refine((fraction) => fraction > 0, 'comparable load is more than 0%')
      .describe('Two baselines are compared only when their throughputs are within this much of each other.'),
    minWindow: duration
      .prefault('30s')
      .describe(
        'The shortest baseline window: a release that succeeds sooner is measured at 100% until this long has passed (or another release starts).',
      ),
    minRequests: z
      .number()
      .int()
      .min(1)
      .prefault(500)
      .describe('Requests a baseline needs on both sides before it is compared; fewer is inconclusive.'),
  })
  .prefault({})
  .describe('Performance baselines per release: each is compared with the previous succeeded release’s.');

/** The validated `baseline` block, changes as fractions. */
export type BaselineSettings = z.output<typeof baselineSchema>;
