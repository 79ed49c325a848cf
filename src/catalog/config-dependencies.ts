/**
 * The dependencies a service's config names, for the catalog's `dependencies` check, and whether the
 * catalog lists each. What is collected:
 * - the databases of `migrations.database` and `backup.database` (a PostgreSQL host and port, or a
 *   SQLite file);
 * - the hosts of `cdn.purge` URLs, and of `metrics.url` for Prometheus;
 * - the hosts of the checklist's `tcp` (host/port or address), `sql` (database) and `http` (url) items,
 *   with `{{vars.NAME}}` filled in;
 * - every `checklist.vars` value that is a URL (`scheme://host...`).
 * Addresses of shipcheck itself (the API's `server.listen`, the proxy's `traffic.listen`) are left
 * out. Only hosts, ports and file paths are kept: never a URL's credentials or path.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { CatalogDependency } from '../config/catalog-schema.js';
import { parseHostPort } from '../util/net.js';

const SQLITE_PREFIX = 'sqlite:';
const URL_PATTERN = /^[a-z][a-z0-9+.-]*:\/\//i;
const DEFAULT_PORTS: Record<string, number> = {
  'http:': 80,
  'https:': 443,
  'postgres:': 5432,
  'postgresql:': 5432,
  'redis:': 6379,
  'amqp:': 5672,
};

/** Where a dependency is: a host (with a port when one is known), or a file. */
export type Place = { host: string; port?: number } | { file: string };

/** One dependency the config names, and the key that names it. */
export interface NamedDependency {
  /** The config key or checklist item that names it, e.g. `migrations.database`. */
  source: string;
  place: Place;
}

/** A checklist item's params after resolution, as far as this module reads them. */
export interface ChecklistItemParams {
  id: string;
  kind: string;
  params: Record<string, unknown>;
}

/** A place as text: `db.internal:5432`, or the file. */
export function placeText(place: Place): string {
  if ('file' in place) return place.file;
  const host = place.host.includes(':') ? `[${place.host}]` : place.host;
  return place.port === undefined ? host : `${host}:${place.port}`;
}

/** Where a URL, a `host:port`, or a `sqlite:PATH` points; undefined for anything else. */
export function placeOf(value: string, configDir: string): Place | undefined {
  const text = value.trim();
  if (text.startsWith(SQLITE_PREFIX))
    return { file: path.resolve(configDir, text.slice(SQLITE_PREFIX.length)) };
  if (URL_PATTERN.test(text)) {
    try {
      const url = new URL(text);
      if (!url.hostname) return undefined;
      const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
      return { host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), ...(port ? { port } : {}) };
    } catch {
      return undefined;
    }
  }
  if (/^(?:\[[0-9a-f:]+\]|[\w.-]+):\d{1,5}$/i.test(text)) {
    const { host, port } = parseHostPort(text);
    return { host: host.toLowerCase(), port };
  }
  return undefined;
}

function samePlace(a: Place, b: Place): boolean {
  if ('file' in a || 'file' in b) return 'file' in a && 'file' in b && a.file === b.file;
  if (a.host !== b.host) return false;
  return a.port === undefined || b.port === undefined || a.port === b.port;
}

/** shipcheck's own addresses in this config, which are not dependencies. */
function ownPlaces(config: Config): Place[] {
  const own: Place[] = [];
  const add = (listen: string): void => {
    const { host, port } = parseHostPort(listen);
    for (const h of [host, '127.0.0.1', 'localhost', '::1']) own.push({ host: h.toLowerCase(), port });
  };
  add(config.server.listen);
  if (config.traffic.kind === 'proxy') add(config.traffic.listen);
  return own;
}

/** Every dependency the config (and its resolved checklist items) names, once each. */
export function configDependencies(
  config: Config,
  configDir: string,
  items: readonly ChecklistItemParams[] = [],
): NamedDependency[] {
  const found: NamedDependency[] = [];
  const add = (source: string, value: unknown): void => {
    if (typeof value !== 'string') return;
    const place = placeOf(value, configDir);
    if (place) found.push({ source, place });
  };
  add('migrations.database', config.migrations?.database);
  add('backup.database', config.backup?.database);
  (config.cdn?.purge ?? []).forEach((p, i) => add(`cdn.purge[${i}].url`, p.url));
  if (config.metrics.kind === 'prometheus') add('metrics.url', config.metrics.url);
  for (const item of items) {
    const p = item.params;
    if (item.kind === 'tcp') {
      if (typeof p.address === 'string') add(item.id, p.address);
      else if (typeof p.port === 'number')
        found.push({
          source: item.id,
          place: { host: (typeof p.host === 'string' ? p.host : '127.0.0.1').toLowerCase(), port: p.port },
        });
    } else if (item.kind === 'sql') add(item.id, p.database);
    else if (item.kind === 'http' && typeof p.url === 'string' && URL_PATTERN.test(p.url))
      add(item.id, p.url);
  }
  for (const [name, value] of Object.entries(config.checklist.vars))
    if (typeof value === 'string' && URL_PATTERN.test(value)) add(`checklist.vars.${name}`, value);
  const own = ownPlaces(config);
  const unique: NamedDependency[] = [];
  for (const dep of found) {
    if (own.some((o) => 'host' in dep.place && 'port' in dep.place && samePlace(o, dep.place))) continue;
    const same = unique.find((u) => placeText(u.place) === placeText(dep.place));
    if (same) same.source = `${same.source}, ${dep.source}`;
    else unique.push({ ...dep });
  }
  return unique;
}

/** The catalog dependency that stands for a place: by its url, or by its name as a host. */
export function listedAs(
  place: Place,
  dependencies: readonly CatalogDependency[],
  configDir: string,
): CatalogDependency | undefined {
  return dependencies.find((d) => {
    const listed = d.url === undefined ? undefined : placeOf(d.url, configDir);
    if (listed && samePlace(listed, place)) return true;
    return 'host' in place && d.name.toLowerCase() === place.host;
  });
}
