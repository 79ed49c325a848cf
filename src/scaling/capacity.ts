/**
 * The capacity report (docs/capacity.md), from the unit's load samples: the highest load per instance
 * at which p99 stayed under the unit's latency_p99 trigger, the headroom that leaves at the current
 * load, and the instances a given rate needs. It only reports what was observed: with too few samples,
 * or no latency_p99 trigger to judge them by, it says so and gives no number.
 */
import type { LoadSampleRow } from '../store/scaling-store.js';

/** Samples with requests under the latency limit needed before a capacity figure is given. */
export const MIN_CAPACITY_SAMPLES = 10;
/** Requests a sample needs to count: a p99 of a handful of requests says little. */
export const MIN_SAMPLE_REQUESTS = 10;

/** What the report is computed from. */
export interface CapacityInput {
  samples: readonly LoadSampleRow[];
  /** The latency_p99 trigger's threshold in ms; undefined when the unit has none. */
  p99LimitMs: number | undefined;
  /** Stable instances now and the load they take (rps), when known. */
  instances: number;
  rps: number | undefined;
  /** scaling.min and max, when the unit autoscales. */
  bounds: { min: number; max: number } | undefined;
  /** A rate to size for, in requests per second. */
  rate?: number | undefined;
  /** Samples needed; MIN_CAPACITY_SAMPLES when omitted. */
  minSamples?: number;
}

/** The answer; every figure is null when it cannot be told, with `notes` saying why. */
export interface CapacityReport {
  /** Whether enough samples under the limit were seen to give a figure. */
  enough: boolean;
  p99LimitMs: number | null;
  /** Samples read, those with traffic (MIN_SAMPLE_REQUESTS or more), and those among them whose p99 stayed under the limit. */
  samples: number;
  withTraffic: number;
  underLimit: number;
  /** The period the samples cover (epoch ms); null without samples. */
  from: number | null;
  to: number | null;
  /** The highest rps per instance seen with p99 under the limit. */
  peakRpsPerInstance: number | null;
  /** The lowest rps per instance at which p99 went over the limit, if it ever did. */
  breachRpsPerInstance: number | null;
  instances: number;
  rps: number | null;
  /** peak per instance * instances. */
  capacityRps: number | null;
  /** capacity minus current rps, and as a percentage of the capacity. */
  headroomRps: number | null;
  headroomPercent: number | null;
  rate: number | null;
  /** ceil(rate / peak per instance), clamped to the scaling bounds; `neededUnclamped` before clamping. */
  needed: number | null;
  neededUnclamped: number | null;
  notes: string[];
}

/** Builds the report. */
export function capacityReport(input: CapacityInput): CapacityReport {
  const minSamples = input.minSamples ?? MIN_CAPACITY_SAMPLES;
  const { samples, p99LimitMs, instances } = input;
  const withTraffic = samples.filter(
    (s) => s.requests >= MIN_SAMPLE_REQUESTS && s.instances > 0 && s.p99 !== null,
  );
  const limit = p99LimitMs;
  const under = limit === undefined ? [] : withTraffic.filter((s) => (s.p99 ?? Infinity) <= limit);
  const over = limit === undefined ? [] : withTraffic.filter((s) => (s.p99 ?? 0) > limit);
  const perInstance = (s: LoadSampleRow): number => s.rps / s.instances;
  const notes: string[] = [];
  const report: CapacityReport = {
    enough: false,
    p99LimitMs: limit ?? null,
    samples: samples.length,
    withTraffic: withTraffic.length,
    underLimit: under.length,
    from: samples[0]?.at ?? null,
    to: samples[samples.length - 1]?.at ?? null,
    peakRpsPerInstance: null,
    breachRpsPerInstance: over.length > 0 ? Math.min(...over.map(perInstance)) : null,
    instances,
    rps: input.rps ?? null,
    capacityRps: null,
    headroomRps: null,
    headroomPercent: null,
    rate: input.rate ?? null,
    needed: null,
    neededUnclamped: null,
    notes,
  };
  if (limit === undefined) {
    notes.push('the unit has no latency_p99 trigger in rollback.triggers to judge the samples by');
    return report;
  }
  if (under.length < minSamples) {
    notes.push(
      `not enough samples: ${under.length} with traffic and p99 under ${limit}ms, ${minSamples} needed`,
    );
    return report;
  }
  const peak = Math.max(...under.map(perInstance));
  if (!(peak > 0)) {
    notes.push('no sample with traffic under the limit');
    return report;
  }
  report.enough = true;
  report.peakRpsPerInstance = peak;
  report.capacityRps = peak * instances;
  notes.push(
    'the peak is the highest load observed with p99 under the limit, not a limit found by load testing',
  );
  if (input.rps !== undefined && report.capacityRps > 0) {
    report.headroomRps = report.capacityRps - input.rps;
    report.headroomPercent = (report.headroomRps / report.capacityRps) * 100;
  } else if (input.rps === undefined) {
    notes.push('the current load could not be read, so there is no headroom figure');
  }
  if (input.rate !== undefined) {
    const raw = Math.max(1, Math.ceil(input.rate / peak - 1e-9));
    report.neededUnclamped = raw;
    let needed = raw;
    if (input.bounds && raw > input.bounds.max) {
      needed = input.bounds.max;
      notes.push(`${input.rate} rps needs ${raw} instances, above scaling.max ${input.bounds.max}`);
    } else if (input.bounds && raw < input.bounds.min) {
      needed = input.bounds.min;
      notes.push(`${input.rate} rps needs ${raw} instances; scaling.min keeps ${input.bounds.min}`);
    }
    report.needed = needed;
  }
  return report;
}
