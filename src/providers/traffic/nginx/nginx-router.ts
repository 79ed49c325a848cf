import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { InputError, ProviderError } from '../../../errors.js';
import { anyStillAccepting, childrenOf, compiledPidPath, pidFileOf, readMasterPid } from './nginx-workers.js';
import type { Route, TrafficRouter, UpstreamSource } from '../types.js';

const PERCENT = 100;
/** Idle connections each nginx worker keeps to the upstream servers. */
const UPSTREAM_KEEPALIVE = 32;
/** The comment that carries the route, so currentRoute() reads back what setRoute() wrote. */
const ROUTE_COMMENT_PREFIX = '# shipcheck route:';
const ROUTE_COMMENT = /^# shipcheck route: stable=(\S*) canary=(\S*) weight=(\d+)$/m;
/** An nginx upstream name: anything else could break out of the block it names. */
const UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;
/** `host:port`, `[v6]:port` or `unix:/path`: characters that cannot end a directive or open a block. */
const SERVER_ADDRESS = /^[A-Za-z0-9_.:[\]/-]+$/;
/** `nginx -t` and `-s reload` return at once; anything slower is stuck. */
const COMMAND_TIMEOUT_MS = 30_000;
const RANDOM_SUFFIX_BYTES = 6;
/** How long nginx may take to start workers on the new configuration after `-s reload`. */
const RELOAD_TAKES_EFFECT_MS = 10_000;
const RELOAD_POLL_MS = 20;

/** What running a command produced. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` and reports its exit code and output; injected so tests can stand in for nginx. */
export type CommandRunner = (cmd: string, args: string[]) => Promise<CommandResult>;

/** Minimal logger the router reports through; pino fits. */
export interface NginxRouterLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of the nginx traffic router. */
export interface NginxTrafficRouterOptions {
  /** Name of the nginx `upstream` block the router owns; the site proxies to `http://NAME`. */
  upstream: string;
  /** File the router rewrites with the whole upstream block; nginx.conf `include`s it inside `http`. */
  upstreamFile: string;
  /** The nginx.conf passed to `nginx -t -c` and `nginx -s reload -c`. */
  nginxConfig: string;
  /** nginx binary; 'nginx' (found on PATH) by default. */
  nginxBinary?: string;
  /** Prefix passed as `-p` to nginx, for configs with relative paths; nginx's built-in one by default. */
  prefix?: string;
  /** Addresses of the ready instances of a version. */
  upstreams: UpstreamSource;
  logger?: NginxRouterLogger;
  run?: CommandRunner;
  /** How long nginx may take to start workers on the new configuration after a reload; 10 s by default. */
  reloadTimeoutMs?: number;
}

/**
 * The `upstream NAME { ... }` block for `route`, headed by the route comment. Each version's share
 * (weight% canary, the rest stable) is spread evenly over its ready servers as integer weights whose
 * totals keep the exact ratio; a version with no ready server gives its share to the other one, and
 * a version with 0% is left out. Throws ProviderError when neither version has a ready server, since
 * nginx refuses an empty upstream, and InputError on a bad weight, name or address.
 */
export function upstreamBlock(name: string, route: Route, upstreams: UpstreamSource): string {
  if (!UPSTREAM_NAME.test(name)) {
    throw new InputError(
      `traffic.upstream must be an nginx upstream name (letters, digits, _ . -), got '${name}'`,
    );
  }
  validateWeight(route.weight);
  const stable = route.stable === undefined ? [] : [...upstreams(route.stable)];
  // The same version on both sides is one version with all of the traffic.
  const canary =
    route.canary === undefined || route.canary === route.stable ? [] : [...upstreams(route.canary)];
  let canaryShare = route.weight;
  if (canary.length === 0) canaryShare = 0;
  else if (stable.length === 0) canaryShare = PERCENT;
  const stableShare = PERCENT - canaryShare;
  if (stable.length === 0 && canary.length === 0) {
    throw new ProviderError(
      `nginx upstream ${name}: no ready instance of ${describeVersions(route)}; the upstream file is left as it is`,
    );
  }

  // Per-server weights stableShare*|canary| and canaryShare*|stable| make each side's total
  // share*|stable|*|canary|, so the ratio is exact; dividing by the gcd keeps them small.
  let stableEach = stableShare * Math.max(canary.length, 1);
  let canaryEach = canaryShare * Math.max(stable.length, 1);
  const divisor = gcd(stableEach, canaryEach);
  stableEach /= divisor;
  canaryEach /= divisor;

  const weights = new Map<string, number>();
  const add = (addresses: string[], each: number): void => {
    if (each <= 0) return;
    for (const address of addresses) {
      if (!SERVER_ADDRESS.test(address)) {
        throw new InputError(`nginx upstream ${name}: '${address}' is not a host:port address`);
      }
      // An address listed under both versions gets both shares.
      weights.set(address, (weights.get(address) ?? 0) + each);
    }
  };
  add(stable, stableEach);
  add(canary, canaryEach);

  const lines = [
    `${ROUTE_COMMENT_PREFIX} stable=${encodeVersion(route.stable)} canary=${encodeVersion(route.canary)} weight=${route.weight}`,
    `upstream ${name} {`,
    ...[...weights].map(([address, weight]) => `    server ${address} weight=${weight};`),
    `    keepalive ${UPSTREAM_KEEPALIVE};`,
    '}',
    '',
  ];
  return lines.join('\n');
}

