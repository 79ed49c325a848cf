import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document } from 'yaml';
import type { YAMLError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseHostPort } from '../util/net.js';
import { configSchema, type Config } from './schema.js';

/** A validated config together with where it came from. */
export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file. */
  file: string;
  /** Absolute path of the folder holding the config file; relative paths in it resolve here. */
  dir: string;
}

type Path = readonly PropertyKey[];

/** Where in the file a finding points: the value itself, or the key naming it. */
type Anchor = 'value' | 'key';

/** One problem before it is given a line and column. */
interface Finding {
  path: Path;
  anchor: Anchor;
  message: string;
}

/** One problem with its place in the source; sorted by `offset` before printing. */
interface Problem {
  offset: number;
  message: string;
}

const SQLITE_PREFIX = 'sqlite:';
const SQLITE_IN_MEMORY = ':memory:';

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

/**
 * What to say when a value matches none of a union's forms, keyed by path with list indexes as `[]`.
 * Kept beside the loader because zod only knows that "no option matched".
 */
const UNION_HINTS: Record<string, string> = {
  'strategy.steps[]': 'expected {setWeight: N} or {pause: DURATION} or {pause: {}}',
  'strategy.steps[].pause': 'expected a duration such as 5m, or {} to wait for "shipcheck promote"',
  'rollback.triggers[]': 'expected {metric: NAME, above: THRESHOLD} or {health: failed}',
  'rollback.triggers[].above': 'expected a percentage such as 5% or a duration such as 2s',
  'fleet.command': 'expected a command string or an argument list such as ["node", "app.js"]',
  'server.listen': 'expected host:port, e.g. 127.0.0.1:7070',
  'traffic.listen': 'expected host:port, e.g. 127.0.0.1:8080',
};
const UNION_FALLBACK_HINT = 'does not match any accepted form';

/** A command string with any of these is run by a shell we cannot second-guess, so it is not checked. */
const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]{}~#!\n]/;
/** First words that a shell runs itself rather than finding in PATH. */
const SHELL_BUILTINS = new Set([
  'exec',
  'cd',
  '.',
  'source',
  'export',
  'eval',
  'set',
  'ulimit',
  'umask',
  'time',
  'command',
]);
/** Addresses that listen on every interface and so clash with any host on the same port. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** A key this far from a known one (insertions, deletions, swaps) earns a "did you mean". */
const MAX_SUGGESTION_DISTANCE = 2;
/** Short keys get a stricter limit, or every two-letter typo would match something. */
const SHORT_KEY_LENGTH = 4;

/**
 * Reads, parses and validates a shipcheck.yaml.
 * Throws `ConfigError` listing every problem as `file:line:col: message` (file as given, 1-based),
 * sorted by position; a missing file is one problem that suggests `shipcheck init`.
 */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const text = await readConfigText(file, absolute);
  const source = new YamlSource(file, text);

  const syntax = source.syntaxProblems();
  if (syntax.length > 0) throw new ConfigError(source.format(syntax));

  const data = source.toData();
  if (!data.ok) throw new ConfigError(source.format([data.problem]));

  const parsed = configSchema.safeParse(data.value, { error: describeIssue });
  if (!parsed.success) {
    const findings = explainIssues(parsed.error.issues, data.value, []);
    throw new ConfigError(source.format(findings.map((finding) => source.place(finding))));
  }

  const semantic = await semanticFindings(parsed.data, data.value, dir);
  if (semantic.length > 0) {
    throw new ConfigError(source.format(semantic.map((finding) => source.place(finding))));
  }

  return { config: parsed.data, file: absolute, dir };
}

/**
 * For `store: sqlite:PATH`, the database file as an absolute path (PATH resolved against the config's
 * folder; `:memory:` kept as is). A postgres URL is returned unchanged.
 */
export function resolveStorePath(loaded: LoadedConfig): string {
  const store = loaded.config.store;
  if (!store.startsWith(SQLITE_PREFIX)) return store;
  const file = store.slice(SQLITE_PREFIX.length);
  return file === SQLITE_IN_MEMORY ? file : path.resolve(loaded.dir, file);
}

async function readConfigText(file: string, absolute: string): Promise<string> {
  try {
    return await readFile(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError([`${file}: no such file; run "shipcheck init" to write one`], { cause: err });
    }
    if (code === 'EISDIR') throw new ConfigError([`${file}: is a folder, not a config file`], { cause: err });
    throw new ConfigError([`${file}: cannot read: ${(err as Error).message}`], { cause: err });
  }
}

/** The parsed YAML document, and the means to turn offsets and paths into `file:line:col`. */
class YamlSource {
  private readonly lines = new LineCounter();
  private readonly doc: Document.Parsed;

