/**
 * Checklist templates: loading (extends, drops), params checked against each kind, `{{vars.NAME}}`
 * resolved, and `file:line:col` findings. One file for now because the three steps share the
 * positions of one parsed YAML; it is due to be split into loading, parameter checks and var
 * resolution (issue 9).
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  YamlSource,
  closest,
  describeIssue,
  describeTyped,
  gotSuffix,
  isPlainObject,
  pathLabel,
  pathText,
  valueAt,
  type Finding,
  type YamlPath,
  type Schema,
  unwrap,
} from '../config/yaml-positions.js';
import { ConfigError } from '../errors.js';
import { GATES, type Gate } from '../domain/checklist.js';

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
/** The kind of a sign-off by a person. */
export const MANUAL_KIND = 'manual';

/**
 * Kinds a template may name before this build can run them (the status page arrives with the
 * communications work). An item of such a kind loads fine and resolves to a sign-off, so a template
 * is never refused for it. Every other kind is one of the registered check kinds (kinds/index.ts).
 */
export const PLANNED_KIND_NAMES: readonly string[] = ['status-page'];

const TOP_KEYS = ['name', 'extends', 'items', 'drop'] as const;
const ITEM_KEYS = ['id', 'section', 'title', 'kind', 'gate', 'params', 'requires', 'hint'] as const;
const DROP_KEYS = ['id', 'reason'] as const;
const ID_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:\/[a-z0-9]+(?:-[a-z0-9]+)*)*$/;
const ID_EXAMPLE = 'pre-deployment/testing/run-full-test-suite';
const CONFIG_KEY_PATTERN = /^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*$/;
/** A `requires:` key under this prefix is a var, answered from `checklist.vars` itself. */
const VARS_KEY_PREFIX = 'checklist.vars.';
/** `{{vars.NAME}}`, spaces inside the braces allowed; other `{{...}}` belong to the kinds (journey captures). */
const VAR_PLACEHOLDER = /\{\{\s*vars\.([A-Za-z_]\w*)\s*\}\}/g;
const WHOLE_VAR_PLACEHOLDER = /^\{\{\s*vars\.([A-Za-z_]\w*)\s*\}\}$/;
/** A list entry that is one placeholder takes the var's comma-separated values, one entry each. */
const LIST_SEPARATOR = ',';
const YAML_EXTENSION = /\.ya?ml$/i;

/** The built-in default, next to this module when run from source, or in the source tree when built to dist/. */
const DEFAULT_TEMPLATE_CANDIDATES = [
  new URL('./templates/default.yaml', import.meta.url),
  new URL('../../../src/checklist/templates/default.yaml', import.meta.url),
];

/**
 * Loads a template: `default`, `none`, or a YAML file (relative to `configDir`), applying its
 * `extends:` chain. Throws `ConfigError` listing every problem as `file:line:col: message`.
 */
export async function loadTemplate(ref: string, options: LoadTemplateOptions): Promise<Template> {
  if (ref === NO_TEMPLATE) return emptyTemplate(options.kinds);
  const file = ref === DEFAULT_TEMPLATE ? await defaultTemplateFile() : path.resolve(options.configDir, ref);
  const read = await readTemplateText(file);
  if (!read.ok) throw new ConfigError([`${file}: ${read.message}`]);
  return new TemplateFile(file, read.text, options.kinds, []).load();
}

/**
 * Makes a template concrete for one config. `{{vars.NAME}}` in params is filled in from `vars`;
 * an automated item whose `requires` keys are not configured, whose vars are missing, or whose kind
 * this build cannot run becomes a `manual` item with a hint saying what would automate it.
 * Every item is returned, in order. Throws `ConfigError` when a filled-in value breaks the kind's params.
 */
export function resolveItems(template: Template, config: ResolveConfig): ResolvedItem[] {
  const problems: string[] = [];
  const items = template.items.map((item) => resolveItem(item, template, config, problems));
  if (problems.length > 0) throw new ConfigError(problems);
  return items;
}

// ---- loading one file ----

type TemplateText = { ok: true; text: string } | { ok: false; message: string };

