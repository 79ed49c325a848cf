import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseHostPort } from '../util/net.js';
import { INHERITED_KEYS, configSchema, type Config } from './schema.js';
import { scalingFindings } from './scaling-schema.js';
import {
  EXPECTED_STRING,
  YamlSource,
  closest,
  describeIssue,
  describeTyped,
  describeValue,
  gotSuffix,
  isPlainObject,
  isScalarValue,
  pathLabel,
  pathText,
  valueAt,
  type Finding,
  type Problem,
  type YamlPath,
  type Schema,
  unwrap,
} from './yaml-positions.js';

/** One environment's config: the base with the environment's overrides merged in, validated. */
export interface EnvironmentConfig {
  name: string;
  config: Config;
}

/** Keys an environment may override; the rest (service, store, server) are shared by all. */
export const ENVIRONMENT_KEYS = [
  'fleet',
  'traffic',
  'metrics',
  'strategy',
  'analysis',
  'rollback',
  'checklist',
  'migrations',
  'backup',
  'cdn',
  'notifications',
  'communication',
  'maintenance',
  'scaling',
  'baseline',
] as const;

/** A validated config together with where it came from. */
export interface LoadedConfig {
  config: Config;
  /** The environments in promotion order; empty when the file has none. */
  environments: EnvironmentConfig[];
  /** Absolute path of the config file. */
  file: string;
  /** Absolute path of the folder holding the config file; relative paths in it resolve here. */
  dir: string;
  /** `file:line:col` of a key path in the file (the nearest parent that is written), for later findings. */
  locate(path: readonly (string | number)[]): string;
  /** Whether the file itself writes a value at the key path (rather than leaving it to a default). */
  written(path: readonly (string | number)[]): boolean;
}

/**
 * What a service file listed by a control-plane file takes from it: the installation's `server` and
 * `store`, as written there, which a service file may not set itself.
 */
export interface Inherited {
  /** The control-plane file, as the user named it, for messages. */
  file: string;
  data: Record<string, unknown>;
}

type Path = YamlPath;

const SQLITE_PREFIX = 'sqlite:';
const SQLITE_IN_MEMORY = ':memory:';

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
  store: 'expected sqlite:PATH, postgres://... or {url: ..., retention: ...}',
  'store.retention':
    'expected {measurements: 14d, releases: 365d, ...}, true for the defaults or false to keep everything',
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

/**
 * Reads, parses and validates a shipcheck.yaml.
 * Throws `ConfigError` listing every problem as `file:line:col: message` (file as given, 1-based),
 * sorted by position; a missing file is one problem that suggests `shipcheck init`.
 */
export async function loadConfig(file: string, inherited?: Inherited): Promise<LoadedConfig> {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const text = await readConfigText(file, absolute);
  const source = new YamlSource(file, text);

  const syntax = source.syntaxProblems();
  if (syntax.length > 0) throw new ConfigError(source.format(syntax));

  const data = configData(source);
  if (!data.ok) throw new ConfigError(source.format([data.problem]));
  if (inherited) {
    const shared = Object.keys(data.value).filter((key) =>
      (INHERITED_KEYS as readonly string[]).includes(key),
    );
    const findings: Finding[] = shared.map((key) => ({
      path: [key],
      anchor: 'key',
      message: `"${key}" belongs to the whole installation: set it in ${inherited.file}, not in a service file`,
    }));
    if (findings.length > 0) throw new ConfigError(source.format(findings.map((f) => source.place(f))));
    data.value = { ...data.value, ...inherited.data };
  }

  const parsed = configSchema.safeParse(data.value, { error: describeIssue });
  if (!parsed.success) {
    const findings = explainIssues(parsed.error.issues, data.value, []);
    throw new ConfigError(source.format(findings.map((finding) => source.place(finding))));
  }

  const semantic = await semanticFindings(parsed.data, data.value, dir);
  if (semantic.length > 0) {
    throw new ConfigError(source.format(semantic.map((finding) => source.place(finding))));
  }

  const environments = await environmentConfigs(parsed.data, data.value, dir);
  if (!environments.ok)
    throw new ConfigError(source.format(environments.findings.map((f) => source.place(f))));
  const locate = (at: readonly (string | number)[]): string =>
    source.position(source.place({ path: [...at], anchor: 'key', message: '' }).offset);
  const written = (at: readonly (string | number)[]): boolean => valueAt(data.value, at) !== undefined;
  return { config: parsed.data, environments: environments.configs, file: absolute, dir, locate, written };
}

