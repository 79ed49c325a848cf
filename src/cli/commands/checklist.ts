import { rename, rm, writeFile } from 'node:fs/promises';

import { renderReport } from '../../checklist/report.js';
import type { ItemState } from '../../domain/checklist.js';
import { InputError } from '../../errors.js';
import { type ChecklistView, checklistItemShape, checklistShape, signedGateShape } from '../api-shapes.js';
import { ApiError } from '../client.js';
import type { GlobalOptions, Io } from '../target.js';
import { resolveTarget } from '../target.js';

/** What a server without `sign --gate` (older than the CLI) answers for its route. */
const NO_ROUTE_STATUS = 404;
const NO_ROUTE_PREFIX = 'no route ';

const STATE_MARK: Record<ItemState, string> = {
  inconclusive: '??  ',
  passed: 'ok  ',
  waived: 'waiv',
  failed: 'FAIL',
  running: '... ',
  pending: '    ',
  'not-applicable': 'n/a ',
};

/** `shipcheck checklist [--release ID] [--json]`: a tree with states and evidence, then what is left to sign. */
export async function checklistShowCommand(
  opts: GlobalOptions & { release?: string },
  io: Io,
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const query = opts.release ? `?release=${encodeURIComponent(opts.release)}` : '';
  const view = await client.get(`/api/v1/services/${service}/checklist${query}`, checklistShape);
  if (opts.json) {
    io.out(JSON.stringify(view, null, 2));
    return 0;
  }
  formatChecklist(view).forEach((line) => io.out(line));
  return 0;
}

/** The human form of a checklist. */
export function formatChecklist(view: ChecklistView): string[] {
  const { release, gate, items } = view;
  const lines = [
    `release #${release.id} ${release.version}: ${release.state}, ${release.phase}${gate ? ` (gate: ${gate})` : ''}`,
  ];
  if (release.reason) lines.push(`  ${release.reason}`);
  if (items.length === 0) lines.push('  no checklist (checklist.template: none)');
  let section = '';
  for (const item of items) {
    if (item.section !== section) {
      section = item.section;
      lines.push('', section);
    }
    const kind = item.automated ? item.kind : 'manual';
    lines.push(`  [${STATE_MARK[item.state]}] ${item.title}  (${item.id}; ${kind} at ${item.gate})`);
    const last = item.evidence[item.evidence.length - 1];
    if (last) lines.push(`         ${last.summary}${last.note ? `: ${last.note}` : ''}`);
    else if (item.hint) lines.push(`         ${item.hint}`);
  }
  const toSign = items.filter((i) => !i.automated && i.state === 'pending' && i.gate === gate);
  if (toSign.length > 0) {
    lines.push('', `To sign at the ${gate} gate:`);
    for (const item of toSign) lines.push(`  shipcheck sign ${item.id}`);
    if (toSign.length > 1) lines.push('or all of them with one note:', '  shipcheck sign --gate --note TEXT');
  }
  return lines;
}

/**
 * `shipcheck checklist export --format md|html [--release ID] [--out FILE]`: the report after a
 * release, on standard output or written whole to FILE (through a temporary file, so a reader never
 * sees half a report).
 */
export async function checklistExportCommand(
  opts: GlobalOptions & { release?: string; format?: string; out?: string },
  io: Io,
): Promise<number> {
  const format = opts.format ?? 'md';
  if (format !== 'md' && format !== 'html') throw new InputError(`--format ${format}: use md or html`);
  const { client, service } = await resolveTarget(opts);
  const query = opts.release ? `?release=${encodeURIComponent(opts.release)}` : '';
  const view = await client.get(`/api/v1/services/${service}/checklist${query}`, checklistShape);
  const report = renderReport(
    { release: view.release, items: view.items, auditHead: view.auditHead },
    format,
  ).trimEnd();
  if (opts.out === undefined) {
    io.out(report);
    return 0;
  }
  const temporary = `${opts.out}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${report}\n`);
    await rename(temporary, opts.out);
  } catch (err) {
    await rm(temporary, { force: true });
    throw new InputError(
      `cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const items = view.items.length;
  io.out(
    `wrote ${opts.out}: release #${view.release.id}, ${items} item${items === 1 ? '' : 's'} (${format})`,
  );
  return 0;
}

/** `shipcheck sign ITEM [--note TEXT]`, `waive ITEM --reason TEXT`, `checklist rerun ITEM`. */
export async function itemCommand(
  action: 'sign' | 'waive' | 'rerun',
  item: string,
  opts: GlobalOptions & { note?: string; reason?: string },
  io: Io,
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const body: Record<string, unknown> = { item };
  if (opts.note) body.note = opts.note;
  if (opts.reason) body.reason = opts.reason;
  const updated = await client.post(
    `/api/v1/services/${service}/checklist/${action}`,
    body,
    checklistItemShape,
  );
  if (opts.json) io.out(JSON.stringify(updated));
  else io.out(`${updated.id}: ${updated.state}`);
  return 0;
}

/**
 * `shipcheck sign --gate [--note TEXT]`: signs every manual item left at the current gate with one
 * note, and lists them. The API refuses (409) when the release is not at a gate or nothing is left.
 */
export async function signGateCommand(opts: GlobalOptions & { note?: string }, io: Io): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const body: Record<string, unknown> = {};
  if (opts.note) body.note = opts.note;
  const answer = await client
    .post(`/api/v1/services/${service}/checklist/sign-gate`, body, signedGateShape)
    .catch((err: unknown) => {
      if (
        err instanceof ApiError &&
        err.status === NO_ROUTE_STATUS &&
        err.message.startsWith(NO_ROUTE_PREFIX)
      ) {
        throw new ApiError(
          `the server at ${client.baseUrl} cannot sign a whole gate (${err.message}); upgrade it, or sign the items one by one: "shipcheck checklist", then "shipcheck sign ITEM"`,
          err.status,
        );
      }
      throw err;
    });
  if (opts.json) {
    io.out(JSON.stringify(answer));
    return 0;
  }
  const count = answer.signed.length;
  io.out(`signed ${count} item${count === 1 ? '' : 's'} at the ${answer.gate} gate:`);
  for (const item of answer.signed) io.out(`  ${item.id}  ${item.title}`);
  return 0;
}
