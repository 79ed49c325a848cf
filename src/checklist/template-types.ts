/**
 * The shapes of checklist templates, shared by loading (template-loader.ts), parameter checks
 * (template-params.ts) and resolving (template-resolver.ts). Other code imports them through
 * template.ts.
 */
import type { z } from 'zod';
import type { Gate } from '../domain/checklist.js';

/** One line of a checklist template: what to check, when, and how. */
export interface TemplateItem {
  /** Stable kebab-case id, `section-slug/title-slug`; extension files replace and drop items by it. */
  id: string;
  /** The seed's `##` and `###` titles joined by ` / `, e.g. `Pre-Deployment / Infrastructure`. */
  section: string;
  /** The seed line's own words. */
  title: string;
  /** The check kind that runs it, or `manual` for a sign-off. */
  kind: string;
  gate: Gate;
  /** The kind's params as written; `{{vars.NAME}}` placeholders are still in them. */
  params: Record<string, unknown>;
  /** Config keys that must be set before the item can run automatically, e.g. `backup`. */
  requires?: string[];
  /** What a person checks when the item is (or falls back to) a sign-off. */
  hint?: string;
  /** A cron schedule (croner: 5 fields, or 6 with seconds) on which `shipcheck up` runs the item between releases. */
  schedule?: string;
  /** The IANA time zone of `schedule`; `maintenance.timezone` (UTC by default) when absent. */
  timezone?: string;
}

/** An item an extension file dropped, kept so reports can show it and why. */
export interface DroppedItem extends TemplateItem {
  reason: string;
  /** The template file whose `drop:` removed it. */
  droppedIn: string;
}

/** What loading needs to know about a check kind: how to validate its params. */
export interface KindParams {
  readonly params: z.ZodType;
}

/** Check kinds by name, as the registry (`checkKinds()`) returns them. */
export type KindParamsMap = ReadonlyMap<string, KindParams>;

/** A loaded, validated template with its extensions applied. */
export interface Template {
  name: string;
  /** Absolute path of the template file, or `none` for the empty built-in template. */
  file: string;
  /** In checklist order. */
  items: TemplateItem[];
  dropped: DroppedItem[];
  /** The kinds this build can run, as given to `loadTemplate`; any other kind resolves to a sign-off. */
  kinds: KindParamsMap;
  /** `file:line:col` of each item's definition, by id, for problems found when resolving it. */
  locations: ReadonlyMap<string, string>;
}

/** Where relative template paths resolve, and the check kinds whose params are validated. */
export interface LoadTemplateOptions {
  /** Folder of the config file; a template path in the config is relative to it. */
  configDir: string;
  kinds: KindParamsMap;
}

/** A template item made concrete for one config: placeholders filled in, or turned into a sign-off. */
export type ResolvedItem = TemplateItem & {
  /** False for a sign-off: a manual item, or an automated one whose inputs are not configured. */
  automated: boolean;
};

/** What `resolveItems` needs from the config. */
export interface ResolveConfig {
  /** `checklist.vars`: values for `{{vars.NAME}}`. */
  vars: Readonly<Record<string, string>>;
  /** Whether a config key (dotted path, e.g. `backup` or `fleet.scaling`) is set. */
  configured: (key: string) => boolean;
}

/** The built-in production checklist. */
export const DEFAULT_TEMPLATE = 'default';
/** The built-in empty template: no checklist. */
export const NO_TEMPLATE = 'none';
