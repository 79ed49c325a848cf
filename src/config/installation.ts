/**
 * An installation: everything one `shipcheck up` runs. It is written either as one service file (a
 * shipcheck.yaml with a top-level `service:`, the form every installation starts with) or as a
 * control-plane file holding `server`, `store` and `services:`, a list of service files or globs.
 * Checks that span files (two services of one name, two proxies on one address, two units writing
 * one nginx upstream file) live here, and name both places.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import { parseHostPort } from '../util/net.js';
import { type Inherited, type LoadedConfig, explainIssues, loadConfig, storeLocation } from './loader.js';
import { oncallChannelProblems } from './oncall-schema.js';
import { catalogProblems } from '../catalog/catalog-problems.js';
import { CONTROL_PLANE_KEYS, type Config, INHERITED_KEYS, controlPlaneSchema } from './schema.js';
import type { RetentionConfig } from './server-schema.js';
import { YamlSource, describeIssue, isPlainObject, type Finding } from './yaml-positions.js';

const SQLITE_PREFIX = 'sqlite:';
/** Addresses that listen on every interface and so clash with any host on the same port. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);
const GLOB_CHARS = /[*?[]/;

/** Everything one control plane runs, with where each part was written. */
export interface Installation {
  /** `service` for a lone service file, `control-plane` for a file with `services:`. */
  form: 'service' | 'control-plane';
  /** Absolute path of the file `shipcheck up` was given. */
  file: string;
  /** Its folder; the store path resolves here. */
  dir: string;
  server: Config['server'];
  /** `sqlite:/absolute/path`, `sqlite::memory:` or the postgres URL. */
  store: string;
  /** How long the store keeps what releases leave behind; null keeps everything. */
  retention: RetentionConfig;
  /** Notification channels, on-call schedules and escalation policies, and the status page. */
  channels: Config['channels'];
  oncall: Config['oncall'];
  statusPage: Config['statusPage'];
  /** The services, in the order their files are listed (a glob's matches sorted by name). */
  services: LoadedConfig[];
}

/**
 * Reads the file `shipcheck up` runs and every service file it lists. Throws `ConfigError` listing
 * every problem of every file as `file:line:col: message`.
 */
