/**
 * Loads checklist templates: the built-in `default` and `none`, or a YAML file with its `extends:`
 * chain and `drop:` list applied. Every problem is collected and reported at once as
 * `file:line:col: message`; the params of each item are checked against its kind in
 * template-params.ts.
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  YamlSource,
  closest,
  describeTyped,
  gotSuffix,
  isPlainObject,
  pathLabel,
  type Finding,
  type YamlPath,
} from '../config/yaml-positions.js';
import { ConfigError } from '../errors.js';
import { GATES, type Gate } from '../domain/checklist.js';
import { paramFindings, unknownKindProblem } from './template-params.js';
import { cronProblem, timezoneProblem } from '../maintenance/cron.js';
import {
  DEFAULT_TEMPLATE,
  NO_TEMPLATE,
  type KindParamsMap,
  type LoadTemplateOptions,
  type Template,
  type TemplateItem,
} from './template-types.js';

const TOP_KEYS = ['name', 'extends', 'items', 'drop'] as const;
const ITEM_KEYS = [
  'id',
  'section',
  'title',
  'kind',
  'gate',
  'params',
  'requires',
  'hint',
  'schedule',
  'timezone',
] as const;
const DROP_KEYS = ['id', 'reason'] as const;
const ID_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:\/[a-z0-9]+(?:-[a-z0-9]+)*)*$/;
const ID_EXAMPLE = 'pre-deployment/testing/run-full-test-suite';
const CONFIG_KEY_PATTERN = /^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*$/;
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
    const schedule = this.readChecked(raw, [...at, 'schedule'], cronProblem);
    const timezone = this.readChecked(raw, [...at, 'timezone'], timezoneProblem);

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
    if (schedule !== undefined) item.schedule = schedule;
    if (timezone !== undefined) item.timezone = timezone;
    return item;
  }

  private readKind(raw: Record<string, unknown>, at: YamlPath): string | undefined {
    const kindPath = [...at, 'kind'];
    const kind = this.requiredString(raw, kindPath);
    if (kind === undefined) return undefined;
    const problem = unknownKindProblem(kind, this.kinds);
    if (problem === undefined) return kind;
    this.add(kindPath, 'value', `${pathLabel(kindPath)}${problem}`);
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
    const schema = kind === undefined ? undefined : this.kinds.get(kind)?.params;
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

  /** An optional string that `problem` accepts (a cron schedule, a time zone). */
  private readChecked(
    data: Record<string, unknown>,
    at: YamlPath,
    problem: (value: string) => string | undefined,
  ): string | undefined {
    const value = this.optionalString(data, at);
    const found = value === undefined ? undefined : problem(value);
    if (found !== undefined) this.add(at, 'value', `${pathLabel(at)}${found}`);
    return found === undefined ? value : undefined;
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
