/**
 * The status page as server-rendered HTML (`/status`) with its own small stylesheet, and the small
 * pages of the subscription links. No script, nothing from another origin; every word that comes
 * from config or from people is escaped.
 */
import { escapeHtml } from '../../util/escape-html.js';
import type { PageIncidentRow } from '../../store/status-page-store.js';
import { type ComponentStatus, type UptimeDay, isoWithOffset, statusWords } from './derive.js';
import type { ComponentView } from './status-page.js';

/** The stylesheet's path under the page. */
export const STATUS_CSS_PATH = '/status/assets/status.css';

/** Everything the page shows. */
export interface StatusHtmlInput {
  name: string;
  timeZone: string;
  now: number;
  status: { indicator: string; description: string };
  components: ComponentView[];
  uptime: Map<string, UptimeDay[]>;
  unresolved: PageIncidentRow[];
  /** Resolved incidents, newest first. */
  recent: PageIncidentRow[];
  active: PageIncidentRow[];
  upcoming: PageIncidentRow[];
}

const STATUS_LABEL: Record<ComponentStatus, string> = {
  operational: 'Operational',
  under_maintenance: 'Under maintenance',
  degraded_performance: 'Degraded performance',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
};

/** The page's stylesheet: readable on a phone, colours backed by words. */
export const STATUS_CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f8fa}
main{max-width:54rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
h3{font-size:1rem;margin:0}
a{color:#0550ae}
.banner{padding:1rem;border-radius:.4rem;color:#fff;font-weight:600;font-size:1.15rem;background:#1a7f37}
.banner.minor{background:#9a6700}.banner.major{background:#bc4c00}.banner.critical{background:#cf222e}
.banner.maintenance{background:#0969da}
.card{background:#fff;border:1px solid #d0d7de;border-radius:.4rem;padding:.75rem 1rem;margin:.5rem 0}
.row{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
.desc{color:#57606a;font-size:.9rem;margin:.1rem 0}
.st{font-weight:600}
.operational{color:#1a7f37}.degraded_performance{color:#9a6700}.partial_outage{color:#bc4c00}
.major_outage{color:#cf222e}.under_maintenance{color:#0969da}
.bar{display:flex;gap:1px;list-style:none;margin:.5rem 0 0;padding:0;height:2rem}
.bar li{flex:1;border-radius:1px;background:#1a7f37;min-width:1px}
.bar li.d-none{background:#d0d7de}.bar li.d-degraded_performance{background:#d4a72c}
.bar li.d-partial_outage{background:#fb8f44}.bar li.d-major_outage{background:#cf222e}
.bar li.d-under_maintenance{background:#54aeff}
.legend{display:flex;justify-content:space-between;color:#57606a;font-size:.8rem}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.update{border-left:3px solid #d0d7de;padding-left:.75rem;margin:.5rem 0}
.update p{margin:.2rem 0;white-space:pre-wrap}
.when{color:#57606a;font-size:.85rem}
form{display:flex;gap:.5rem;flex-wrap:wrap}
input[type=email]{flex:1;min-width:12rem;padding:.5rem;border:1px solid #d0d7de;border-radius:.3rem;font:inherit}
button{padding:.5rem 1rem;border:0;border-radius:.3rem;background:#0969da;color:#fff;font:inherit;cursor:pointer}
footer{margin:2rem 0 1rem;color:#57606a;font-size:.9rem}
`.trim();

/** A time as the page shows it, in its time zone. */
function when(at: number, timeZone: string): string {
  const text = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(new Date(at));
  return `<time datetime="${escapeHtml(isoWithOffset(at, timeZone))}">${escapeHtml(text)} (${escapeHtml(timeZone)})</time>`;
}

function bannerClass(input: StatusHtmlInput): string {
  if (input.status.indicator === 'none')
    return input.status.description === 'Service Under Maintenance' ? 'maintenance' : 'none';
  return input.status.indicator;
}

function uptimeText(bar: readonly UptimeDay[]): string {
  const known = bar.filter((d) => d.uptime !== null);
  if (known.length === 0) return 'no data yet';
  const share = known.reduce((sum, d) => sum + (d.uptime ?? 0), 0) / known.length;
  return `${(share * 100).toFixed(2)}% uptime`;
}

function dayTitle(day: UptimeDay): string {
  if (day.worst === null || day.uptime === null) return `${day.date}: no data`;
  return `${day.date}: ${(day.uptime * 100).toFixed(2)}% up, worst ${STATUS_LABEL[day.worst].toLowerCase()}`;
}

function componentHtml(c: ComponentView, bar: readonly UptimeDay[] | undefined): string {
  const days = bar ?? [];
  const items = days
    .map((d) => {
      const title = escapeHtml(dayTitle(d));
      return `<li class="d-${d.worst ?? 'none'}" title="${title}"><span class="vh">${title}</span></li>`;
    })
    .join('');
  return (
    `<div class="card" id="component-${escapeHtml(c.id)}"><div class="row"><h3>${escapeHtml(c.name)}</h3>` +
    `<span class="st ${c.status}">${escapeHtml(STATUS_LABEL[c.status])}</span></div>` +
    (c.description ? `<p class="desc">${escapeHtml(c.description)}</p>` : '') +
    (days.length > 0
      ? `<ol class="bar" aria-label="${escapeHtml(`${c.name}: uptime over the last ${days.length} days`)}">${items}</ol>` +
        `<div class="legend"><span>${days.length} days ago</span><span>${escapeHtml(uptimeText(days))}</span><span>Today</span></div>`
      : '') +
    `</div>`
  );
}

function incidentHtml(i: PageIncidentRow, timeZone: string, names: ReadonlyMap<string, string>): string {
  const affected = i.components.map((id) => names.get(id) ?? id);
  const window =
    i.kind === 'maintenance' && i.scheduledFor !== null && i.scheduledUntil !== null
      ? `<p class="when">Scheduled for ${when(i.scheduledFor, timeZone)} until ${when(i.scheduledUntil, timeZone)}</p>`
      : '';
  const updates = i.updates
    .map(
      (u) =>
        `<div class="update"><strong>${escapeHtml(statusWords(u.status))}</strong>` +
        `<p>${escapeHtml(u.body)}</p><span class="when">${when(u.displayAt, timeZone)}</span></div>`,
    )
    .join('');
  return (
    `<article class="card" id="${i.kind}-${escapeHtml(i.publicId)}"><div class="row"><h3>${escapeHtml(i.name)}</h3>` +
    `<span class="st">${escapeHtml(statusWords(i.status))}${i.kind === 'incident' ? `, ${escapeHtml(i.impact)} impact` : ''}</span></div>` +
    (affected.length > 0 ? `<p class="desc">Affects ${escapeHtml(affected.join(', '))}</p>` : '') +
    window +
    updates +
    `</article>`
  );
}

/** The whole page. */
export function renderStatusPage(input: StatusHtmlInput): string {
  const { timeZone } = input;
  const names = new Map(input.components.map((c) => [c.id, c.name]));
  const shown = input.components.filter(
    (c) => c.showcase && !(c.onlyShowIfDegraded && c.status === 'operational'),
  );
  const groups: string[] = [];
  const seen = new Set<string>();
  for (const c of shown) {
    if (c.group === null) {
      groups.push(componentHtml(c, input.uptime.get(c.id)));
      continue;
    }
    if (seen.has(c.group)) continue;
    seen.add(c.group);
    const members = shown.filter((m) => m.group === c.group);
    groups.push(
      `<section aria-label="${escapeHtml(c.group)}"><h3>${escapeHtml(c.group)}</h3>` +
        members.map((m) => componentHtml(m, input.uptime.get(m.id))).join('') +
        `</section>`,
    );
  }
  const list = (title: string, rows: PageIncidentRow[], empty?: string): string =>
    rows.length === 0 && empty === undefined
      ? ''
      : `<h2>${escapeHtml(title)}</h2>` +
        (rows.length === 0
          ? `<p class="desc">${escapeHtml(empty ?? '')}</p>`
          : rows.map((r) => incidentHtml(r, timeZone, names)).join(''));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.name)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STATUS_CSS_PATH}">
<link rel="alternate" type="application/atom+xml" title="${escapeHtml(input.name)} incident history" href="/status/history.atom">
</head><body><main>
<h1>${escapeHtml(input.name)}</h1>
<p class="banner ${bannerClass(input)}" role="status">${escapeHtml(input.status.description)}</p>
${list('Active incidents', input.unresolved)}
${list('Maintenance in progress', input.active)}
<h2>Components</h2>
${groups.join('\n')}
${list('Upcoming maintenance', input.upcoming)}
${list('Past incidents', input.recent, 'No incidents reported recently.')}
<h2 id="subscribe">Get updates</h2>
<form method="post" action="/status/subscribe">
<label class="vh" for="email">Email address</label>
<input type="email" id="email" name="email" required maxlength="254" placeholder="you@example.com" autocomplete="email">
<button type="submit">Subscribe by email</button>
</form>
<footer><a href="/status/history.atom">Incident history (Atom feed)</a> · <a href="/api/v2/summary.json">JSON API</a>
· Updated ${when(input.now, timeZone)}</footer>
</main></body></html>
`;
}

/**
 * A short page saying one thing (a subscription's confirmation, an unsubscribe's result), or asking
 * for it with one button: a form posting `fields` (hidden) to `action` on this origin.
 */
export function renderNotePage(
  pageName: string,
  title: string,
  body: string,
  form?: { action: string; button: string; fields: Readonly<Record<string, string>> },
): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${title} · ${pageName}`)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STATUS_CSS_PATH}">
</head><body><main>
<h1>${escapeHtml(pageName)}</h1>
<div class="card"><h2>${escapeHtml(title)}</h2><p>${escapeHtml(body)}</p>
${
  form
    ? `<form method="post" action="${escapeHtml(form.action)}">` +
      Object.entries(form.fields)
        .map(
          ([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
        )
        .join('') +
      `<button type="submit">${escapeHtml(form.button)}</button></form>`
    : ''
}
</div>
<footer><a href="/status">Back to the status page</a></footer>
</main></body></html>
`;
}

/** The incident history as an Atom 1.0 feed: one entry per incident and maintenance, newest first. */
export function renderAtom(input: {
  name: string;
  pageUrl: string;
  pageId: string;
  now: number;
  incidents: PageIncidentRow[];
}): string {
  const iso = (at: number): string => new Date(at).toISOString();
  const updated = Math.max(0, ...input.incidents.map((i) => i.updatedAt)) || input.now;
  const entries = input.incidents
    .map((i) => {
      const link = `${input.pageUrl}#${i.kind}-${i.publicId}`;
      const content = i.updates
        .map(
          (u) =>
            `<p><small>${escapeHtml(iso(u.displayAt))}</small> <strong>${escapeHtml(statusWords(u.status))}</strong> - ${escapeHtml(u.body)}</p>`,
        )
        .join('');
      return `<entry>
<id>tag:shipcheck,2026:status-page:${escapeHtml(input.pageId)}:${i.kind}:${escapeHtml(i.publicId)}</id>
<title>${escapeHtml(i.name)}</title>
<published>${iso(i.createdAt)}</published>
<updated>${iso(i.updatedAt)}</updated>
<link rel="alternate" type="text/html" href="${escapeHtml(link)}"/>
<content type="html">${escapeHtml(content)}</content>
</entry>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<id>tag:shipcheck,2026:status-page:${escapeHtml(input.pageId)}</id>
<title>${escapeHtml(`${input.name} status - incident history`)}</title>
<updated>${iso(updated)}</updated>
<author><name>${escapeHtml(input.name)}</name></author>
<link rel="alternate" type="text/html" href="${escapeHtml(input.pageUrl)}"/>
<link rel="self" type="application/atom+xml" href="${escapeHtml(`${input.pageUrl}/history.atom`)}"/>
${entries}
</feed>
`;
}
