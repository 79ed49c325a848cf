import fs from 'node:fs';
import { loadConfig } from '../config/loader.js';
import { unitName } from '../domain/release.js';
import { InputError } from '../errors.js';
import { servicesShape } from './api-shapes.js';
import { ApiClient } from './client.js';

/** Flags every command accepts. */
export interface GlobalOptions {
  config: string;
  /** True when -c was given: then a missing file is an error, not a reason to ask the server. */
  configGiven?: boolean;
  url?: string;
  env?: string;
  json?: boolean;
  debug?: boolean;
}

/** Where command output goes; tests pass their own. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  isTTY: boolean;
}

/** The config file a command reads when -c is not given. */
export const DEFAULT_CONFIG = 'shipcheck.yaml';
const DEFAULT_URL = 'http://127.0.0.1:7070';

/**
 * The API client and service a client command talks to: --url, else SHIPCHECK_URL, else the config's
 * server.listen. A -c file that does not exist is an error; a missing default shipcheck.yaml is not,
 * when the server runs a single service.
 */
export async function resolveTarget(opts: GlobalOptions): Promise<{ client: ApiClient; service: string }> {
  const explicitUrl = opts.url ?? process.env.SHIPCHECK_URL;
  const hasConfig = opts.configGiven === true || fs.existsSync(opts.config);
  const loaded = hasConfig ? await loadConfig(opts.config) : undefined;
  const listen = loaded?.config.server.listen;
  const url =
    explicitUrl ?? (listen ? `http://${listen.includes(':') ? listen : `127.0.0.1:${listen}`}` : DEFAULT_URL);
  const client = new ApiClient(url);
  // An environment is addressed as service@environment.
  const withEnv = (service: string): string => unitName(service, opts.env);
  if (loaded) {
    const names = loaded.environments.map((e) => e.name);
    if (opts.env && !names.includes(opts.env)) {
      throw new InputError(
        names.length > 0
          ? `--env ${opts.env}: ${opts.config} has environments ${names.join(', ')}`
          : `--env ${opts.env}: ${opts.config} has no environments block`,
      );
    }
    return { client, service: withEnv(loaded.config.service) };
  }
  const { services } = await client.get('/api/v1/services', servicesShape);
  const names = [...new Set(services.map((s) => s.service))];
  const only = names.length === 1 ? names[0] : undefined;
  if (!only)
    throw new InputError(`no ${opts.config} here and the server runs ${names.length} services; pass -c`);
  return { client, service: withEnv(only) };
}