  constructor(
    private readonly displayName: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
  }

  syntaxProblems(): Problem[] {
    return this.doc.errors.map((error) => ({ offset: error.pos[0], message: this.describeYamlError(error) }));
  }

  /** The document as plain data, or a problem when the root is not a mapping or cannot be resolved. */
  toData(): { ok: true; value: Record<string, unknown> } | { ok: false; problem: Problem } {
    const root = this.doc.contents;
    if (root === null) {
      return {
        ok: false,
        problem: { offset: 0, message: 'the file is empty; it needs at least "service:" and "fleet:"' },
      };
    }
    let value: unknown;
    try {
      value = this.doc.toJS();
    } catch (err) {
      return {
        ok: false,
        problem: { offset: root.range[0], message: `invalid YAML: ${lowerFirst((err as Error).message)}` },
      };
    }
    if (!isPlainObject(value)) {
      const got = describeTyped(value);
      return {
        ok: false,
        problem: {
          offset: root.range[0],
          message: `expected a mapping of keys such as "service:" at the top level, got ${got}`,
        },
      };
    }
    return { ok: true, value };
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

  /** `file:line:col: message` lines in source order, without repeats. */
  format(problems: Problem[]): string[] {
    const sorted = [...problems].sort((a, b) => a.offset - b.offset);
    const lines = sorted.map((problem) => {
      const { line, col } = this.lines.linePos(problem.offset);
      return `${this.displayName}:${line}:${col}: ${problem.message}`;
    });
    return [...new Set(lines)];
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

/** Contextual zod error map: says what was expected in YAML terms; the value found is added later. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
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

/** Turns zod issues into findings with full paths, readable union failures and "did you mean" hints. */
function explainIssues(issues: readonly z.core.$ZodIssue[], data: unknown, base: Path): Finding[] {
  const findings: Finding[] = [];
  for (const issue of issues) {
    const fullPath = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        findings.push({
          path: [...fullPath, key],
          anchor: 'key',
          message: unknownKeyMessage(fullPath, key, data),
        });
      }
    } else if (issue.code === 'invalid_union') {
      findings.push(...explainUnion(issue, fullPath, data));
    } else {
      findings.push(explainOne(issue, fullPath, data));
    }
  }
  return findings;
}

function explainOne(issue: z.core.$ZodIssue, fullPath: Path, data: unknown): Finding {
  const value = valueAt(data, fullPath);
  const label = pathLabel(fullPath);
  if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) {
    const only = issue.code === 'invalid_value' && issue.values.length === 1 ? issue.values[0] : undefined;
    const example = only === undefined ? '' : ` (${String(fullPath.at(-1))}: ${String(only)})`;
    return { path: fullPath, anchor: 'value', message: `${label}required${example}` };
  }
  let message = issue.message + gotSuffix(issue.message, value, issue.code === 'invalid_type');
  // A number or boolean where text is wanted is usually a value that YAML read too eagerly.
  if (
    issue.code === 'invalid_type' &&
    issue.message === `expected ${EXPECTED_NAMES.string}` &&
    isScalarValue(value)
  ) {
    message += `; write it in quotes: "${String(value)}"`;
  }
  return { path: fullPath, anchor: 'value', message: label + message };
}

/**
 * A union failed every option. When the value's shape (its keys, or its type) fits exactly one option,
 * that option's own issues are the useful ones; otherwise say which forms are accepted.
 */
function explainUnion(issue: z.core.$ZodIssueInvalidUnion, fullPath: Path, data: unknown): Finding[] {
  const value = valueAt(data, fullPath);
  if (value === undefined)
    return [{ path: fullPath, anchor: 'value', message: `${pathLabel(fullPath)}required` }];
  const fitting = issue.errors.filter((optionIssues) => shapeFits(optionIssues, value));
  const [only] = fitting;
  if (fitting.length === 1 && only) return explainIssues(only, data, fullPath);

  const hint = UNION_HINTS[pathPattern(fullPath)] ?? UNION_FALLBACK_HINT;
  let detail: string;
  if (isPlainObject(value)) {
    const known = objectKeysAt(fullPath);
    const typo = Object.keys(value)
      .filter((key) => !known.includes(key))
      .map((key) => ({ key, suggestion: closest(key, known) }))
      .find((entry) => entry.suggestion !== undefined);
    detail = typo ? `; did you mean "${typo.suggestion}" instead of "${typo.key}"?` : '';
  } else {
    detail = `, got ${isScalarValue(value) || typeof value === 'string' ? describeValue(value) : describeTyped(value)}`;
  }
  return [{ path: fullPath, anchor: 'value', message: pathLabel(fullPath) + hint + detail }];
}

