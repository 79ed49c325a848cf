/**
 * `shipcheck scale [N]` and `shipcheck capacity [--rate R]`, through the API: the stable instance
 * count (set it with N), and the capacity report from the recorded load samples (docs/capacity.md).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { ScaleView } from '../../scaling/unit-scaling.js';
import type { CapacityReport } from '../../scaling/capacity.js';
import { InputError } from '../../errors.js';
import type { ApiShape } from '../api-shapes.js';
import type { CommandDeps, GlobalOptions, Io } from '../target.js';
import { resolveTarget } from '../target.js';

const nullableNumber = z.number().nullable();
const scaleShape: ApiShape<ScaleView> = {
  what: 'the instance count',
  schema: z.looseObject({
    unit: z.string(),
    instances: z.number().int(),
    configInstances: z.number().int(),
    source: z.string(),
    setBy: z.string().nullable(),
    setAt: nullableNumber,
    autoscaling: z.looseObject({ min: z.number(), max: z.number() }).nullable(),
  }),
};
const capacityShape: ApiShape<CapacityReport> = {
  what: 'the capacity report',
  schema: z.looseObject({
    enough: z.boolean(),
    samples: z.number(),
    underLimit: z.number(),
    notes: z.array(z.string()),
  }),
};

/** `3 instances (set by ana at ...; fleet.instances 2; autoscaling 2..6)` */
function describeScale(view: ScaleView): string {
  const source =
    view.source === 'config'
      ? 'fleet.instances'
      : `set by ${view.setBy ?? view.source}${view.setAt ? ` at ${new Date(view.setAt).toISOString()}` : ''}; fleet.instances ${view.configInstances}`;
  const auto = view.autoscaling ? `; autoscaling ${view.autoscaling.min}..${view.autoscaling.max}` : '';
  const from = view.previous !== undefined && view.previous !== view.instances ? `${view.previous} -> ` : '';
  return `${view.unit}: ${from}${view.instances} stable instance${view.instances === 1 ? '' : 's'} (${source}${auto})`;
}

/** `shipcheck scale [N]`: shows the count, or sets it. */
export async function scaleCommand(
  instances: string | undefined,
  opts: GlobalOptions & { reason?: string },
  io: Io,
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  let view: ScaleView;
  if (instances === undefined) {
    view = await client.get(`/api/v1/services/${service}/scale`, scaleShape);
  } else {
    if (!/^\d+$/.test(instances)) throw new InputError(`instances "${instances}" is not a whole number`);
    view = await client.post(
      `/api/v1/services/${service}/scale`,
      { instances: Number(instances), ...(opts.reason ? { reason: opts.reason } : {}) },
      scaleShape,
    );
  }
  io.out(opts.json ? JSON.stringify(view) : describeScale(view));
  return 0;
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** The report in lines. */
export function describeCapacity(unit: string, r: CapacityReport): string[] {
  const period =
    r.from !== null && r.to !== null
      ? ` from ${new Date(r.from).toISOString()} to ${new Date(r.to).toISOString()}`
      : '';
  const lines = [
    `${unit}: ${r.samples} load samples${period}; ${r.withTraffic} with traffic, ${r.underLimit} with p99 under ${r.p99LimitMs === null ? 'a latency_p99 trigger' : `${r.p99LimitMs}ms`}`,
  ];
  if (r.peakRpsPerInstance !== null)
    lines.push(`peak load with p99 under the limit: ${round(r.peakRpsPerInstance)} rps per instance`);
  if (r.breachRpsPerInstance !== null)
    lines.push(`p99 went over the limit from ${round(r.breachRpsPerInstance)} rps per instance`);
  if (r.capacityRps !== null) lines.push(`capacity at ${r.instances} instances: ${round(r.capacityRps)} rps`);
  if (r.headroomRps !== null && r.headroomPercent !== null)
    lines.push(
      `headroom now: ${round(r.headroomRps)} rps (${round(r.headroomPercent)}%) at ${round(r.rps ?? 0)} rps`,
    );
  if (r.rate !== null && r.needed !== null) lines.push(`instances needed for ${r.rate} rps: ${r.needed}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  return lines;
}

/** `shipcheck capacity [--rate R]`; exits 1 when there are not enough samples for a figure. */
export async function capacityCommand(opts: GlobalOptions & { rate?: string }, io: Io): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  if (opts.rate !== undefined && !(Number(opts.rate) > 0))
    throw new InputError(`--rate "${opts.rate}" is not a positive number of requests per second`);
  const query = opts.rate !== undefined ? `?rate=${encodeURIComponent(opts.rate)}` : '';
  const report = await client.get(`/api/v1/services/${service}/capacity${query}`, capacityShape);
  if (opts.json) io.out(JSON.stringify(report));
  else for (const line of describeCapacity(service, report)) io.out(line);
  return report.enough ? 0 : 1;
}

/** Adds `scale` and `capacity` to the CLI. */
export function registerScaleCommands(program: Command, deps: CommandDeps): void {
  const { io, globals, run } = deps;
  program
    .command('scale [instances]')
    .description('the stable instance count; with a number, set it (drained and safe during a release)')
    .option('--reason <text>', 'why, kept with the event')
    .action(
      run(async (instances: string | undefined, o: { reason?: string }) =>
        scaleCommand(instances, { ...globals(), ...o }, io),
      ),
    );
  program
    .command('capacity')
    .description('peak load per instance under the p99 trigger, headroom now, instances for a rate')
    .option('--rate <rps>', 'size for this many requests per second')
    .action(run(async (o: { rate?: string }) => capacityCommand({ ...globals(), ...o }, io)));
}