/** The route written in an upstream file by upstreamBlock(), or undefined when it has none. */
export function parseRouteComment(content: string): Route | undefined {
  const match = ROUTE_COMMENT.exec(content);
  if (match === null) return undefined;
  return { stable: decodeVersion(match[1]!), canary: decodeVersion(match[2]!), weight: Number(match[3]) };
}

/**
 * Routes through an nginx the user runs: rewrites one `upstream` block with per-server weights that
 * split traffic by the route, checks the whole config with `nginx -t`, then reloads gracefully, so
 * requests in flight finish on the old workers. A rejected config is rolled back to the last good
 * file and reported with nginx's own message.
 */
export class NginxTrafficRouter implements TrafficRouter {
  readonly type = 'nginx';
  private readonly binary: string;
  private readonly run: CommandRunner;
  /** setRoute calls run one at a time, so two reconciles cannot interleave a write and a rollback. */
  private queue: Promise<unknown> = Promise.resolve();
  /** nginx's pid file once found; null when there is none to find. */
  private pidFile: string | null | undefined;

  constructor(private readonly options: NginxTrafficRouterOptions) {
    if (!UPSTREAM_NAME.test(options.upstream)) {
      throw new InputError(
        `traffic.upstream must be an nginx upstream name (letters, digits, _ . -), got '${options.upstream}'`,
      );
    }
    this.binary = options.nginxBinary ?? 'nginx';
    this.run = options.run ?? runCommand;
  }

  /** Nothing to start: nginx runs on its own. Idempotent. */
  async start(): Promise<void> {}

  /** Waits for a setRoute in progress; nginx keeps running with the last route. Idempotent. */
  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  /**
   * Writes the upstream block for `route` and reloads nginx; does nothing when the file already says
   * the same. Throws ProviderError, with the last good file restored, when nginx rejects the config
   * or cannot reload, and InputError on a weight outside 0-100.
   */
  setRoute(route: Route): Promise<void> {
    const next = this.queue.catch(() => undefined).then(() => this.apply(route));
    this.queue = next;
    return next;
  }

  /** The route in the upstream file, or undefined when there is no file or it was not written by shipcheck. */
  async currentRoute(): Promise<Route | undefined> {
    const content = await this.readUpstreamFile();
    return content === undefined ? undefined : parseRouteComment(content);
  }

  private async apply(route: Route): Promise<void> {
    const content = upstreamBlock(this.options.upstream, route, this.options.upstreams);
    const previous = await this.readUpstreamFile();
    if (previous === content) return;
    await this.writeUpstreamFile(content);

    const test = await this.nginx(['-t']);
    if (test.code !== 0) {
      await this.restore(previous);
      throw this.failure('nginx -t rejected the config', route, test);
    }
    const master = await this.masterPid();
    const workers = master === undefined ? undefined : await childrenOf(master);
    const reload = await this.nginx(['-s', 'reload']);
    if (reload.code !== 0) {
      // The file passed the test but is not live: put back what nginx is actually running.
      await this.restore(previous);
      throw this.failure('nginx -s reload failed', route, reload);
    }
    if (master !== undefined && workers !== undefined && !(await this.newWorkers(master, workers))) {
      // The master refused the new configuration (a port it cannot bind, say) and kept the old workers.
      await this.restore(previous);
      throw this.failure('nginx did not start workers on the new configuration', route, {
        code: 0,
        stdout: '',
        stderr: `no new worker within ${(this.options.reloadTimeoutMs ?? RELOAD_TAKES_EFFECT_MS) / 1000} s of the reload; see nginx's error log`,
      });
    }
    this.options.logger?.info(
      { upstream: this.options.upstream, stable: route.stable, canary: route.canary, weight: route.weight },
      'nginx: route applied',
    );
  }