async function readTemplateText(file: string): Promise<TemplateText> {
  try {
    return { ok: true, text: await readFile(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, message: 'no such file' };
    if (code === 'EISDIR') return { ok: false, message: 'is a folder, not a template file' };
    return { ok: false, message: `cannot read: ${(err as Error).message}` };
  }
}

async function defaultTemplateFile(): Promise<string> {
  for (const candidate of DEFAULT_TEMPLATE_CANDIDATES) {
    const file = fileURLToPath(candidate);
    try {
      await access(file);
      return file;
    } catch {
      // Try the next place; the last one is reported if none exists.
    }
  }
  return fileURLToPath(DEFAULT_TEMPLATE_CANDIDATES[DEFAULT_TEMPLATE_CANDIDATES.length - 1] as URL);
}

function emptyTemplate(kinds: KindParamsMap): Template {
  return { name: NO_TEMPLATE, file: NO_TEMPLATE, items: [], dropped: [], kinds, locations: new Map() };
}

/** The base a file extends, or the problems that kept it from loading. */
type Base = { ok: true; template: Template; label: string } | { ok: false; problems: string[] };

/** One template file being read: collects every problem, then merges it onto its base. */
class TemplateFile {
  private readonly source: YamlSource;
  private readonly findings: Finding[] = [];
  /** Every id under this file's `items:`, valid or not, so a drop of one is caught either way. */
  private listedIds = new Set<string>();

  constructor(
    private readonly file: string,
    text: string,
    private readonly kinds: KindParamsMap,
    /** Files already being loaded, outermost first, to catch a file that extends itself. */
    private readonly chain: readonly string[],
  ) {
    this.source = new YamlSource(file, text);
  }

  async load(): Promise<Template> {
    const syntax = this.source.syntaxProblems();
    if (syntax.length > 0) throw new ConfigError(this.source.format(syntax));
    if (this.source.isEmpty) {
      throw new ConfigError([
        `${this.source.position(0)}: the file is empty; a template needs "items:" or "extends:"`,
      ]);
    }
    const data = this.source.toJS();
    if (!data.ok) throw new ConfigError(this.source.format([data.problem]));
    if (!isPlainObject(data.value)) {
      const got = describeTyped(data.value);
      throw new ConfigError([
        `${this.source.position(this.source.rootOffset)}: expected a mapping with "items:" at the top level, got ${got}`,
      ]);
    }
    const root = data.value;

    this.unknownKeys(root, [], TOP_KEYS);
    const name = this.optionalString(root, ['name']) ?? path.basename(this.file).replace(YAML_EXTENSION, '');
    const extendsRef = this.optionalString(root, ['extends']);
    const base = extendsRef === undefined ? undefined : await this.loadBase(extendsRef);
    const baseItems = base?.ok ? new Map(base.template.items.map((item) => [item.id, item])) : undefined;
    // A file that names a base extends it even when the name is bad, so its own problems are not doubled.
    const declaresBase = root.extends !== undefined;
    // With a base that failed to load, which ids it has is unknown: skip the checks that need them.
    const lenient = declaresBase && !base?.ok;

    if (root.items === undefined && !declaresBase) {
      this.add(['items'], 'value', 'items: required; a template lists its items, or extends another one');
    }
    const items = this.readItems(root.items, baseItems, lenient);
    const drops = this.readDrops(root.drop, declaresBase, base);

    const problems = this.source.format(this.findings.map((finding) => this.source.place(finding)));
    if (base && !base.ok) problems.push(...base.problems);
    if (problems.length > 0) throw new ConfigError(problems);

    return this.merge(name, base?.ok ? base.template : undefined, items, drops);
  }

  private async loadBase(ref: string): Promise<Base> {
    const at: YamlPath = ['extends'];
    if (ref === NO_TEMPLATE) return { ok: true, template: emptyTemplate(this.kinds), label: `"${ref}"` };
    const file =
      ref === DEFAULT_TEMPLATE ? await defaultTemplateFile() : path.resolve(path.dirname(this.file), ref);
    const label = ref === DEFAULT_TEMPLATE ? `the base template "${ref}"` : `the base template ${ref}`;
    const chain = [...this.chain, this.file];
    if (chain.includes(file)) {
      const loop = [...chain.slice(chain.indexOf(file)), file].map((f) => path.basename(f)).join(' -> ');
      this.add(at, 'value', `extends: "${ref}" closes a loop (${loop})`);
      return { ok: false, problems: [] };
    }
    const read = await readTemplateText(file);
    if (!read.ok) {
      this.add(at, 'value', `extends: ${file}: ${read.message}`);
      return { ok: false, problems: [] };
    }
    try {
      return { ok: true, template: await new TemplateFile(file, read.text, this.kinds, chain).load(), label };
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, problems: err.problems };
      throw err;
    }
  }

  private readItems(
    raw: unknown,
    baseItems: ReadonlyMap<string, TemplateItem> | undefined,
    lenient: boolean,
  ): ParsedItem[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) {
      this.add(['items'], 'value', `items: expected a list${gotSuffix('', raw, true)}`);
      return [];
    }
    const items: ParsedItem[] = [];
    const firstIndex = new Map<string, number>();
    raw.forEach((entry: unknown, index) => {
      const at: YamlPath = ['items', index];
      // Repeats are found from the raw id, so an item with other problems still counts as a use.
      const id = isPlainObject(entry) && typeof entry.id === 'string' ? entry.id : undefined;
      const earlier = id === undefined ? undefined : firstIndex.get(id);
      if (id !== undefined && earlier !== undefined) {
        const line = this.lineOf(['items', earlier]);
        this.add(
          [...at, 'id'],
          'value',
          `${pathLabel([...at, 'id'])}"${id}" is already used by items[${earlier}] on line ${line}`,
        );
      } else if (id !== undefined) {
        firstIndex.set(id, index);
      }
      const item = this.readItem(entry, at, baseItems, lenient);
      if (item && earlier === undefined) items.push({ item, at });
    });
    this.listedIds = new Set(firstIndex.keys());
    return items;
  }

  private readItem(
    raw: unknown,
    at: YamlPath,
    baseItems: ReadonlyMap<string, TemplateItem> | undefined,
    lenient: boolean,
  ): TemplateItem | undefined {
    if (!isPlainObject(raw)) {
      this.add(
        at,
        'value',
        `${pathLabel(at)}expected a mapping with id, section, title, kind and gate${gotSuffix('', raw, true)}`,
      );
      return undefined;
    }
    this.unknownKeys(raw, at, ITEM_KEYS);
    const id = this.requiredString(raw, [...at, 'id']);
    if (id !== undefined && !ID_PATTERN.test(id)) {
      this.add(
        [...at, 'id'],
        'value',
        `${pathLabel([...at, 'id'])}expected a kebab-case id such as ${ID_EXAMPLE}, got "${id}"`,
      );
    }
    const replaced = id === undefined ? undefined : baseItems?.get(id);
    // A replacement may leave out section and title: it stands for the same line of the checklist.
    const inherit = replaced !== undefined || lenient;
    const section = inherit
      ? this.optionalString(raw, [...at, 'section'])
      : this.requiredString(raw, [...at, 'section']);
    if (replaced && section !== undefined && section !== replaced.section) {
      this.add(
        [...at, 'section'],
        'value',
        `${pathLabel([...at, 'section'])}"${section}" differs from the base item's section "${replaced.section}"; ` +
          'a replacement keeps its place, so drop the base item and add a new one to move it',
      );
    }
    const title = inherit
      ? this.optionalString(raw, [...at, 'title'])
      : this.requiredString(raw, [...at, 'title']);
    const kind = this.readKind(raw, at);
    const gate = this.readGate(raw, at);
    const params = this.readParams(raw, at, kind);
    const requires = this.readRequires(raw, at);
    const hint = this.optionalString(raw, [...at, 'hint']);

    const sectionOrBase = section ?? replaced?.section;
    const titleOrBase = title ?? replaced?.title;
    if (
      id === undefined ||
      sectionOrBase === undefined ||
      titleOrBase === undefined ||
      kind === undefined ||
      gate === undefined ||
      params === undefined
    ) {
      return undefined;
    }
    const item: TemplateItem = { id, section: sectionOrBase, title: titleOrBase, kind, gate, params };
    if (requires !== undefined) item.requires = requires;
    if (hint !== undefined) item.hint = hint;
    return item;
  }

  private readKind(raw: Record<string, unknown>, at: YamlPath): string | undefined {
    const kindPath = [...at, 'kind'];
    const kind = this.requiredString(raw, kindPath);
    if (kind === undefined) return undefined;
    const known = knownKinds(this.kinds);
    if (known.includes(kind)) return kind;
    const suggestion = closest(kind, known);
    const advice =
      suggestion === undefined
        ? `; known kinds: ${[...known].sort().join(', ')}`
        : ` (did you mean "${suggestion}"?)`;
    this.add(kindPath, 'value', `${pathLabel(kindPath)}unknown kind "${kind}"${advice}`);
    return undefined;
  }

  private readGate(raw: Record<string, unknown>, at: YamlPath): Gate | undefined {
    const gatePath = [...at, 'gate'];
    const gate = this.requiredString(raw, gatePath);
    if (gate === undefined) return undefined;
    if ((GATES as readonly string[]).includes(gate)) return gate as Gate;
    const suggestion = closest(gate, GATES);
    const advice =
      suggestion === undefined ? `; expected one of ${GATES.join(', ')}` : ` (did you mean "${suggestion}"?)`;
    this.add(gatePath, 'value', `${pathLabel(gatePath)}unknown gate "${gate}"${advice}`);
    return undefined;
  }

  private readParams(
    raw: Record<string, unknown>,
    at: YamlPath,
    kind: string | undefined,
  ): Record<string, unknown> | undefined {
    const paramsPath = [...at, 'params'];
    const params = raw.params ?? {};
    if (!isPlainObject(params)) {
      this.add(
        paramsPath,
        'value',
        `${pathLabel(paramsPath)}expected a mapping${gotSuffix('', params, true)}`,
      );
      return undefined;
    }
    const schema = kind === undefined ? undefined : paramsSchema(kind, this.kinds);
    if (schema) this.findings.push(...paramFindings(schema, params, paramsPath));
    return params;
  }

  private readRequires(raw: Record<string, unknown>, at: YamlPath): string[] | undefined {
    const requiresPath = [...at, 'requires'];
    const value = raw.requires;
    if (value === undefined) return undefined;
    const keys = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(keys)) {
      this.add(
        requiresPath,
        'value',
        `${pathLabel(requiresPath)}expected a config key or a list of them${gotSuffix('', value, true)}`,
      );
      return undefined;
    }
    let ok = true;
    keys.forEach((key: unknown, index) => {
      if (typeof key === 'string' && CONFIG_KEY_PATTERN.test(key)) return;
      ok = false;
      const keyPath = typeof value === 'string' ? requiresPath : [...requiresPath, index];
      this.add(
        keyPath,
        'value',
        `${pathLabel(keyPath)}expected a config key such as backup or checklist.vars.healthPath${gotSuffix('', key, typeof key !== 'string')}`,
      );
    });
    return ok ? (keys as string[]) : undefined;
  }

  private readDrops(raw: unknown, hasBase: boolean, base: Base | undefined): Drop[] {
    if (raw === undefined) return [];
    if (!hasBase) {
      this.add(['drop'], 'key', 'drop: needs "extends:"; without a base template there is nothing to drop');
      return [];
    }
    if (!Array.isArray(raw)) {
      this.add(['drop'], 'value', `drop: expected a list of {id, reason}${gotSuffix('', raw, true)}`);
      return [];
    }
    const baseIds = base?.ok ? base.template.items.map((item) => item.id) : undefined;
    const firstIndex = new Map<string, number>();
    const drops: Drop[] = [];
    raw.forEach((entry: unknown, index) => {
      const at: YamlPath = ['drop', index];
      if (!isPlainObject(entry)) {
        this.add(
          at,
          'value',
          `${pathLabel(at)}expected {id, reason}: a dropped item needs a reason${gotSuffix('', entry, true)}`,
        );
        return;
      }
      this.unknownKeys(entry, at, DROP_KEYS);
      const idPath = [...at, 'id'];
      const id = this.requiredString(entry, idPath);
      const reason = this.readReason(entry, at);
      if (id === undefined) return;
      if (baseIds && !baseIds.includes(id)) {
        const suggestion = closest(id, baseIds);
        const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
        const baseLabel = base?.ok ? base.label : 'the base template';
        this.add(idPath, 'value', `${pathLabel(idPath)}no item "${id}" in ${baseLabel}${hint}`);
        return;
      }
      const earlier = firstIndex.get(id);
      if (earlier !== undefined) {
        this.add(idPath, 'value', `${pathLabel(idPath)}"${id}" is already dropped by drop[${earlier}]`);
        return;
      }
      firstIndex.set(id, index);
      if (this.listedIds.has(id)) {
        this.add(
          idPath,
          'value',
          `${pathLabel(idPath)}"${id}" is also listed under items; replace it or drop it, not both`,
        );
        return;
      }
      if (reason !== undefined) drops.push({ id, reason });
    });
    return drops;
  }

  private readReason(entry: Record<string, unknown>, at: YamlPath): string | undefined {
    const reasonPath = [...at, 'reason'];
    const reason = entry.reason;
    const advice = 'say why this item does not apply';
    if (reason === undefined || reason === null) {
      this.add(reasonPath, 'value', `${pathLabel(reasonPath)}required; ${advice}`);
      return undefined;
    }
    if (typeof reason !== 'string') {
      this.add(
        reasonPath,
        'value',
        `${pathLabel(reasonPath)}expected a string${gotSuffix('', reason, true)}`,
      );
      return undefined;
    }
    if (reason.trim() === '') {
      this.add(reasonPath, 'value', `${pathLabel(reasonPath)}must not be empty; ${advice}`);
      return undefined;
    }
    return reason;
  }

  /** Applies drops, replacements and additions to the base, in that order. */
  private merge(
    name: string,
    base: Template | undefined,
    parsed: readonly ParsedItem[],
    drops: readonly Drop[],
  ): Template {
    const items = [...(base?.items ?? [])];
    const dropped = [...(base?.dropped ?? [])];
    const locations = new Map(base?.locations ?? []);
    for (const drop of drops) {
      const index = items.findIndex((item) => item.id === drop.id);
      const [item] = items.splice(index, 1);
      if (item) dropped.push({ ...item, reason: drop.reason, droppedIn: this.file });
    }
    for (const { item, at } of parsed) {
      locations.set(
        item.id,
        this.source.position(this.source.place({ path: at, anchor: 'value', message: '' }).offset),
      );
      const replacing = items.findIndex((existing) => existing.id === item.id);
      if (replacing >= 0) {
        items[replacing] = item;
        continue;
      }
      // An id an earlier file dropped comes back as a new item, so it is no longer dropped.
      const wasDropped = dropped.findIndex((entry) => entry.id === item.id);
      if (wasDropped >= 0) dropped.splice(wasDropped, 1);
      const lastOfSection = items.map((existing) => existing.section).lastIndexOf(item.section);
      items.splice(lastOfSection >= 0 ? lastOfSection + 1 : items.length, 0, item);
    }
    return { name, file: this.file, items, dropped, kinds: this.kinds, locations };
  }

  // ---- small readers that record a finding and return undefined on a bad value ----

  private requiredString(data: Record<string, unknown>, at: YamlPath): string | undefined {
    const value = data[String(at[at.length - 1])];
    if (value === undefined || value === null) {
      this.add(at, 'value', `${pathLabel(at)}required`);
      return undefined;
    }
    return this.checkString(value, at);
  }

  private optionalString(data: Record<string, unknown>, at: YamlPath): string | undefined {
    const value = data[String(at[at.length - 1])];
    return value === undefined ? undefined : this.checkString(value, at);
  }

  private checkString(value: unknown, at: YamlPath): string | undefined {
    if (typeof value !== 'string') {
      this.add(at, 'value', `${pathLabel(at)}expected a string${gotSuffix('', value, true)}`);
      return undefined;
    }
    if (value.trim() === '') {
      this.add(at, 'value', `${pathLabel(at)}must not be empty`);
      return undefined;
    }
    return value;
  }

  private unknownKeys(data: Record<string, unknown>, at: YamlPath, known: readonly string[]): void {
    const present = Object.keys(data);
    for (const key of present) {
      if (known.includes(key)) continue;
      const suggestion = closest(
        key,
        known.filter((candidate) => !present.includes(candidate)),
      );
      const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
      this.add([...at, key], 'key', `${pathLabel(at)}unknown key "${key}"${hint}`);
    }
  }

  private lineOf(at: YamlPath): number {
    return this.source.lineOf(this.source.place({ path: at, anchor: 'value', message: '' }).offset);
  }

  private add(at: YamlPath, anchor: Finding['anchor'], message: string): void {
    this.findings.push({ path: at, anchor, message });
  }
}

