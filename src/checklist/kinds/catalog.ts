/**
 * `catalog`: the Documentation items, checked against the service's `catalog:` block.
 * - `check: diagrams`: the files `shipcheck docs` writes exist in `catalog.docsDir` (else the nearest
 *   docs/catalog in the service file's folder or above it), and each records this service's catalog
 *   hash as it is now; a different hash is "stale: regenerate with shipcheck docs".
 * - `check: dependencies`: every dependency the config names (catalog/config-dependencies.ts) is
 *   listed under catalog.dependencies, by its url or its name.
 * - `check: runbooks`: there is at least one, each file exists, each URL answers 2xx or 3xx to HEAD
 *   (or, when HEAD is refused, to GET) within `timeout`.
 * - `check: contacts`: there is at least one, each user exists, is enabled and has an enabled
 *   contact method; each schedule has someone on call now who has one.
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { configDependencies, listedAs, placeText } from '../../catalog/config-dependencies.js';
import { readStamp, serviceHash } from '../../catalog/model.js';
import { onCallAt } from '../../comms/oncall/schedule.js';
import type { CatalogEntry } from '../../config/catalog-schema.js';
import { duration } from '../../config/schema-values.js';
import { errorMessage } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { redactUrl } from '../../util/redact.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';

const DOCS_DIR = path.join('docs', 'catalog');
/** The files whose stamps the diagrams check reads, besides the service's own page. */
const STAMPED_FILES = ['dependencies.mmd', 'dependencies.svg', 'data-flow.mmd', 'data-flow.svg'];

const catalogParams = z
  .strictObject({
    check: z
      .enum(['diagrams', 'dependencies', 'runbooks', 'contacts'])
      .describe(
        'diagrams: generated and current; dependencies: every one the config names is listed; runbooks: files exist and URLs answer; contacts: reach a person.',
      ),
    timeout: duration.prefault('5s').describe('runbooks: longest one URL may take to answer.'),
  })
  .describe("The service catalog's Documentation checks.");