/** Objects merge key by key; anything else (lists included) is replaced by the override. */
function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = deepMerge(base[key], value);
  return merged;
}

/**
 * Validates every environment as the base config with its overrides merged in. A problem points at the
 * override when the override wrote that value, else at the base value it inherited.
 */
async function environmentConfigs(
  config: Config,
  data: Record<string, unknown>,
  dir: string,
): Promise<{ ok: true; configs: EnvironmentConfig[] } | { ok: false; findings: Finding[] }> {
  const overrides = config.environments ?? {};
  const { environments: _ignored, ...base } = data;
  const findings: Finding[] = [];
  const configs: EnvironmentConfig[] = [];
  for (const [name, override] of Object.entries(overrides)) {
    const at = (p: Path): Path => (valueAt(override, p) !== undefined ? ['environments', name, ...p] : p);
    const envFindings: Finding[] = [];
    for (const key of Object.keys(override)) {
      if (!(ENVIRONMENT_KEYS as readonly string[]).includes(key)) {
        envFindings.push({
          path: ['environments', name, key],
          anchor: 'key',
          message: `environments.${name}: "${key}" is shared by every environment; an environment may set ${ENVIRONMENT_KEYS.join(', ')}`,
        });
      }
    }
    if (envFindings.length > 0) {
      findings.push(...envFindings);
      continue;
    }
    const merged = deepMerge(base, override) as Record<string, unknown>;
    const parsed = configSchema.safeParse(merged, { error: describeIssue });
    const problems = parsed.success
      ? await semanticFindings(parsed.data, merged, dir)
      : explainIssues(parsed.error.issues, merged, []);
    for (const finding of problems) {
      findings.push({
        ...finding,
        path: at(finding.path),
        message: `environments.${name}: ${finding.message}`,
      });
    }
    if (!parsed.success || problems.length > 0) continue;
    configs.push({ name, config: parsed.data });
  }
  return findings.length > 0 ? { ok: false, findings } : { ok: true, configs };
}

/**
 * For `store: sqlite:PATH`, the database file as an absolute path (PATH resolved against the config's
 * folder; `:memory:` kept as is). A postgres URL is returned unchanged.
 */
export function resolveStorePath(loaded: LoadedConfig): string {
  return storeLocation(loaded.config.store.url, loaded.dir);
}

/** `store` with a sqlite PATH resolved against `dir` (`:memory:` kept as is); a postgres URL unchanged. */
export function storeLocation(store: string, dir: string): string {
  if (!store.startsWith(SQLITE_PREFIX)) return store;
  const file = store.slice(SQLITE_PREFIX.length);
  return file === SQLITE_IN_MEMORY ? file : path.resolve(dir, file);
}

