import fs from 'node:fs';
import type { Command } from 'commander';
import { type Installation, loadInstallation, serviceNamed } from '../config/installation.js';
import type { LoadedConfig } from '../config/loader.js';
import { unitName } from '../domain/release.js';
import { InputError } from '../errors.js';
import { skipSecretResolution } from '../config/secret-ref.js';
import { servicesShape } from './api-shapes.js';
import { ApiClient } from './client.js';

/** Flags every command accepts. */
export interface GlobalOptions {
  config: string;
  /** True when -c was given: then a missing file is an error, not a reason to ask the server. */
  configGiven?: boolean;
  url?: string;
  /** -s/--service: which service of an installation with several. */
  service?: string;
  env?: string;
  json?: boolean;
  debug?: boolean;
  /** --otp: a TOTP code for an action in a protected environment. */
  otp?: string;
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
 * The API client a client command talks to, and the installation when its file is here: --url, else
 * SHIPCHECK_URL, else the file's server.listen. A -c file that does not exist is an error; a missing
 * default shipcheck.yaml is not (the server is asked instead).
 */
export async function resolveServer(
  opts: GlobalOptions,
): Promise<{ client: ApiClient; installation: Installation | undefined }> {
  // A client command needs no secret from the file; the server has them.
  skipSecretResolution();
  const explicitUrl = opts.url ?? process.env.SHIPCHECK_URL;
  const hasConfig = opts.configGiven === true || fs.existsSync(opts.config);
  const installation = hasConfig ? await loadInstallation(opts.config) : undefined;
  const listen = installation?.server.listen;
  const scheme = installation?.server.tls ? 'https' : 'http';
  const url =
    explicitUrl ??
    (listen ? `${scheme}://${listen.includes(':') ? listen : `127.0.0.1:${listen}`}` : DEFAULT_URL);
  return { client: new ApiClient(url, { otp: opts.otp }), installation };
}

/** The services the server runs (each once, whatever its environments), in its order. */
export async function serverServices(client: ApiClient): Promise<string[]> {
  const { services } = await client.get('/api/v1/services', servicesShape);
  return [...new Set(services.map((s) => s.service))];
}

/** The service a command acts on: -s/--service, else the only one; an InputError names the choices. */
export function chooseService(
  installation: Installation,
  opts: { config: string; service?: string | undefined },
): LoadedConfig {
  if (opts.service) return serviceNamed(installation, opts.service);
  const [only, ...others] = installation.services;
  if (only && others.length === 0) return only;
  const names = installation.services.map((s) => s.config.service);
  throw new InputError(
    `${opts.config} runs ${names.length} services (${names.join(', ')}); pass -s NAME to say which`,
  );
}

/**
 * The API client and unit a client command acts on: -s/--service, else the only service there is
 * (in the config file, else on the server), with --env appended as `service@environment`.
 */
export async function resolveTarget(opts: GlobalOptions): Promise<{ client: ApiClient; service: string }> {
  const { client, installation } = await resolveServer(opts);
  // An environment is addressed as service@environment.
  const withEnv = (service: string): string => unitName(service, opts.env);
  // A service the local files no longer list may still run on the server (a reload refused to remove
  // it while its release was in flight): the server is asked, and says when it does not know it.
  const listed =
    opts.service === undefined || installation?.services.some((s) => s.config.service === opts.service);
  if (installation && listed) {
    const loaded = chooseService(installation, opts);
    const names = loaded.environments.map((e) => e.name);
    if (opts.env && !names.includes(opts.env)) {
      throw new InputError(
        names.length > 0
          ? `--env ${opts.env}: service ${loaded.config.service} has environments ${names.join(', ')}`
          : `--env ${opts.env}: service ${loaded.config.service} has no environments block`,
      );
    }
    return { client, service: withEnv(loaded.config.service) };
  }
  if (opts.service) return { client, service: withEnv(opts.service) };
  const names = await serverServices(client);
  const only = names.length === 1 ? names[0] : undefined;
  if (!only) {
    throw new InputError(
      `no ${opts.config} here and the server runs ${names.length} services (${names.join(', ')}); pass -s NAME or -c`,
    );
  }
  return { client, service: withEnv(only) };
}

/** What a file that registers commands gets from main.ts: the output, the global flags, the runner and `--login`. */
export interface CommandDeps {
  io: Io;
  globals: () => GlobalOptions;
  run: <A extends unknown[]>(action: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
  withLogin: (command: Command) => Command;
}

/** Collects a flag given several times (`--role viewer --role deployer@staging`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
