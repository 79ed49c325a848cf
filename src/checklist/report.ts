import type { ChecklistItemRow, ReleaseRow } from '../store/types.js';
import type { ItemState } from '../domain/checklist.js';
import { escapeHtml } from '../util/escape-html.js';

/** A report format `checklist export` writes. */
export type ReportFormat = 'md' | 'html';

/** What a report is made of: the release and its checklist. */
export interface ReportInput {
  release: Pick<
    ReleaseRow,
    'id' | 'service' | 'version' | 'fromVersion' | 'state' | 'reason' | 'createdAt' | 'endedAt'
  >;
  items: ChecklistItemRow[];
  /** The audit log's head when the report was made: its anchor. */
  auditHead?: { seq: number; hash: string } | null | undefined;
}

const STATE_LABEL: Record<ItemState, string> = {
  inconclusive: 'inconclusive',
  passed: 'passed',
  waived: 'waived',
  failed: 'FAILED',
  running: 'running',
  pending: 'open',
  'not-applicable': 'n/a',
};

function time(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** One line per piece of evidence: `2026-11-26 09:00:00 UTC, signed by ana: runbook 12`. */
function evidenceLines(item: ChecklistItemRow): string[] {
  return item.evidence.map((e) => `${time(e.at)}: ${e.summary}${e.note ? ` (${e.note})` : ''}`);
}

/** Groups items by their top-level section (`Pre-Deployment`), keeping template order. */
function bySection(items: ChecklistItemRow[]): Map<string, ChecklistItemRow[]> {
  const sections = new Map<string, ChecklistItemRow[]>();
  for (const item of items) {
    const list = sections.get(item.section) ?? [];
    list.push(item);
    sections.set(item.section, list);
  }
  return sections;
}

/** Renders the filed record of a release: every section, item, state and piece of evidence. */
export function renderReport(input: ReportInput, format: ReportFormat): string {
  const { release, items } = input;
  const title = `Release #${release.id}: ${release.service} ${release.fromVersion ?? '(none)'} -> ${release.version}`;
  const summary = [
    `State: ${release.state}${release.reason ? ` (${release.reason})` : ''}`,
    `Started: ${time(release.createdAt)}; ended: ${time(release.endedAt)}`,
    `Items: ${items.length}; passed ${items.filter((i) => i.state === 'passed').length}, ` +
      `waived ${items.filter((i) => i.state === 'waived').length}, failed ${items.filter((i) => i.state === 'failed').length}, ` +
      `open ${items.filter((i) => i.state === 'pending' || i.state === 'running').length}`,
    ...(input.auditHead
      ? [
          `Audit log anchor: entry ${input.auditHead.seq}, sha256 ${input.auditHead.hash} ` +
            `(shipcheck audit verify --anchor ${input.auditHead.seq}:${input.auditHead.hash})`,
        ]
      : []),
  ];
  const sections = bySection(items);
  if (format === 'md') {
    const lines = [`# ${title}`, '', ...summary.map((s) => `- ${s}`)];
    for (const [section, list] of sections) {
      lines.push('', `## ${section}`, '');
      for (const item of list) {
        const box = item.state === 'passed' || item.state === 'waived' ? '[x]' : '[ ]';
        lines.push(
          `- ${box} **${item.title}** (${STATE_LABEL[item.state]}; ${item.kind} at ${item.gate}; \`${item.id}\`)`,
        );
        for (const line of evidenceLines(item)) lines.push(`  - ${line}`);
        if (item.evidence.length === 0 && item.hint) lines.push(`  - ${item.hint}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
  const body: string[] = [
    `<h1>${escapeHtml(title)}</h1>`,
    '<ul>',
    ...summary.map((s) => `<li>${escapeHtml(s)}</li>`),
    '</ul>',
  ];
  for (const [section, list] of sections) {
    body.push(
      `<h2>${escapeHtml(section)}</h2>`,
      '<table>',
      '<tr><th>Item</th><th>State</th><th>Kind, gate</th><th>Evidence</th></tr>',
    );
    for (const item of list) {
      const evidence = evidenceLines(item).map(escapeHtml).join('<br>') || escapeHtml(item.hint ?? '');
      body.push(
        `<tr class="${escapeHtml(item.state)}"><td>${escapeHtml(item.title)}<br><code>${escapeHtml(item.id)}</code></td>` +
          `<td>${escapeHtml(STATE_LABEL[item.state])}</td><td>${escapeHtml(item.kind)}, ${escapeHtml(item.gate)}</td>` +
          `<td>${evidence}</td></tr>`,
      );
    }
    body.push('</table>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.failed td:nth-child(2){color:#b00;font-weight:bold}.passed td:nth-child(2){color:#070}</style>
</head><body>
${body.join('\n')}
</body></html>
`;
}