/** An item read from a file, with where it was written. */
interface ParsedItem {
  item: TemplateItem;
  at: YamlPath;
}

interface Drop {
  id: string;
  reason: string;
}

function knownKinds(kinds: KindParamsMap): string[] {
  return [...new Set([...kinds.keys(), ...PLANNED_KIND_NAMES])];
}

function paramsSchema(kind: string, kinds: KindParamsMap): z.ZodType | undefined {
  return kinds.get(kind)?.params;
}

// ---- params validation ----

/**
 * The kind's schema applied to params as written. A problem in a value that holds a `{{vars.NAME}}`
 * placeholder is left for `resolveItems`, which sees the value once it is filled in.
 */
function paramFindings(schema: z.ZodType, params: Record<string, unknown>, at: YamlPath): Finding[] {
  const parsed = schema.safeParse(params, { error: describeIssue });
  if (parsed.success) return [];
  return explainParamIssues(parsed.error.issues, schema, params, at, []);
}

function explainParamIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  params: Record<string, unknown>,
  at: YamlPath,
  prefix: YamlPath,
): Finding[] {
  const findings: Finding[] = [];
  for (const issue of issues) {
    const relative = [...prefix, ...issue.path];
    const full = [...at, ...relative];
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeys(schemaAt(schema, relative));
      for (const key of issue.keys) {
        const suggestion = closest(key, known);
        const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
        findings.push({
          path: [...full, key],
          anchor: 'key',
          message: `${pathLabel(full)}unknown key "${key}"${hint}`,
        });
      }
      continue;
    }
    const value = valueAt(params, relative);
    if (hasPlaceholder(value)) continue;
    if (issue.code === 'invalid_union') {
      const fitting = issue.errors.filter(
        (option) => !option.some((e) => e.path.length === 0 && e.code === 'invalid_type'),
      );
      const [only] = fitting;
      if (fitting.length === 1 && only) {
        findings.push(...explainParamIssues(only, schema, params, at, relative));
        continue;
      }
    }
    findings.push({
      path: full,
      anchor: 'value',
      message: pathLabel(full) + describeParamIssue(issue, value),
    });
  }
  return findings;
}

function describeParamIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value'))
    return 'required';
  if (issue.code === 'invalid_union') {
    // Name the forms the union accepts: `expected a number or a list, got string "200"`.
    const forms = issue.errors.map((option) =>
      option.length === 1 && option[0] ? describeIssue(option[0] as z.core.$ZodRawIssue) : undefined,
    );
    const named = forms.every((form): form is string => form?.startsWith('expected ') === true);
    const message = named
      ? `expected ${forms.map((form) => form.slice('expected '.length)).join(' or ')}`
      : 'does not match any accepted form';
    return message + gotSuffix(message, value, true);
  }
  return issue.message + gotSuffix(issue.message, value, issue.code === 'invalid_type');
}

function schemaAt(schema: Schema, at: YamlPath): Schema | undefined {
  let current: Schema | undefined = schema;
  for (const segment of at) {
    if (current === undefined) return undefined;
    const inner = unwrap(current);
    if (inner instanceof z.core.$ZodObject) {
      current = (inner._zod.def.shape as Record<string, Schema>)[String(segment)];
    } else if (inner instanceof z.core.$ZodArray) {
      current = inner._zod.def.element;
    } else if (inner instanceof z.core.$ZodRecord) {
      current = inner._zod.def.valueType;
    } else {
      return undefined;
    }
  }
  return current;
}