/** The document as plain data, or a problem when it is empty, cannot be resolved or is not a mapping. */
function configData(
  source: YamlSource,
): { ok: true; value: Record<string, unknown> } | { ok: false; problem: Problem } {
  if (source.isEmpty) {
    return {
      ok: false,
      problem: { offset: 0, message: 'the file is empty; it needs at least "service:" and "fleet:"' },
    };
  }
  const data = source.toJS();
  if (!data.ok) return data;
  if (!isPlainObject(data.value)) {
    const got = describeTyped(data.value);
    return {
      ok: false,
      problem: {
        offset: source.rootOffset,
        message: `expected a mapping of keys such as "service:" at the top level, got ${got}`,
      },
    };
  }
  return { ok: true, value: data.value };
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

/** Turns zod issues into findings with full paths, readable union failures and "did you mean" hints. */
export function explainIssues(issues: readonly z.core.$ZodIssue[], data: unknown, base: Path): Finding[] {
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
  if (issue.code === 'invalid_type' && issue.message === EXPECTED_STRING && isScalarValue(value)) {
    message += `; write it in quotes: "${String(value)}"`;
  }
  return { path: fullPath, anchor: 'value', message: label + message };
}

/**
 * A union failed every option. When the value's shape (its keys, or its type) fits exactly one option,
 * that option's own issues are the useful ones; otherwise say which forms are accepted.
 */
function explainUnion(issue: z.core.$ZodIssueInvalidUnion, fullPath: Path, data: unknown): Finding[] {
  const discriminated = discriminatorFinding(issue, fullPath, data);
  if (discriminated) return [discriminated];
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

/**
 * A discriminated union (`fleet.kind`, `traffic.kind`, `metrics.kind`) whose discriminator matched no
 * option: zod points at the discriminator and lists the accepted values, and so does the message.
 */
function discriminatorFinding(
  issue: z.core.$ZodIssueInvalidUnion,
  fullPath: Path,
  data: unknown,
): Finding | undefined {
  const { discriminator } = issue;
  const options = 'options' in issue ? issue.options : undefined;
  if (discriminator === undefined || !options || options.length === 0 || issue.errors.length > 0)
    return undefined;
  const accepted = options.map(String);
  const value = valueAt(data, fullPath);
  const label = pathLabel(fullPath);
  if (value === undefined) {
    return { path: fullPath, anchor: 'value', message: `${label}required, one of ${accepted.join(', ')}` };
  }
  const choices = `the accepted ${discriminator}s are ${accepted.join(', ')}`;
  const message =
    typeof value === 'string'
      ? `unknown ${discriminator} "${value}"; ${choices}`
      : `${choices}, got ${describeTyped(value)}`;
  return { path: fullPath, anchor: 'value', message: label + message };
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

  const fleet = config.fleet;
  const commands: [string | string[], Path][] =
    fleet.kind === 'local'
      ? [[fleet.command, ['fleet', 'command']]]
      : (['start', 'stop', 'list'] as const).map((hook) => [fleet.hooks[hook], ['fleet', 'hooks', hook]]);
  if (config.traffic.kind === 'nginx')
    commands.push([config.traffic.nginxBinary, ['traffic', 'nginxBinary']]);
  for (const [command, at] of commands) {
    const commandFinding = await checkCommand(command, at, fleet.env, cwd, cwdOk);
    if (commandFinding) findings.push(commandFinding);
  }

  const listenFinding = checkListenClash(config, data);
  if (listenFinding) findings.push(listenFinding);
  if (config.metrics.kind === 'builtin' && config.traffic.kind !== 'proxy') {
    findings.push({
      path: ['metrics'],
      anchor: 'key',
      message: `metrics.kind: builtin reads the built-in proxy, but traffic.kind is ${config.traffic.kind}; use metrics.kind: nginx-log or prometheus`,
    });
  }
  findings.push(...scalingFindings(config));
  return findings;
}

/** Finds a command's executable the way the fleet will run it: from `cwd`, or in the fleet's PATH. */
async function checkCommand(
  command: string | string[],
  commandPath: Path,
  env: Record<string, string>,
  cwd: string,
  cwdOk: boolean,
): Promise<Finding | undefined> {
  let executable: string;
  let at: Path;
  if (Array.isArray(command)) {
    executable = command[0] ?? '';
    at = [...commandPath, 0];
  } else {
    if (SHELL_SYNTAX.test(command)) return undefined;
    executable = command.trim().split(/\s+/)[0] ?? '';
    // `PORT=1 node app.js` and builtins are the shell's business, not an executable on disk.
    if (executable.includes('=') || SHELL_BUILTINS.has(executable)) return undefined;
    at = commandPath;
  }
  const label = `${commandPath.join('.')}: `;

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
  const searchPath = env.PATH ?? process.env.PATH ?? '';
  for (const folder of searchPath.split(path.delimiter)) {
    if (folder && (await isExecutableFile(path.join(folder, executable)))) return undefined;
  }
  return { path: at, anchor: 'value', message: `${label}"${executable}" was not found in PATH` };
}

function checkListenClash(config: Config, data: unknown): Finding | undefined {
  if (config.traffic.kind !== 'proxy') return undefined;
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
  const addresses = { server: config.server.listen, traffic: config.traffic.listen };
  return {
    path: [mine, 'listen'],
    anchor: 'value',
    message:
      `${mine}.listen: ${addresses[mine]} clashes with ${other}.listen ${addresses[other]}` +
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

function pathPattern(at: Path): string {
  return pathText(at, true);
}
