/**
 * Checks a template item against its kind: that the kind is one a template may name, and that its
 * params fit the kind's schema. Findings carry YAML paths, so loading (template-loader.ts) can place
 * them at `file:line:col`; resolving (template-resolver.ts) reuses the wording for filled-in values.
 */
import { z } from 'zod';
import {
  closest,
  describeIssue,
  gotSuffix,
  pathLabel,
  unwrap,
  valueAt,
  type Finding,
  type Schema,
  type YamlPath,
} from '../config/yaml-positions.js';
import { PLANNED_KIND_NAMES } from './kinds/index.js';
import type { KindParamsMap } from './template-types.js';
import { hasPlaceholder } from './template-vars.js';

/**
 * Every kind a template may name: the check kinds given to `loadTemplate` (the registry's, from
 * `checkKinds()`), and the registry's planned kinds, which resolve to a sign-off.
 */
export function templateKindNames(kinds: KindParamsMap): string[] {
  return [...new Set([...kinds.keys(), ...PLANNED_KIND_NAMES])];
}

/** Why a template cannot name `kind`, e.g. `unknown kind "htpp" (did you mean "http"?)`; undefined when it can. */
export function unknownKindProblem(kind: string, kinds: KindParamsMap): string | undefined {
  const known = templateKindNames(kinds);
  if (known.includes(kind)) return undefined;
  const suggestion = closest(kind, known);
  const advice =
    suggestion === undefined
      ? `; known kinds: ${[...known].sort().join(', ')}`
      : ` (did you mean "${suggestion}"?)`;
  return `unknown kind "${kind}"${advice}`;
}

/**
 * The kind's schema applied to params as written, with findings under `at`. A problem in a value
 * that holds a `{{vars.NAME}}` placeholder is left for `resolveItems`, which sees the value once it
 * is filled in.
 */
export function paramFindings(schema: z.ZodType, params: Record<string, unknown>, at: YamlPath): Finding[] {
  const parsed = schema.safeParse(params, { error: describeIssue });
  if (parsed.success) return [];
  return explainParamIssues(parsed.error.issues, schema, params, at, []);
}

/** One issue of a params schema in words, e.g. `expected a number or a list, got string "200"`. */
export function describeParamIssue(issue: z.core.$ZodIssue, value: unknown): string {
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