function objectKeys(schema: Schema | undefined): string[] {
  if (schema === undefined) return [];
  const inner = unwrap(schema);
  return inner instanceof z.core.$ZodObject ? Object.keys(inner._zod.def.shape) : [];
}

// ---- resolving ----

function resolveItem(
  item: TemplateItem,
  template: Template,
  config: ResolveConfig,
  problems: string[],
): ResolvedItem {
  if (item.kind === MANUAL_KIND) return { ...item, params: fill(item.params, config.vars), automated: false };

  const reasons: string[] = [];
  if (!template.kinds.has(item.kind)) {
    // Nothing but a person can check it in this build, so naming config keys would mislead.
    reasons.push(`this version of shipcheck cannot run "${item.kind}" checks; sign it by hand`);
  } else {
    const requires = item.requires ?? [];
    const missingKeys = requires.filter((key) => !key.startsWith(VARS_KEY_PREFIX) && !config.configured(key));
    const wantedVars = [
      ...requires
        .filter((key) => key.startsWith(VARS_KEY_PREFIX))
        .map((key) => key.slice(VARS_KEY_PREFIX.length)),
      ...placeholderNames(item.params),
    ];
    const missingVars = [...new Set(wantedVars)].filter((name) => !hasVar(config.vars, name));
    if (missingKeys.length > 0) {
      const keys = listWords(missingKeys.map((key) => `"${key}"`));
      reasons.push(`automated once ${keys} ${missingKeys.length === 1 ? 'is' : 'are'} configured`);
    }
    if (missingVars.length > 0) {
      reasons.push(`set ${listWords(missingVars.map((name) => `${VARS_KEY_PREFIX}${name}`))} to automate`);
    }
  }
  if (reasons.length > 0) {
    const hint = [...reasons, ...(item.hint === undefined ? [] : [item.hint])].join('; ');
    return { ...item, kind: MANUAL_KIND, params: { hint }, hint, automated: false };
  }

  const params = fill(item.params, config.vars);
  const schema = template.kinds.get(item.kind)?.params;
  if (schema) {
    const parsed = schema.safeParse(params, { error: describeIssue });
    if (!parsed.success) {
      const where = template.locations.get(item.id) ?? template.file;
      for (const issue of parsed.error.issues) {
        const value = valueAt(params, issue.path);
        const written = valueAt(item.params, issue.path);
        const names = placeholderNames(written === undefined ? item.params : written);
        const from =
          names.length === 0 ? '' : ` (filled in from ${listWords(names.map((n) => VARS_KEY_PREFIX + n))})`;
        const at = pathText(['params', ...issue.path], false);
        problems.push(`${where}: ${item.id}: ${at}: ${describeParamIssue(issue, value)}${from}`);
      }
    }
  }
  return { ...item, params, automated: true };
}