/** Params of a `catalog` item after validation: timeout in ms. */
export type CatalogParams = z.output<typeof catalogParams>;

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Where the generated docs are: catalog.docsDir, else the nearest docs/catalog with an index, else beside the file. */
export async function docsDirOf(catalog: CatalogEntry, configDir: string): Promise<string> {
  if (catalog.docsDir !== undefined) return path.resolve(configDir, catalog.docsDir);
  for (let dir = path.resolve(configDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, DOCS_DIR);
    if (await exists(path.join(candidate, 'index.md'))) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  return path.join(path.resolve(configDir), DOCS_DIR);
}

async function diagramsCheck(catalog: CatalogEntry, context: CheckContext): Promise<CheckResult> {
  const dir = await docsDirOf(catalog, context.configDir);
  const want = serviceHash({ service: context.service, catalog });
  const files = [...STAMPED_FILES, `services/${context.service}.md`];
  const missing: string[] = [];
  const stale: string[] = [];
  for (const name of files) {
    let text: string;
    try {
      text = await readFile(path.join(dir, name), 'utf8');
    } catch {
      missing.push(name);
      continue;
    }
    const recorded = readStamp(text)?.services[context.service];
    if (recorded !== want) stale.push(name);
  }
  const data = { dir, catalogHash: want, missing, stale };
  if (missing.length > 0)
    return {
      ok: false,
      summary: `missing in ${dir}: ${missing.join(', ')}; generate them with shipcheck docs`,
      data,
    };
  if (stale.length > 0)
    return {
      ok: false,
      summary: `stale: regenerate with shipcheck docs (${stale.join(', ')} drawn from another catalog than ${context.service}'s ${want})`,
      data,
    };
  return { ok: true, summary: `diagrams and page in ${dir} are current (catalog ${want})`, data };
}

async function dependenciesCheck(catalog: CatalogEntry, context: CheckContext): Promise<CheckResult> {
  // The automated items' params, vars filled in: the hosts the tcp, sql and http items probe.
  const items = (context.checklistItems ?? []).filter((item) => item.automated);
  const named = configDependencies(context.config, context.configDir, items);
  const unlisted = named.filter((d) => !listedAs(d.place, catalog.dependencies, context.configDir));
  const data = {
    named: named.map((d) => ({ at: placeText(d.place), source: d.source })),
    listed: catalog.dependencies.map((d) => d.name),
    unlisted: unlisted.map((d) => ({ at: placeText(d.place), source: d.source })),
  };
  if (unlisted.length > 0)
    return {
      ok: false,
      summary: `not in catalog.dependencies: ${unlisted.map((d) => `${placeText(d.place)} (${d.source})`).join('; ')}`,
      data,
      value: unlisted.length,
    };
  return {
    ok: true,
    summary: `all ${named.length} dependencies the config names are in the catalog (${catalog.dependencies.length} listed)`,
    data,
    value: 0,
  };
}

/** Whether a URL answers 2xx or 3xx to HEAD, or to GET when HEAD is refused; the reason when not. */
async function answers(
  url: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string }> {
  const ask = async (method: 'HEAD' | 'GET'): Promise<number> => {
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    await response.body?.cancel();
    return response.status;
  };
  const good = (status: number): boolean => status >= 200 && status < 400;
  try {
    const head = await ask('HEAD');
    if (good(head)) return { ok: true, detail: `HEAD ${head}` };
    const get = await ask('GET');
    return { ok: good(get), detail: `HEAD ${head}, GET ${get}` };
  } catch (err) {
    const e = err as Error & { cause?: unknown };
    if (e.name === 'TimeoutError')
      return { ok: false, detail: `no answer within ${formatDuration(timeoutMs)}` };
    const cause = e.cause instanceof Error ? e.cause.message : undefined;
    return { ok: false, detail: cause ?? errorMessage(err) };
  }
}

async function runbooksCheck(
  catalog: CatalogEntry,
  params: CatalogParams,
  context: CheckContext,
): Promise<CheckResult> {
  if (catalog.runbooks.length === 0) return { ok: false, summary: 'no runbooks in catalog.runbooks' };
  const results = await Promise.all(
    catalog.runbooks.map(async (r) => {
      if (r.file !== undefined) {
        const file = path.resolve(context.configDir, r.file);
        const ok = await exists(file);
        return { title: r.title, ok, detail: ok ? `${r.file} exists` : `${r.file}: no such file` };
      }
      const outcome = await answers(r.url ?? '', params.timeout, context.signal);
      return { title: r.title, ok: outcome.ok, detail: `${redactUrl(r.url ?? '')}: ${outcome.detail}` };
    }),
  );
  const failed = results.filter((r) => !r.ok);
  const data = { runbooks: results };
  if (failed.length > 0)
    return {
      ok: false,
      summary: failed.map((r) => `"${r.title}" ${r.detail}`).join('; '),
      data,
      value: failed.length,
    };
  return { ok: true, summary: results.map((r) => `"${r.title}" ${r.detail}`).join('; '), data, value: 0 };
}

/** Why a user cannot be reached, or undefined when they can. */
async function unreachable(user: string, context: CheckContext): Promise<string | undefined> {
  const store = context.store;
  if (!store) return 'no store to look users up in';
  const row = await store.security.getUserByName(user);
  if (!row) return `no user "${user}"`;
  if (row.disabledAt !== null) return `user "${user}" is disabled`;
  const methods = (await store.notifications.contacts.list(row.id)).filter((m) => m.disabledAt === null);
  if (methods.length === 0) return `user "${user}" has no contact method (shipcheck user contact add)`;
  return undefined;
}

async function contactsCheck(catalog: CatalogEntry, context: CheckContext): Promise<CheckResult> {
  if (catalog.contacts.length === 0) return { ok: false, summary: 'no contacts in catalog.contacts' };
  if (!context.store) return { ok: false, inconclusive: true, summary: 'no store to look users up in' };
  const now = context.clock.now();
  const lines: { contact: string; ok: boolean; detail: string }[] = [];
  for (const contact of catalog.contacts) {
    if ('user' in contact) {
      const why = await unreachable(contact.user, context);
      lines.push({ contact: `user ${contact.user}`, ok: why === undefined, detail: why ?? 'reachable' });
      continue;
    }
    const schedule = context.config.oncall.schedules.find((s) => s.name === contact.schedule);
    if (!schedule) {
      lines.push({ contact: `schedule ${contact.schedule}`, ok: false, detail: 'no such schedule' });
      continue;
    }
    const overrides = (await context.store.oncall.overrides(schedule.name, now, now + 1)).map((r) => ({
      user: r.user,
      from: r.startsAt,
      to: r.endsAt,
      id: r.id,
    }));
    const users = onCallAt(schedule, now, overrides).users;
    if (users.length === 0) {
      lines.push({ contact: `schedule ${schedule.name}`, ok: false, detail: 'nobody is on call now' });
      continue;
    }
    const reasons: string[] = [];
    let reached: string | undefined;
    for (const user of users) {
      const why = await unreachable(user, context);
      if (why === undefined) {
        reached = user;
        break;
      }
      reasons.push(why);
    }
    lines.push({
      contact: `schedule ${schedule.name}`,
      ok: reached !== undefined,
      detail: reached !== undefined ? `${reached} is on call and reachable` : reasons.join(', '),
    });
  }
  const failed = lines.filter((l) => !l.ok);
  const text = (list: typeof lines): string => list.map((l) => `${l.contact}: ${l.detail}`).join('; ');
  return failed.length > 0
    ? { ok: false, summary: text(failed), data: { contacts: lines }, value: failed.length }
    : { ok: true, summary: text(lines), data: { contacts: lines }, value: 0 };
}

/** `catalog`: the Documentation items, against the service's catalog. */
export const catalogCheck: CheckKind<CatalogParams> = {
  kind: 'catalog',
  params: catalogParams,
  async run(params, context): Promise<CheckResult> {
    const catalog = context.config.catalog;
    if (!catalog) return { ok: false, summary: 'the service has no catalog: block' };
    switch (params.check) {
      case 'diagrams':
        return diagramsCheck(catalog, context);
      case 'dependencies':
        return dependenciesCheck(catalog, context);
      case 'runbooks':
        return runbooksCheck(catalog, params, context);
      case 'contacts':
        return contactsCheck(catalog, context);
    }
  },
};
