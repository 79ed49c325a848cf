/**
 * `shipcheck maintenance`: the scheduled checklist items of each unit with their schedule, last
 * result and next run; `shipcheck checklist run ITEM`: runs one now on the server and prints its
 * result (exit 0 when it passed, 1 when it failed or could not judge).
 */
import { z } from 'zod';
import type { ApiShape } from '../api-shapes.js';
import { formatTable } from '../table.js';
import { type GlobalOptions, type Io, resolveServer, resolveTarget } from '../target.js';

/** A run as the API answers it. */
export interface RunAnswer {
  id: number;
  unit: string;
  itemId: string;
  state: string;
  summary: string;
  trigger: string;
  by: string | null;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  evidence: { output?: string };
}

/** An item as `GET /api/v1/maintenance` answers it. */
export interface EntryAnswer {
  unit: string;
  itemId: string;
  title: string;
  kind: string;
  automated: boolean;
  schedule: string | null;
  timezone: string;
  hint: string | null;
  nextRunAt: number | null;
  running: boolean;
  failing: boolean;
  last: { state: string; summary: string; trigger: string; by: string | null; startedAt: number } | null;
}

const run = z.looseObject({
  id: z.number(),
  unit: z.string(),
  itemId: z.string(),
  state: z.string(),
  summary: z.string(),
  trigger: z.string(),
  by: z.string().nullable(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
  evidence: z.looseObject({ output: z.string().optional() }),
});
const entry = z.looseObject({
  unit: z.string(),
  itemId: z.string(),
  title: z.string(),
  kind: z.string(),
  automated: z.boolean(),
  schedule: z.string().nullable(),
  timezone: z.string(),
  hint: z.string().nullable(),
  nextRunAt: z.number().nullable(),
  running: z.boolean(),
  failing: z.boolean(),
  last: z
    .looseObject({
      state: z.string(),
      summary: z.string(),
      trigger: z.string(),
      by: z.string().nullable(),
      startedAt: z.number(),
    })
    .nullable(),
});
export const entriesShape: ApiShape<{ items: EntryAnswer[] }> = {
  what: 'the scheduled items',
  schema: z.looseObject({ items: z.array(entry) }),
};
export const runShape: ApiShape<{ unit: string; run: RunAnswer }> = {
  what: 'a scheduled run',
  schema: z.looseObject({ unit: z.string(), run }),
};

/** `2026-01-06 10:00:05Z`: to the second (schedules may have a seconds field); `-` for none. */
export function formatSecond(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** The table `shipcheck maintenance` prints, then a line per failing item. */
export function formatMaintenance(items: readonly EntryAnswer[]): string[] {
  const rows = items.map((item) => [
    item.unit,
    item.itemId,
    item.title,
    item.schedule === null ? 'off' : `${item.schedule} (${item.timezone})`,
    item.running
      ? 'running'
      : item.last
        ? `${item.last.state} ${formatSecond(item.last.startedAt)}${item.last.trigger === 'manual' ? ` by ${item.last.by ?? '?'}` : ''}`
        : '-',
    item.automated ? formatSecond(item.nextRunAt) : 'sign-off',
  ]);
  const lines = formatTable(['UNIT', 'ITEM', 'TITLE', 'SCHEDULE', 'LAST', 'NEXT'], rows);
  const failing = items.filter((item) => item.failing);
  if (failing.length > 0) {
    lines.push('');
    for (const item of failing)
      lines.push(`FAILING ${item.unit} ${item.itemId}: ${item.last?.summary ?? ''}`);
  }
  return lines;
}

/** `shipcheck maintenance [-s S] [--env E] [--json]`. */
export async function maintenanceCommand(opts: GlobalOptions, io: Io): Promise<number> {
  const { client, unit } = await targetOf(opts);
  const query = unit === undefined ? '' : `?service=${encodeURIComponent(unit)}`;
  const { items } = await client.get(`/api/v1/maintenance${query}`, entriesShape);
  if (opts.json) {
    io.out(JSON.stringify({ items }, null, 2));
    return 0;
  }
  if (items.length === 0) {
    io.out('no scheduled items (give checklist items a schedule: in the template, or maintenance.schedules)');
    return 0;
  }
  formatMaintenance(items).forEach((line) => io.out(line));
  return 0;
}

/** `shipcheck checklist run ITEM [-s S] [--env E]`: exit 0 passed, 1 failed or inconclusive. */
export async function maintenanceRunCommand(item: string, opts: GlobalOptions, io: Io): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const path = `/api/v1/services/${encodeURIComponent(service)}/maintenance/${encodeURIComponent(item)}/run`;
  const answer = await client.post(path, {}, runShape);
  if (opts.json) {
    io.out(JSON.stringify(answer, null, 2));
  } else {
    const { run: r } = answer;
    const took = r.durationMs === null ? '' : ` in ${(r.durationMs / 1000).toFixed(1)}s`;
    io.out(`${answer.unit} ${r.itemId}: ${r.state}${took}: ${r.summary}`);
    const output = r.evidence.output?.trim();
    if (output && r.state !== 'passed') io.out(output);
  }
  return answer.run.state === 'passed' ? 0 : 1;
}

/** The unit asked for (-s, --env), or every unit when neither is given. */
async function targetOf(opts: GlobalOptions) {
  if (opts.service === undefined && opts.env === undefined) {
    const { client } = await resolveServer(opts);
    return { client, unit: undefined };
  }
  const { client, service } = await resolveTarget(opts);
  return { client, unit: service };
}
