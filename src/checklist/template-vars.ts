/**
 * The `{{vars.NAME}}` placeholders of template params: finding them and filling them in from
 * `checklist.vars`. Loading leaves them in place (template-params.ts skips values that hold one);
 * resolving fills them in (template-resolver.ts).
 */
import { isPlainObject } from '../config/yaml-positions.js';

/** `{{vars.NAME}}`, spaces inside the braces allowed; other `{{...}}` belong to the kinds (journey captures). */
const VAR_PLACEHOLDER = /\{\{\s*vars\.([A-Za-z_]\w*)\s*\}\}/g;
const WHOLE_VAR_PLACEHOLDER = /^\{\{\s*vars\.([A-Za-z_]\w*)\s*\}\}$/;
/** A list entry that is one placeholder takes the var's comma-separated values, one entry each. */
const LIST_SEPARATOR = ',';

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

/** True when a value holds a `{{vars.NAME}}` placeholder anywhere. */
export function hasPlaceholder(value: unknown): boolean {
  return placeholderNames(value).length > 0;
}

/** True when `vars` has a value for `name`; an empty value fills nothing in, so it counts as not set. */
export function hasVar(vars: Readonly<Record<string, string>>, name: string): boolean {
  return Object.hasOwn(vars, name) && (vars[name] ?? '').trim() !== '';
}

/**
 * Fills `{{vars.NAME}}` in every string of a value; a list entry that is one placeholder takes the
 * var's comma-separated values. Placeholders of vars that are not set stay as written.
 */
export function fillVars<T>(value: T, vars: Readonly<Record<string, string>>): T {
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
