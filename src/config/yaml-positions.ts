import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document } from 'yaml';
import type { YAMLError } from 'yaml';
import { z } from 'zod';

/** A place in a YAML document as keys and list indexes from the root, e.g. `['items', 3, 'kind']`. */
export type YamlPath = readonly PropertyKey[];

/** Where in the file a finding points: the value itself, or the key naming it. */
export type Anchor = 'value' | 'key';

/** One problem before it is given a line and column. */
export interface Finding {
  path: YamlPath;
  anchor: Anchor;
  message: string;
}

/** One problem with its place in the source; sorted by `offset` before printing. */
export interface Problem {
  offset: number;
  message: string;
}

/** Stand-ins for zod's own wording, so messages name things the way a YAML author thinks of them. */
const EXPECTED_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** A key this far from a known one (insertions, deletions, swaps) earns a "did you mean". */
const MAX_SUGGESTION_DISTANCE = 2;
/** Short keys get a stricter limit, or every two-letter typo would match something. */
const SHORT_KEY_LENGTH = 4;

/**
 * One parsed YAML file and the means to turn offsets and key paths into `file:line:col: message`
 * lines (1-based, file named as given), for every reader of shipcheck's YAML files.
 */
export class YamlSource {
  private readonly lines = new LineCounter();
  /** The parsed document; callers walk it to find nodes the generic helpers do not cover. */
  readonly doc: Document.Parsed;

  constructor(
    private readonly displayName: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
  }

  /** Syntax errors of the document, worded for a person editing the file. */
  syntaxProblems(): Problem[] {
    return this.doc.errors.map((error) => ({ offset: error.pos[0], message: this.describeYamlError(error) }));
  }

  /** True when the document has no content at all (an empty file, or only comments). */
  get isEmpty(): boolean {
    return this.doc.contents === null;
  }

  /** Offset of the root node, 0 for an empty document. */
  get rootOffset(): number {
    return this.doc.contents?.range[0] ?? 0;
  }

  /** The document as plain data, or a problem at the root when it cannot be resolved (e.g. a bad alias). */
  toJS(): { ok: true; value: unknown } | { ok: false; problem: Problem } {
    try {
      return { ok: true, value: this.doc.toJS() };
    } catch (err) {
      return {
        ok: false,
        problem: { offset: this.rootOffset, message: `invalid YAML: ${lowerFirst((err as Error).message)}` },
      };
    }
  }

  /** Points a finding at its node: the value (or its key when the value is empty), the key, or the nearest parent. */
  place(finding: Finding): Problem {
    let node: unknown = this.doc.contents;
    let key: unknown;
    let found = 0;
    for (const segment of finding.path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isScalar(item.key) && String(item.key.value) === String(segment),
        );
        if (!pair) break;
        key = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        key = undefined;
        node = node.items[segment];
      } else {
        break;
      }
      found += 1;
    }
    const missing = found < finding.path.length;
    const emptyValue = isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1];
    const preferKey = missing || finding.anchor === 'key' || emptyValue || node === null;
    const target = (preferKey ? (key ?? node) : (node ?? key)) as { range?: [number, number, number] } | null;
    return { offset: target?.range?.[0] ?? 0, message: finding.message };
  }

  /** `file:line:col` of an offset. */
  position(offset: number): string {
    const { line, col } = this.lines.linePos(offset);
    return `${this.displayName}:${line}:${col}`;
  }

  /** The 1-based line of an offset, for messages that refer to another place in the same file. */
  lineOf(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  /** `file:line:col: message` lines in source order, without repeats. */
  format(problems: readonly Problem[]): string[] {
    const sorted = [...problems].sort((a, b) => a.offset - b.offset);
    return [...new Set(sorted.map((problem) => `${this.position(problem.offset)}: ${problem.message}`))];
  }

  private describeYamlError(error: YAMLError): string {
    switch (error.code) {
      case 'DUPLICATE_KEY':
        return `duplicate key "${this.keyAt(error.pos[0]) ?? '?'}"`;
      case 'MULTIPLE_DOCS':
        return 'only one YAML document is allowed; remove the second "---"';
      case 'TAB_AS_INDENT':
        return 'tabs cannot indent YAML; use spaces';
      default:
        return `invalid YAML: ${lowerFirst(error.message)}`;
    }
  }

  private keyAt(offset: number): string | undefined {
    let name: string | undefined;
    visit(this.doc, {
      Pair: (_, pair) => {
        if (isScalar(pair.key) && pair.key.range?.[0] === offset) {
          name = String(pair.key.value);
          return visit.BREAK;
        }
        return undefined;
      },
    });
    return name;
  }
}

