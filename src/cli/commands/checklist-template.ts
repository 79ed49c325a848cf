import path from 'node:path';
import {
  DEFAULT_TEMPLATE,
  NO_TEMPLATE,
  configuredIn,
  loadTemplate,
  resolveItems,
  type KindParamsMap,
  type ResolvedItem,
  type Template,
} from '../../checklist/template.js';
import { loadInstallation } from '../../config/installation.js';
import { chooseService } from '../target.js';

/** Options of `checklist template show|validate`. */
export interface TemplateCommandOptions {
  /** The config file; its `checklist.template` and `checklist.vars` are used. */
  config: string;
  /** Which service's, when the file lists several. */
  service?: string;
  /** A template to use instead of the config's: `default`, `none` or a path (relative to the working folder). */
  template?: string;
  json?: boolean;
}

/** Where a command writes its lines. */
export interface TemplateCommandIo {
  out(line: string): void;
}

/** What `checklist template show --json` prints. */
export interface TemplateView {
  name: string;
  file: string;
  items: ResolvedItem[];
  dropped: Template['dropped'];
}

/** Columns are padded to the longest gate and kind, so ids and titles line up. */
const INDENT = '  ';
const COLUMN_GAP = '  ';

/**
 * `shipcheck checklist template show`: the template resolved against the config, as a tree
 * (section, then `[gate] kind  id  title`, with the reason under an item that fell back to a
 * sign-off) and the dropped items with their reasons; or `TemplateView` as JSON. Returns 0.
 * Throws `ConfigError` for a bad config or template.
 */
export async function templateShowCommand(
  opts: TemplateCommandOptions,
  io: TemplateCommandIo,
  kinds: KindParamsMap,
): Promise<number> {
  const { template, items } = await resolvedTemplate(opts, kinds);
  if (opts.json) {
    const view: TemplateView = { name: template.name, file: template.file, items, dropped: template.dropped };
    io.out(JSON.stringify(view, null, 2));
    return 0;
  }
  formatTemplate(template, items).forEach((line) => io.out(line));
  return 0;
}

/**
 * `shipcheck checklist template validate`: loads and resolves the template and prints
 * `<template>: ok (N items, M automated)`; returns 0. Throws `ConfigError` listing every problem.
 */
export async function templateValidateCommand(
  opts: TemplateCommandOptions,
  io: TemplateCommandIo,
  kinds: KindParamsMap,
): Promise<number> {
  const { ref, items } = await resolvedTemplate(opts, kinds);
  const automated = items.filter((item) => item.automated).length;
  io.out(`${ref}: ok (${items.length} ${items.length === 1 ? 'item' : 'items'}, ${automated} automated)`);
  return 0;
}

/** The human form of a resolved template. */
export function formatTemplate(template: Template, items: readonly ResolvedItem[]): string[] {
  const automated = items.filter((item) => item.automated).length;
  const lines = [
    `${template.name}: ${items.length} items, ${automated} automated, ${items.length - automated} signed by hand (${template.file})`,
  ];
  if (items.length === 0) lines.push(`${INDENT}no items`);
  const gateWidth = Math.max(0, ...items.map((item) => item.gate.length + '[]'.length));
  const kindWidth = Math.max(0, ...items.map((item) => item.kind.length));
  const written = new Map(template.items.map((item) => [item.id, item]));
  let section: string | undefined;
  for (const item of items) {
    if (item.section !== section) {
      section = item.section;
      lines.push('', section);
    }
    const gate = `[${item.gate}]`.padEnd(gateWidth);
    lines.push(
      `${INDENT}${gate} ${item.kind.padEnd(kindWidth)}${COLUMN_GAP}${item.id}${COLUMN_GAP}${item.title}`,
    );
    // Say why an automated item is a sign-off for now; a manual item's own hint is for the signer.
    if (written.get(item.id)?.kind !== item.kind && item.hint) {
      lines.push(`${INDENT}${' '.repeat(gateWidth + 1)}${item.hint}`);
    }
  }
  if (template.dropped.length > 0) {
    lines.push('', 'Dropped');
    for (const item of template.dropped) lines.push(`${INDENT}${item.id}  ${item.title}: ${item.reason}`);
  }
  return lines;
}

async function resolvedTemplate(
  opts: TemplateCommandOptions,
  kinds: KindParamsMap,
): Promise<{ ref: string; template: Template; items: ResolvedItem[] }> {
  const { config, dir } = chooseService(await loadInstallation(opts.config), opts);
  // A path on the command line means what the shell means: relative to the working folder.
  const fromFlag =
    opts.template === undefined || opts.template === DEFAULT_TEMPLATE || opts.template === NO_TEMPLATE
      ? opts.template
      : path.resolve(opts.template);
  const ref = opts.template ?? config.checklist.template;
  const template = await loadTemplate(fromFlag ?? ref, { configDir: dir, kinds });
  const items = resolveItems(template, { vars: config.checklist.vars, configured: configuredIn(config) });
  return { ref, template, items };
}