/** Whether an option's issues are about details rather than about the value being another form entirely. */
function shapeFits(optionIssues: readonly z.core.$ZodIssue[], value: unknown): boolean {
  return optionIssues.every((issue) => {
    const [first] = issue.path;
    if (issue.path.length === 0) return issue.code !== 'invalid_type' && issue.code !== 'unrecognized_keys';
    if (isPlainObject(value) && first !== undefined) return value[String(first)] !== undefined;
    return true;
  });
}

function unknownKeyMessage(parentPath: Path, key: string, data: unknown): string {
  const parent = valueAt(data, parentPath);
  const present = isPlainObject(parent) ? Object.keys(parent) : [];
  const candidates = objectKeysAt(parentPath).filter((known) => !present.includes(known));
  const suggestion = closest(key, candidates);
  let hint = '';
  if (suggestion !== undefined) {
    hint = ` (did you mean "${suggestion}"?)`;
  } else {
    // A key that exists elsewhere in the schema was most likely indented at the wrong level.
    const elsewhere = keyPathsNamed(key).filter((where) => where !== pathPattern([...parentPath, key]));
    if (elsewhere.length > 0) hint = ` (did you mean ${elsewhere.join(' or ')}?)`;
  }
  return `${pathLabel(parentPath)}unknown key "${key}"${hint}`;
}

/** Checks that need the filesystem or several keys at once; run only on a config the schema accepts. */
async function semanticFindings(config: Config, data: unknown, dir: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  const cwd = path.resolve(dir, config.fleet.cwd ?? '.');
  let cwdOk = true;
  if (config.fleet.cwd !== undefined) {
    const kind = await fileKind(cwd);
    if (kind !== 'directory') {
      cwdOk = false;
      const what = kind === 'missing' ? 'does not exist' : 'is not a folder';
      findings.push({ path: ['fleet', 'cwd'], anchor: 'value', message: `fleet.cwd: ${cwd} ${what}` });
    }
  }

  const commandFinding = await checkCommand(config.fleet, cwd, cwdOk);
  if (commandFinding) findings.push(commandFinding);

  const listenFinding = checkListenClash(config, data);
  if (listenFinding) findings.push(listenFinding);
  return findings;
}

async function checkCommand(
  fleet: Config['fleet'],
  cwd: string,
  cwdOk: boolean,
): Promise<Finding | undefined> {
  let executable: string;
  let at: Path;
  if (Array.isArray(fleet.command)) {
    executable = fleet.command[0] ?? '';
    at = ['fleet', 'command', 0];
  } else {
    if (SHELL_SYNTAX.test(fleet.command)) return undefined;
    executable = fleet.command.trim().split(/\s+/)[0] ?? '';
    // `PORT=1 node app.js` and builtins are the shell's business, not an executable on disk.
    if (executable.includes('=') || SHELL_BUILTINS.has(executable)) return undefined;
    at = ['fleet', 'command'];
  }
  const label = 'fleet.command: ';

  if (executable.includes('/') || executable.includes(path.sep)) {
    // A relative path only means something once the folder it is relative to exists.
    if (!cwdOk && !path.isAbsolute(executable)) return undefined;
    const resolved = path.resolve(cwd, executable);
    const kind = await fileKind(resolved);
    if (kind === 'missing')
      return { path: at, anchor: 'value', message: `${label}${resolved} does not exist` };
    if (kind === 'directory')
      return { path: at, anchor: 'value', message: `${label}${resolved} is a folder` };
    if (!(await isExecutable(resolved))) {
      return { path: at, anchor: 'value', message: `${label}${resolved} is not executable (chmod +x it)` };
    }
    return undefined;
  }

  // Instances get the fleet's env on top of ours, so an overridden PATH is the one that counts.
  const searchPath = fleet.env.PATH ?? process.env.PATH ?? '';
  for (const folder of searchPath.split(path.delimiter)) {
    if (folder && (await isExecutableFile(path.join(folder, executable)))) return undefined;
  }
  return { path: at, anchor: 'value', message: `${label}"${executable}" was not found in PATH` };
}

function checkListenClash(config: Config, data: unknown): Finding | undefined {
  const server = parseHostPort(config.server.listen);
  const traffic = parseHostPort(config.traffic.listen);
  // Port 0 asks the OS for a free port, so two of them never clash.
  if (server.port === 0 || server.port !== traffic.port) return undefined;
  const sameHost =
    server.host === traffic.host || WILDCARD_HOSTS.has(server.host) || WILDCARD_HOSTS.has(traffic.host);
  if (!sameHost) return undefined;
  // Point at an address the user wrote; the other one may be a default.
  const [mine, other] =
    valueAt(data, ['traffic', 'listen']) === undefined
      ? (['server', 'traffic'] as const)
      : (['traffic', 'server'] as const);
  const otherIsDefault = valueAt(data, [other, 'listen']) === undefined;
  return {
    path: [mine, 'listen'],
    anchor: 'value',
    message:
      `${mine}.listen: ${config[mine].listen} clashes with ${other}.listen ${config[other].listen}` +
      `${otherIsDefault ? ' (the default)' : ''}; the proxy and the API need different ports`,
  };
}