  /**
   * nginx's master pid, found through the config's `pid` directive or the compiled-in path; undefined
   * (no check after reloads) when neither leads to a running process, e.g. away from Linux.
   */
  private async masterPid(): Promise<number | undefined> {
    if (this.pidFile === undefined) {
      const conf = await readFile(this.options.nginxConfig, 'utf8').catch(() => '');
      this.pidFile =
        pidFileOf(conf, this.options.nginxConfig, this.options.prefix) ??
        compiledPidPath((await this.run(this.binary, ['-V']).catch(() => undefined))?.stderr ?? '') ??
        null;
    }
    return this.pidFile === null ? undefined : readMasterPid(this.pidFile);
  }

  /**
   * Whether the new split is live: the master started a worker that was not there before the reload,
   * and every old worker has stopped taking new connections (it only finishes the ones it has).
   */
  private async newWorkers(master: number, before: Set<number>): Promise<boolean> {
    const deadline = Date.now() + (this.options.reloadTimeoutMs ?? RELOAD_TAKES_EFFECT_MS);
    let started = false;
    for (;;) {
      started ||= [...(await childrenOf(master))].some((pid) => !before.has(pid));
      if (started && !(await anyStillAccepting(before))) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, RELOAD_POLL_MS));
    }
  }

  private failure(what: string, route: Route, result: CommandResult): ProviderError {
    const detail = (result.stderr.trim() || result.stdout.trim() || `exit code ${result.code}`).replace(
      /\s*\n\s*/g,
      '; ',
    );
    const message = `${what} for upstream ${this.options.upstream} (${describeVersions(route)} at weight ${route.weight}); restored the last good ${this.options.upstreamFile}: ${detail}`;
    this.options.logger?.warn({ upstream: this.options.upstream, code: result.code }, message);
    return new ProviderError(message);
  }

  private nginx(args: string[]): Promise<CommandResult> {
    const prefix = this.options.prefix === undefined ? [] : ['-p', this.options.prefix];
    return this.run(this.binary, [...args, ...prefix, '-c', this.options.nginxConfig]);
  }

  private async readUpstreamFile(): Promise<string | undefined> {
    try {
      return await readFile(this.options.upstreamFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ProviderError(`cannot read ${this.options.upstreamFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Writes a temp file beside the target and renames it over, so nginx never reads half a block. */
  private async writeUpstreamFile(content: string): Promise<void> {
    const file = this.options.upstreamFile;
    const temp = `${file}.${process.pid}.${randomBytes(RANDOM_SUFFIX_BYTES).toString('hex')}.tmp`;
    try {
      await writeFile(temp, content);
      await rename(temp, file);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw new ProviderError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async restore(previous: string | undefined): Promise<void> {
    if (previous !== undefined) await this.writeUpstreamFile(previous);
    else await unlink(this.options.upstreamFile).catch(() => undefined);
  }
}

function validateWeight(weight: number): void {
  if (!Number.isInteger(weight) || weight < 0 || weight > PERCENT) {
    throw new InputError(`traffic weight must be an integer from 0 to 100, got ${weight}`);
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a === 0 ? 1 : a;
}

function describeVersions(route: Route): string {
  return `stable ${route.stable ?? '(none)'} / canary ${route.canary ?? '(none)'}`;
}

/** Version names go through URI encoding so a space or newline cannot break the comment line. */
function encodeVersion(version: string | undefined): string {
  return version === undefined ? '' : encodeURIComponent(version);
}

function decodeVersion(encoded: string): string | undefined {
  if (encoded === '') return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/** Spawns the command; a missing binary or a hung one becomes ProviderError. */
function runCommand(cmd: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ProviderError(`${cmd} ${args.join(' ')} did not finish in ${COMMAND_TIMEOUT_MS} ms`));
    }, COMMAND_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new ProviderError(`cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : -1), stdout, stderr });
    });
  });
}