/** Contextual zod error map: says what was expected in YAML terms; the value found is added by the caller. */
export function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${EXPECTED_NAMES[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map(String).join(', ')}`;
    case 'too_big':
      if (issue.origin === 'array') return `has more than ${issue.maximum} entries`;
      if (issue.origin === 'string') return `is longer than ${issue.maximum} characters`;
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}`;
    case 'too_small':
      if ((issue.origin === 'array' || issue.origin === 'string') && Number(issue.minimum) <= 1)
        return 'must not be empty';
      if (issue.origin === 'array') return `needs at least ${issue.minimum} entries`;
      if (issue.origin === 'string') return `needs at least ${issue.minimum} characters`;
      return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}`;
    case 'invalid_format':
      if (issue.format === 'starts_with' && 'prefix' in issue)
        return `must start with "${String(issue.prefix)}"`;
      return issue.pattern ? `does not match ${issue.pattern}` : `is not a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
}

/** The wording `describeIssue` uses for "expected a string", so callers can recognise that case. */
export const EXPECTED_STRING = `expected ${EXPECTED_NAMES.string}`;

/** The closest candidate by edit distance (ignoring case, `-` and `_`), if it is close enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const squash = (text: string): string => text.toLowerCase().replace(/[-_]/g, '');
  const limit = word.length <= SHORT_KEY_LENGTH ? 1 : MAX_SUGGESTION_DISTANCE;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(squash(word), squash(candidate));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps each cost 1. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const cell = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(cell(i - 1, j) + 1, cell(i, j - 1) + 1, cell(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, cell(i - 2, j - 2) + 1);
      const row = rows[i];
      if (row) row[j] = best;
    }
  }
  return cell(a.length, b.length);
}

/** The value at `at` inside plain data, or undefined when the path leaves it. */
export function valueAt(data: unknown, at: YamlPath): unknown {
  let current = data;
  for (const segment of at) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
    else if (isPlainObject(current)) current = current[String(segment)];
    else return undefined;
  }
  return current;
}

/** `strategy.steps[0].setWeight: `, or nothing for the root. */
export function pathLabel(at: YamlPath): string {
  const text = pathText(at, false);
  return text ? `${text}: ` : '';
}

/** Path as the user reads it; with `wildcard`, list indexes become `[]` for pattern lookups. */
export function pathText(at: YamlPath, wildcard: boolean): string {
  let text = '';
  for (const segment of at) {
    if (typeof segment === 'number') text += wildcard ? '[]' : `[${segment}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(String(segment)))
      text += text ? `.${String(segment)}` : String(segment);
    else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text;
}

/** `, got <value>` unless the message already says what it got; with `typed`, the type is named too. */
export function gotSuffix(message: string, value: unknown, typed: boolean): string {
  if (/\bgot\b|\bempty\b/.test(message)) return '';
  if (typed) return `, got ${describeTyped(value)}`;
  return isScalarValue(value) || typeof value === 'string' || value === null
    ? `, got ${describeValue(value)}`
    : '';
}

/** `string "x"`, `number 3`, `a list`, `a mapping` or `an empty value`. */
export function describeTyped(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/** A scalar as written (strings quoted), or `an empty value`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return 'an empty value';
  return String(value);
}

/** True for a number or a boolean: values YAML reads without quotes that a user may have meant as text. */
export function isScalarValue(value: unknown): value is number | boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

/** True for a mapping (not a list, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The text with its first letter in lower case, to fit a library's sentence after a colon. */
export function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** A zod schema of any kind, as the schema walkers see it. */
export type Schema = z.core.$ZodType;

/** Looks through wrappers (defaults, optional, pipes) to the schema that gives the value its shape. */
export function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    if (
      current instanceof z.core.$ZodPrefault ||
      current instanceof z.core.$ZodDefault ||
      current instanceof z.core.$ZodOptional ||
      current instanceof z.core.$ZodNullable ||
      current instanceof z.core.$ZodReadonly
    ) {
      current = current._zod.def.innerType;
    } else if (current instanceof z.core.$ZodPipe) {
      current = current._zod.def.in;
    } else {
      return current;
    }
  }
}
