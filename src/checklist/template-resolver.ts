/**
 * Makes a loaded template concrete for one config: `{{vars.NAME}}` filled in, the filled-in params
 * checked against their kind again, and an automated item whose inputs are missing turned into a
 * sign-off that says what would automate it.
 */
import { describeIssue, isPlainObject, pathText, valueAt } from '../config/yaml-positions.js';
import { ConfigError } from '../errors.js';
import { MANUAL_KIND } from './kinds/manual.js';
import { describeParamIssue } from './template-params.js';
import type { ResolveConfig, ResolvedItem, Template, TemplateItem } from './template-types.js';
import { fillVars, hasVar, placeholderNames } from './template-vars.js';

/** A `requires:` key under this prefix is a var, answered from `checklist.vars` itself. */
const VARS_KEY_PREFIX = 'checklist.vars.';

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

/**
 * `ResolveConfig.configured` for a config object: true when the dotted key leads to a value that is
 * neither null nor undefined (`backup`, `fleet.scaling`, `checklist.vars.healthPath`), nor an empty
 * list (`channels` defaults to `[]`).
 */
export function configuredIn(config: object): (key: string) => boolean {
  return (key) => {
    let node: unknown = config;
    for (const part of key.split('.')) {
      if (!isPlainObject(node) || !Object.hasOwn(node, part)) return false;
      node = node[part];
    }
    return node !== undefined && node !== null && !(Array.isArray(node) && node.length === 0);
  };
}

function resolveItem(
  item: TemplateItem,
  template: Template,
  config: ResolveConfig,
  problems: string[],
): ResolvedItem {
  if (item.kind === MANUAL_KIND) {
    return { ...item, params: fillVars(item.params, config.vars), automated: false };
  }

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

  const params = fillVars(item.params, config.vars);
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

/** `a`, `a and b`, `a, b and c`. */
function listWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1] ?? ''}`;
}