async function fileKind(file: string): Promise<'missing' | 'directory' | 'file'> {
  try {
    return (await stat(file)).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function isExecutableFile(file: string): Promise<boolean> {
  return (await fileKind(file)) === 'file' && (await isExecutable(file));
}

// ---- schema walking: which keys are allowed at a path, and where else a key name is used ----

type Schema = z.core.$ZodType;

/** Looks through wrappers (defaults, optional, pipes) to the schema that gives the value its shape. */
function unwrap(schema: Schema): Schema {
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

function childSchemas(schema: Schema, segment: PropertyKey): Schema[] {
  const inner = unwrap(schema);
  if (inner instanceof z.core.$ZodObject) {
    const child = (inner._zod.def.shape as Record<string, Schema>)[String(segment)];
    return child ? [child] : [];
  }
  if (inner instanceof z.core.$ZodArray) return typeof segment === 'number' ? [inner._zod.def.element] : [];
  if (inner instanceof z.core.$ZodRecord) return [inner._zod.def.valueType];
  if (inner instanceof z.core.$ZodUnion)
    return inner._zod.def.options.flatMap((option) => childSchemas(option, segment));
  return [];
}

function objectKeys(schema: Schema): string[] {
  const inner = unwrap(schema);
  if (inner instanceof z.core.$ZodObject) return Object.keys(inner._zod.def.shape);
  if (inner instanceof z.core.$ZodUnion) return inner._zod.def.options.flatMap(objectKeys);
  return [];
}

/** Every key the schema allows in the mapping at `at` (through unions, in schema order). */
function objectKeysAt(at: Path): string[] {
  let schemas: Schema[] = [configSchema];
  for (const segment of at) schemas = schemas.flatMap((schema) => childSchemas(schema, segment));
  return [...new Set(schemas.flatMap(objectKeys))];
}

/** Where in the schema a key of this name is allowed, as path patterns such as `fleet.instances`. */
function keyPathsNamed(name: string): string[] {
  const found: string[] = [];
  const walk = (schema: Schema, at: string): void => {
    const inner = unwrap(schema);
    if (inner instanceof z.core.$ZodObject) {
      for (const [key, child] of Object.entries(inner._zod.def.shape as Record<string, Schema>)) {
        const childPath = at ? `${at}.${key}` : key;
        if (key === name) found.push(childPath);
        walk(child, childPath);
      }
    } else if (inner instanceof z.core.$ZodArray) {
      walk(inner._zod.def.element, `${at}[]`);
    } else if (inner instanceof z.core.$ZodUnion) {
      for (const option of inner._zod.def.options) walk(option, at);
    }
  };
  walk(configSchema, '');
  return [...new Set(found)];
}

// ---- small helpers ----

/** The closest candidate by edit distance (ignoring case, `-` and `_`), if it is close enough to be a typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
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

function valueAt(data: unknown, at: Path): unknown {
  let current = data;
  for (const segment of at) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
    else if (isPlainObject(current)) current = current[String(segment)];
    else return undefined;
  }
  return current;
}

/** `strategy.steps[0].setWeight: `, or nothing for the root. */
function pathLabel(at: Path): string {
  const text = pathText(at, false);
  return text ? `${text}: ` : '';
}

/** Path as the user reads it; with `wildcard`, list indexes become `[]` for pattern lookups. */
function pathText(at: Path, wildcard: boolean): string {
  let text = '';
  for (const segment of at) {
    if (typeof segment === 'number') text += wildcard ? '[]' : `[${segment}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(String(segment)))
      text += text ? `.${String(segment)}` : String(segment);
    else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text;
}

function pathPattern(at: Path): string {
  return pathText(at, true);
}

/** `, got <value>` unless the message already says what it got; with `typed`, the type is named too. */
function gotSuffix(message: string, value: unknown, typed: boolean): string {
  if (/\bgot\b|\bempty\b/.test(message)) return '';
  if (typed) return `, got ${describeTyped(value)}`;
  return isScalarValue(value) || typeof value === 'string' || value === null
    ? `, got ${describeValue(value)}`
    : '';
}

function describeTyped(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return 'an empty value';
  return String(value);
}

function isScalarValue(value: unknown): value is number | boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
