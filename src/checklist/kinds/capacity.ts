/**
 * `capacity`: the Maintenance / Scale Up/Down items, from the unit's scaling (docs/capacity.md).
 * - `check: autoscaling`: the autoscaler has data (a recent load sample with traffic or a CPU
 *   reading) and the stable count is within scaling.min..max;
 * - `check: headroom`: the headroom at the current load is at least `minHeadroom`, and the mean CPU
 *   per instance did not stay above `maxCpu` over `cpuWindow`;
 * - `check: planning`: the instances `targetRate` needs fit within scaling.max.
 * Without samples to judge by, the item is inconclusive, never passed.
 */
import { z } from 'zod';
import { duration, percent } from '../../config/schema-values.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';

const capacityParamsSchema = z.strictObject({
  check: z
    .enum(['autoscaling', 'headroom', 'planning'])
    .describe(
      'autoscaling: has data and within bounds; headroom: enough spare capacity; planning: targetRate fits.',
    ),
  minHeadroom: percent.prefault(30).describe('headroom: the least spare capacity at the current load.'),
  maxCpu: percent
    .prefault(80)
    .describe(
      'headroom: fails when the mean CPU per instance (of one core) stays above this over cpuWindow.',
    ),
  cpuWindow: duration.prefault('15m').describe('headroom: how long CPU must stay above maxCpu to fail.'),
  maxAge: duration.prefault('5m').describe('autoscaling: the newest load sample must be younger than this.'),
  targetRate: z
    .union([
      z.number().positive(),
      z.string().regex(/^\d+(\.\d+)?$/, 'expected requests per second, e.g. 500'),
    ])
    .transform(Number)
    .optional()
    .describe('planning: the request rate (per second) to plan for.'),
});

/** Validated `capacity` params; percentages as fractions, durations in ms. */
export type CapacityParams = z.output<typeof capacityParamsSchema>;

const round = (n: number): number => Math.round(n * 10) / 10;

/** `capacity`: autoscaling has data, headroom is enough, the planned rate fits. */
export const capacityCheck: CheckKind<CapacityParams> = {
  kind: 'capacity',
  params: capacityParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const scaling = context.scaling;
    if (!scaling) return { ok: false, inconclusive: true, summary: 'no scaling state for this unit' };
    if (params.check === 'autoscaling') {
      const status = await scaling.autoscaleStatus();
      if (!status.configured || status.min === null || status.max === null)
        return { ok: false, summary: 'no scaling block in the config: nothing autoscales' };
      const data = { instances: status.instances, min: status.min, max: status.max };
      if (status.instances < status.min || status.instances > status.max)
        return {
          ok: false,
          summary: `${status.instances} instances, outside scaling ${status.min}..${status.max}`,
          data,
        };
      const latest = status.latest;
      const age = latest ? context.clock.now() - latest.at : undefined;
      if (!latest || age === undefined || age > params.maxAge)
        return {
          ok: false,
          inconclusive: true,
          summary: `no load sample in the last ${formatDuration(params.maxAge)}: the autoscaler has nothing recorded to go on`,
          data,
        };
      if (latest.requests === 0 && latest.cpu === null)
        return {
          ok: false,
          inconclusive: true,
          summary: 'the newest load sample has no traffic and no CPU reading: the autoscaler has no data',
          data,
        };
      const cpu = latest.cpu === null ? '' : `, cpu ${round(latest.cpu * 100)}% per instance`;
      return {
        ok: true,
        summary: `${status.instances} instances within ${status.min}..${status.max}; ${round(latest.rps)} rps${cpu}`,
        value: status.instances,
        data: { ...data, rps: latest.rps, cpu: latest.cpu },
      };
    }
    if (params.check === 'planning') {
      if (params.targetRate === undefined)
        return { ok: false, summary: 'planning needs params.targetRate (requests per second)' };
      const report = await scaling.capacity(params.targetRate);
      const data = { ...report };
      if (!report.enough || report.neededUnclamped === null)
        return { ok: false, inconclusive: true, summary: report.notes.join('; '), data };
      const status = await scaling.autoscaleStatus();
      const max = status.max;
      const summary = `${params.targetRate} rps needs ${report.neededUnclamped} instances at ${round(report.peakRpsPerInstance ?? 0)} rps each`;
      if (max === null)
        return { ok: true, summary: `${summary} (no scaling.max)`, value: report.neededUnclamped, data };
      return {
        ok: report.neededUnclamped <= max,
        summary: `${summary}; scaling.max is ${max}`,
        value: report.neededUnclamped,
        data,
      };
    }
    const report = await scaling.capacity();
    const status = await scaling.autoscaleStatus();
    const samples = await status.samples(params.cpuWindow);
    const cpus = samples.map((s) => s.cpu).filter((c): c is number => c !== null);
    const cpuHigh = cpus.length > 0 && cpus.every((c) => c > params.maxCpu);
    const cpuText = cpuHigh
      ? `; mean CPU per instance stayed above ${round(params.maxCpu * 100)}% for ${formatDuration(params.cpuWindow)}`
      : '';
    const data = { ...report, cpuSamples: cpus.length, maxCpu: params.maxCpu };
    if (!report.enough || report.headroomPercent === null) {
      if (cpuHigh) return { ok: false, summary: cpuText.slice(2), data };
      return { ok: false, inconclusive: true, summary: report.notes.join('; '), data };
    }
    const minPercent = params.minHeadroom * 100;
    const short = report.headroomPercent < minPercent;
    return {
      ok: !short && !cpuHigh,
      summary: `headroom ${round(report.headroomPercent)}% (${round(report.headroomRps ?? 0)} rps) at ${round(report.rps ?? 0)} rps, minimum ${round(minPercent)}%${cpuText}`,
      value: round(report.headroomPercent),
      data,
    };
  },
};