export async function loadInstallation(file: string): Promise<Installation> {
  const absolute = path.resolve(file);
  if (!(await isControlPlaneFile(absolute))) return installationOf(await loadConfig(file));

  const dir = path.dirname(absolute);
  const source = new YamlSource(file, await readFile(absolute, 'utf8'));
  const syntax = source.syntaxProblems();
  if (syntax.length > 0) throw new ConfigError(source.format(syntax));
  const data = source.toJS();
  const value = data.ok && isPlainObject(data.value) ? data.value : {};
  const findings: Finding[] = Object.keys(value)
    .filter((key) => !(CONTROL_PLANE_KEYS as readonly string[]).includes(key))
    .map((key) => ({
      path: [key],
      anchor: 'key',
      message:
        key === 'service'
          ? 'a file holds either "service:" (one service) or "services:" (a list of service files), not both'
          : `"${key}" belongs in a service file; a control-plane file holds ${CONTROL_PLANE_KEYS.join(', ')}`,
    }));
  const parsed = controlPlaneSchema.safeParse(value, { error: describeIssue });
  if (!parsed.success) {
    // Unknown top-level keys were named above; the rest read as they do in a service file.
    const issues = parsed.error.issues.filter((i) => i.code !== 'unrecognized_keys' || i.path.length > 0);
    findings.push(...explainIssues(issues, value, []));
  }
  if (findings.length > 0 || !parsed.success)
    throw new ConfigError(source.format(findings.map((f) => source.place(f))));

  const files: string[] = [];
  const listFindings: Finding[] = [];
  for (const [index, pattern] of parsed.data.services.entries()) {
    const matches = await expand(dir, pattern);
    if (matches.length === 0) {
      const what = GLOB_CHARS.test(pattern) ? 'matches no file' : 'does not exist';
      listFindings.push({
        path: ['services', index],
        anchor: 'value',
        message: `services[${index}]: ${pattern} ${what}`,
      });
    }
    for (const match of matches) {
      const at = { path: ['services', index], anchor: 'value' } as const;
      if (match === absolute) {
        // A glob may well match the control-plane file beside the service files; a path naming it may not.
        if (!GLOB_CHARS.test(pattern))
          listFindings.push({
            ...at,
            message: `services[${index}]: ${pattern} is this file; list service files`,
          });
      } else if (await isControlPlaneFile(match)) {
        listFindings.push({
          ...at,
          message: `services[${index}]: ${path.relative(dir, match)} lists services itself; list service files, which hold "service:"`,
        });
      } else if (!files.includes(match)) files.push(match);
    }
  }
  if (listFindings.length === 0 && files.length === 0)
    listFindings.push({
      path: ['services'],
      anchor: 'value',
      message: 'services: the list names no service file',
    });
  if (listFindings.length > 0) throw new ConfigError(source.format(listFindings.map((f) => source.place(f))));

  const inherited: Inherited = {
    file,
    data: Object.fromEntries(INHERITED_KEYS.flatMap((key) => (key in value ? [[key, value[key]]] : []))),
  };
  const services: LoadedConfig[] = [];
  const problems: string[] = [];
  for (const serviceFile of files) {
    // Messages name service files the way the user would: relative to where they run shipcheck.
    const shown = path.relative(process.cwd(), serviceFile) || serviceFile;
    try {
      services.push(await loadConfig(shown, inherited));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Escalation steps name channels of the sibling `channels:` key, known only now.
  const channelFindings = oncallChannelProblems(parsed.data.oncall, parsed.data.channels);
  if (channelFindings.length > 0)
    throw new ConfigError(
      source.format(
        channelFindings.map((f) => source.place({ path: f.path, anchor: 'value', message: f.message })),
      ),
    );
  const installation: Installation = {
    form: 'control-plane',
    file: absolute,
    dir,
    server: parsed.data.server,
    store: resolveStore(parsed.data.store.url, dir),
    retention: parsed.data.store.retention,
    channels: parsed.data.channels,
    oncall: parsed.data.oncall,
    statusPage: parsed.data.statusPage,
    services,
  };
  const clashes = crossFileProblems(installation);
  if (clashes.length > 0) throw new ConfigError(clashes);
  return installation;
}

/** A lone service file as an installation of one service. */
export function installationOf(loaded: LoadedConfig): Installation {
  const installation: Installation = {
    form: 'service',
    file: loaded.file,
    dir: loaded.dir,
    server: loaded.config.server,
    store: resolveStore(loaded.config.store.url, loaded.dir),
    retention: loaded.config.store.retention,
    channels: loaded.config.channels,
    oncall: loaded.config.oncall,
    statusPage: loaded.config.statusPage,
    services: [loaded],
  };
  const clashes = [
    ...oncallChannelProblems(loaded.config.oncall, loaded.config.channels).map(
      (f) => `${loaded.locate(f.path)}: ${f.message}`,
    ),
    ...crossFileProblems(installation),
  ];
  if (clashes.length > 0) throw new ConfigError(clashes);
  return installation;
}

/** The service of that name; an InputError names the ones there are. */
export function serviceNamed(installation: Installation, name: string): LoadedConfig {
  const found = installation.services.find((loaded) => loaded.config.service === name);
  if (found) return found;
  const names = installation.services.map((loaded) => loaded.config.service);
  throw new InputError(
    `unknown service "${name}"; ${path.basename(installation.file)} runs ${names.map((n) => `"${n}"`).join(', ')}`,
  );
}

/** Whether the file is a control-plane file: a mapping with `services:`. Anything else loads as a service file. */
async function isControlPlaneFile(absolute: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch {
    return false; // loadConfig says why the file cannot be read
  }
  const source = new YamlSource(absolute, text);
  if (source.syntaxProblems().length > 0 || source.isEmpty) return false;
  const data = source.toJS();
  return data.ok && isPlainObject(data.value) && 'services' in data.value;
}

/** The store as `openStore` takes it: `sqlite:` with an absolute path, or the postgres URL. */
function resolveStore(store: string, dir: string): string {
  const location = storeLocation(store, dir);
  return store.startsWith(SQLITE_PREFIX) ? `${SQLITE_PREFIX}${location}` : location;
}

/** The files a `services:` entry names: the path itself, or a glob's matches sorted by name. */
async function expand(dir: string, pattern: string): Promise<string[]> {
  const absolute = path.resolve(dir, pattern);
  if (!GLOB_CHARS.test(pattern)) return (await isFile(absolute)) ? [absolute] : [];
  const root = path.parse(absolute).root;
  let found = [root];
  for (const segment of absolute.slice(root.length).split(path.sep)) {
    const next: string[] = [];
    for (const folder of found) {
      if (!GLOB_CHARS.test(segment)) {
        next.push(path.join(folder, segment));
        continue;
      }
      const matcher = globSegment(segment);
      const names = await readdir(folder).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (matcher.test(name) && !(name.startsWith('.') && !segment.startsWith('.')))
          next.push(path.join(folder, name));
      }
    }
    found = next;
  }
  const files: string[] = [];
  for (const candidate of found) if (await isFile(candidate)) files.push(candidate);
  return files;
}

/** One path segment of a glob (`*`, `?`, `[abc]`) as a regular expression. */
function globSegment(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i] ?? '';
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const end = segment.indexOf(']', i + 1);
      if (end === -1) source += '\\[';
      else {
        source += `[${segment
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else source += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** One unit as the cross-file checks see it. */
interface UnitPlace {
  unit: string;
  config: Config;
  /** `file:line:col` of a key of this unit: under its environment when the environment writes it. */
  at(key: readonly (string | number)[]): string;
  /** Whether the file writes the key for this unit (in its environment or in the base). */
  written(key: readonly string[]): boolean;
}

function unitPlaces(loaded: LoadedConfig): UnitPlace[] {
  const service = loaded.config.service;
  if (loaded.environments.length === 0)
    return [
      { unit: service, config: loaded.config, at: (key) => loaded.locate(key), written: loaded.written },
    ];
  return loaded.environments.map((env) => ({
    unit: `${service}@${env.name}`,
    config: env.config,
    at: (key) => {
      const override = ['environments', env.name, ...key];
      return loaded.locate(loaded.written(override) ? override : key);
    },
    written: (key) => loaded.written(key) || loaded.written(['environments', env.name, ...key]),
  }));
}

/**
 * Two services of one name, two proxies on one address (or on the API's), and two units writing one
 * nginx upstream file: each reported where the second is written, naming the first.
 */
function crossFileProblems(installation: Installation): string[] {
  const problems: string[] = [];
  const names = new Map<string, LoadedConfig>();
  for (const loaded of installation.services) {
    const name = loaded.config.service;
    const first = names.get(name);
    if (first) {
      problems.push(
        `${loaded.locate(['service'])}: service "${name}" is also defined at ${first.locate(['service'])}; give each service its own name`,
      );
    } else names.set(name, loaded);
  }

  const listens: { unit: string; host: string; port: number; at: string }[] = [];
  const upstreams = new Map<string, { unit: string; at: string }>();
  for (const loaded of installation.services) {
    for (const place of unitPlaces(loaded)) {
      const traffic = place.config.traffic;
      if (traffic.kind === 'proxy') {
        const { host, port } = parseHostPort(traffic.listen);
        // Port 0 asks the OS for a free port, so two of them never clash.
        if (port === 0) continue;
        const at = place.at(['traffic', 'listen']);
        const written = place.written(['traffic', 'listen']) ? '' : ' (the default)';
        const clash = listens.find((other) => other.port === port && sameHost(other.host, host));
        if (clash) {
          problems.push(
            `${at}: traffic.listen ${traffic.listen}${written} of ${place.unit} is also the proxy address of ${clash.unit} at ${clash.at}; give each its own`,
          );
        }
        listens.push({ unit: place.unit, host, port, at });
      } else {
        const file = path.resolve(loaded.dir, traffic.upstreamFile);
        const at = place.at(['traffic', 'upstreamFile']);
        const clash = upstreams.get(file);
        if (clash) {
          problems.push(
            `${at}: traffic.upstreamFile ${file} of ${place.unit} is also written for ${clash.unit} at ${clash.at}; give each its own file`,
          );
        } else upstreams.set(file, { unit: place.unit, at });
      }
    }
  }
  problems.push(...statusPageProblems(installation));
  problems.push(...communicationProblems(installation));
  problems.push(...catalogProblems(installation));
  return problems;
}

/**
 * A communication policy naming a channel or an escalation policy the installation does not have, or
 * `maintenance.notify` naming a channel it does not have (at start and on every reload alike).
 */
function communicationProblems(installation: Installation): string[] {
  const channels = new Set(installation.channels.map((c) => c.name));
  const policies = new Set(installation.oncall.escalationPolicies.map((p) => p.name));
  const named = (set: Set<string>, what: string, where: string): string =>
    set.size > 0 ? `the ${what} are ${[...set].map((n) => `"${n}"`).join(', ')}` : `define it under ${where}`;
  const problems = new Set<string>();
  for (const loaded of installation.services)
    for (const place of unitPlaces(loaded)) {
      place.config.maintenance.notify.forEach((target, i) => {
        if ('channel' in target && !channels.has(target.channel))
          problems.add(
            `${place.at(['maintenance', 'notify', i, 'channel'])}: maintenance.notify[${i}]: no channel is named "${target.channel}"; ${named(channels, 'channels', 'channels:')}`,
          );
      });
      const policy = place.config.communication;
      if (!policy) continue;
      for (const [end, list] of Object.entries(policy.notify))
        list.forEach((channel, i) => {
          if (!channels.has(channel))
            problems.add(
              `${place.at(['communication', 'notify', end, i])}: communication.notify.${end}[${i}]: no channel is named "${channel}"; ${named(channels, 'channels', 'channels:')}`,
            );
        });
      const escalation = policy.incident.escalationPolicy;
      if (escalation !== undefined && !policies.has(escalation))
        problems.add(
          `${place.at(['communication', 'incident', 'escalationPolicy'])}: communication.incident.escalationPolicy: no escalation policy is named "${escalation}"; ${named(policies, 'policies', 'oncall.escalationPolicies:')}`,
        );
    }
  return [...problems];
}

/** Status page components that name a service or environment the installation does not run. */
function statusPageProblems(installation: Installation): string[] {
  const components = installation.statusPage?.components ?? [];
  const units = installation.services.flatMap((loaded) => unitPlaces(loaded).map((place) => place.unit));
  const known = new Set([...units, ...installation.services.map((loaded) => loaded.config.service)]);
  return components.flatMap((component, i) =>
    component.services
      .filter((name) => !known.has(name))
      .map(
        (name) =>
          `${path.basename(installation.file)}: statusPage.components[${i}] (${component.name}) names "${name}", ` +
          `which this installation does not run; it runs ${[...units].map((u) => `"${u}"`).join(', ')}`,
      ),
  );
}

function sameHost(a: string, b: string): boolean {
  return a === b || WILDCARD_HOSTS.has(a) || WILDCARD_HOSTS.has(b);
}