function hasVar(vars: Readonly<Record<string, string>>, name: string): boolean {
  // An empty value fills nothing in, so it counts as not set.
  return Object.hasOwn(vars, name) && (vars[name] ?? '').trim() !== '';
}

/** Fills `{{vars.NAME}}` in every string; a list entry that is one placeholder takes the var's comma-separated values. */
function fill<T>(value: T, vars: Readonly<Record<string, string>>): T {
  return fillValue(value, vars) as T;
}

function fillValue(value: unknown, vars: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR_PLACEHOLDER, (whole, name: string) =>
      hasVar(vars, name) ? (vars[name] ?? whole) : whole,
    );
  }
  if (Array.isArray(value)) {
    return value.flatMap((entry: unknown) => {
      const name = typeof entry === 'string' ? WHOLE_VAR_PLACEHOLDER.exec(entry)?.[1] : undefined;
      if (name !== undefined && hasVar(vars, name)) {
        return (vars[name] ?? '')
          .split(LIST_SEPARATOR)
          .map((part) => part.trim())
          .filter((part) => part !== '');
      }
      return [fillValue(entry, vars)];
    });
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, fillValue(entry, vars)]));
  }
  return value;
}

/** Names of the `{{vars.NAME}}` placeholders anywhere in a value, in order of appearance, without repeats. */
export function placeholderNames(value: unknown): string[] {
  const names: string[] = [];
  const walk = (node: unknown): void => {
    if (typeof node === 'string') {
      for (const match of node.matchAll(VAR_PLACEHOLDER)) if (match[1] !== undefined) names.push(match[1]);
    } else if (Array.isArray(node)) {
      node.forEach(walk);
    } else if (isPlainObject(node)) {
      Object.values(node).forEach(walk);
    }
  };
  walk(value);
  return [...new Set(names)];
}

function hasPlaceholder(value: unknown): boolean {
  return placeholderNames(value).length > 0;
}

/** `a`, `a and b`, `a, b and c`. */
function listWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1] ?? ''}`;
}

/**
 * `ResolveConfig.configured` for a config object: true when the dotted key leads to a value that is
 * neither null nor undefined (`backup`, `fleet.scaling`, `checklist.vars.healthPath`).
 */
export function configuredIn(config: object): (key: string) => boolean {
  return (key) => {
    let node: unknown = config;
    for (const part of key.split('.')) {
      if (!isPlainObject(node) || !Object.hasOwn(node, part)) return false;
      node = node[part];
    }
    return node !== undefined && node !== null;
  };
}
