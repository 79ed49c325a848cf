/**
 * ProcessProxyRouter: the control plane's side of the built-in proxy when the proxy runs in its own
 * process (proxy-process.ts), so that its data plane outlives the control plane. On start it adopts a
 * live proxy process with the same listen settings (or replaces one with others) or starts one; then it
 * pushes the route and the ready addresses of the route's versions, pulls the requests the proxy
 * recorded into this process's RequestMetrics, and forwards draining. See docs/providers/proxy.md.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { errorMessage, InputError, ProviderError } from '../../../errors.js';
import { registerSecret } from '../../../util/secrets.js';
import { isSameProcess, processStartTime } from '../../fleet/local/process-identity.js';
import type { Instance } from '../../fleet/types.js';
import type { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import type { Route, UpstreamSource } from '../types.js';
import type { BuiltinProxy } from './builtin-proxy.js';
import { ControlClient } from './control-client.js';
import {
  CONTROL_PROTOCOL,
  type Controller,
  type ProxyProcessConfig,
  type ProxyState,
  type ProxyStatus,
  type TablePush,
  type UpstreamTable,
} from './control-protocol.js';
import { HeldUpstreams } from './held-upstreams.js';
import { launchProxy, proxyProcessEntry, stopProxy } from './proxy-launcher.js';
import { FORCE_TOKEN_HEADER } from './force-guard.js';
import { VERSION_HEADER } from './request-head.js';
import type { ProxyTimeouts } from './proxy-router.js';
import { type ProxyPaths, proxyPaths, removeProxyState, readProxyState } from './proxy-state.js';

/** How often readiness is compared with the table last pushed; a change is pushed at once. */
const PUSH_INTERVAL_MS = 200;
/** How often the requests the proxy recorded are pulled into this process's RequestMetrics. */
const METRICS_INTERVAL_MS = 250;
const PERCENT = 100;

/** Where the router reports what it does; a pino logger fits. */
export interface ProcessProxyLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of the control plane's side of a proxy process. */
export interface ProcessProxyRouterOptions {
  /** The unit it serves, for log lines. */
  unit: string;
  /** Names the state file, the socket and the log; the unit when absent. */
  name?: string;
  listen: string;
  timeouts: ProxyTimeouts;
  /** `traffic.forceToken`; absent, the proxy process draws its own and tells it over the socket. */
  forceToken?: string | undefined;
  /** `traffic.forceFrom`. */
  forceFrom?: readonly string[];
  /** The installation's `.shipcheck` folder. */
  shipcheckDir: string;
  /** Addresses of the ready instances of a version (the fleet's). */
  upstreams: UpstreamSource;
  /** The fleet's instances: an adopted one keeps its place in the table until its first check. */
  instances: () => readonly Instance[];
  /** The control plane's RequestMetrics, which the proxy's recorded requests are pulled into. */
  metrics: RequestMetrics;
  logger?: ProcessProxyLogger;
  /** The compiled proxy-process.js; found beside this module or under dist/ when absent. */
  entry?: string;
  /** Comparison and pull periods; tests shorten them. */
  pushIntervalMs?: number;
  metricsIntervalMs?: number;
}

const NOOP_LOGGER: ProcessProxyLogger = { info: () => {}, warn: () => {} };

/** This control plane, as it claims a proxy process. */
function thisController(): Controller {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
}

/** The built-in proxy run as its own process, adopted across control plane restarts. */
export class ProcessProxyRouter implements BuiltinProxy {
  readonly type = 'proxy';
  private readonly paths: ProxyPaths;
  private readonly logger: ProcessProxyLogger;
  private state: ProxyState | undefined;
  private client: ControlClient | undefined;
  /** The route set last; undefined until the first setRoute, and nothing is pushed before it. */
  private route: Route | undefined;
  /** The route the adopted process served, for currentRoute() before the first setRoute. */
  private adoptedRoute: Route | undefined;
  private held = new HeldUpstreams();
  /** JSON of the push last acknowledged, so a steady table costs no control request. */
  private lastPush: string | undefined;
  /** Pushes run one at a time, in order. */
  private pushes: Promise<void> = Promise.resolve();
  private metricsCursor = 0;
  /** The metrics pull under way, which close() waits for. */
  private pulling: Promise<void> | undefined;
  /** The readiness check under way, which close() waits for. */
  private ticking: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private starting: Promise<void> | undefined;
  /** The token the proxy process honours the version header with, read from its status. */
  private forceToken: string | undefined;

  constructor(private readonly options: ProcessProxyRouterOptions) {
    this.paths = proxyPaths(options.shipcheckDir, options.name ?? options.unit);
    this.logger = options.logger ?? NOOP_LOGGER;
  }

  /** The process's pid and start time once started; for status and tests. */
  get process(): { pid: number; startTime: string } | undefined {
    return this.state ? { pid: this.state.pid, startTime: this.state.startTime } : undefined;
  }

  /**
   * Adopts the live proxy process of this unit when it has the same listen settings, else stops it and
   * starts a new one; then begins pulling its metrics and watching readiness. Idempotent.
   */
  start(): Promise<void> {
    this.starting ??= this.begin().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async begin(): Promise<void> {
    if (!(await this.adopt())) await this.launch();
    const every = (ms: number, task: () => void): void => {
      const timer = setInterval(task, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.pushIntervalMs ?? PUSH_INTERVAL_MS, () => this.tick());
    every(this.options.metricsIntervalMs ?? METRICS_INTERVAL_MS, () => void this.pullMetrics());
    await this.pullMetrics();
  }

  /**
   * True when a live process of this unit with the same settings was adopted. Rejects with
   * ProviderError, leaving it alone, when another running control plane drives it.
   */
  private async adopt(): Promise<boolean> {
    const found = readProxyState(this.paths.stateFile);
    if (!found) return false;
    if (!isSameProcess(found.pid, found.startTime)) {
      removeProxyState(this.paths.stateFile, found.pid);
      return false;
    }
    const client = new ControlClient(found.socket);
    let reason: string | undefined;
    let status: ProxyStatus | undefined;
    try {
      status = await client.status();
      if (status.pid !== found.pid) throw new Error(`the socket answers for pid ${status.pid}`);
    } catch (err) {
      status = undefined;
      reason = `its control socket does not answer (${errorMessage(err)})`;
    }
    const controller = status?.controller;
    if (controller && controller.pid !== process.pid && isSameProcess(controller.pid, controller.startTime)) {
      client.close();
      throw new ProviderError(
        `traffic.listen ${found.listen}: address already in use by the proxy process ${found.pid} of a running shipcheck up (pid ${controller.pid}); stop that one first`,
      );
    }
    reason ??= this.mismatch(found);
    if (status && reason === undefined) {
      await client.claim(thisController());
      this.state = { ...found, address: status.address };
      this.client = client;
      this.useForceToken(status.forceToken);
      this.adoptedRoute = status.route;
      // Only a table some control plane pushed is worth keeping; a fresh process has none.
      if (status.pushed) this.held = new HeldUpstreams(status.upstreams);
      this.logger.info(
        { pid: found.pid, address: status.address, route: status.route },
        'adopted proxy process',
      );
      return true;
    }
    client.close();
    this.logger.info({ pid: found.pid, reason }, `replacing proxy process: ${reason ?? 'unknown'}`);
    await stopProxy(found.pid, found.startTime);
    return false;
  }

  /** Why a live process cannot be adopted, or undefined when it can. */
  private mismatch(found: ProxyState): string | undefined {
    const { listen, timeouts } = this.options;
    if (found.protocol !== CONTROL_PROTOCOL)
      return `it speaks control protocol ${found.protocol}, not ${CONTROL_PROTOCOL}`;
    if (found.listen !== listen) return `it listens on ${found.listen}, traffic.listen is now ${listen}`;
    const changed = (['keepAliveTimeout', 'headersTimeout', 'requestTimeout'] as const).filter(
      (key) => found.timeouts?.[key] !== timeouts[key],
    );
    if (changed.length > 0) return `traffic.${changed.join(', traffic.')} changed`;
    if (found.socket !== this.paths.socket) return 'its control socket moved';
    if (JSON.stringify(found.forceFrom ?? []) !== JSON.stringify(this.options.forceFrom ?? []))
      return 'traffic.forceFrom changed';
    if ((found.forceTokenDigest ?? '') !== this.forceTokenDigest()) return 'traffic.forceToken changed';
    return undefined;
  }

  /** SHA-256 of the configured force token, or '' when the proxy process draws its own. */
  private forceTokenDigest(): string {
    const token = this.options.forceToken;
    return token ? crypto.createHash('sha256').update(token, 'utf8').digest('hex') : '';
  }

  private useForceToken(token: string): void {
    registerSecret(token);
    this.forceToken = token;
  }

  /**
   * The headers that send a request to `role`'s version whatever the weight, with the proxy process's
   * force token: for shipcheck's own synthetic load and checks.
   */
  forceHeaders(role: 'stable' | 'canary'): Record<string, string> {
    const token = this.forceToken ?? this.options.forceToken;
    return token ? { [VERSION_HEADER]: role, [FORCE_TOKEN_HEADER]: token } : { [VERSION_HEADER]: role };
  }

  private async launch(): Promise<void> {
    const config: ProxyProcessConfig = {
      unit: this.options.unit,
      listen: this.options.listen,
      timeouts: this.options.timeouts,
      socket: this.paths.socket,
      stateFile: this.paths.stateFile,
      forceFrom: [...(this.options.forceFrom ?? [])],
      forceTokenDigest: this.forceTokenDigest(),
    };
    const state = await launchProxy(config, this.paths, {
      entry: this.options.entry ?? proxyProcessEntry(),
      cwd: path.dirname(this.options.shipcheckDir),
      forceToken: this.options.forceToken,
    });
    const client = new ControlClient(state.socket);
    try {
      await client.claim(thisController());
      this.useForceToken((await client.status()).forceToken);
    } catch (err) {
      client.close();
      throw err;
    }
    this.state = state;
    this.client = client;
    this.lastPush = undefined;
    this.logger.info(
      { pid: state.pid, address: state.address, logFile: this.paths.logFile },
      'started proxy process',
    );
  }

  /** Stops watching and pulling, and stops the proxy process (requests in flight finish). Idempotent. */
  async close(): Promise<void> {
    const state = await this.release();
    if (!state) return;
    await stopProxy(state.pid, state.startTime);
    removeProxyState(this.paths.stateFile, state.pid);
    this.logger.info({ pid: state.pid }, 'stopped proxy process');
  }

  /** Stops watching and pulling but leaves the proxy process serving, for the next control plane to adopt. */
  async detach(): Promise<void> {
    const client = this.client;
    const state = await this.release(client);
    if (state) this.logger.info({ pid: state.pid }, 'left proxy process running');
  }

  /** Stops the timers and lets go of the client; with `letGo`, first tells the proxy no one drives it. */
  private async release(letGo?: ControlClient): Promise<ProxyState | undefined> {
    await this.starting?.catch(() => undefined);
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.ticking;
    await this.pulling;
    await this.pushes;
    // So that the next control plane may adopt it at once, even while this process is still exiting.
    await letGo?.letGo().catch((err: unknown) => {
      this.logger.warn({ err: errorMessage(err) }, 'letting go of the proxy process failed');
    });
    const state = this.state;
    this.state = undefined;
    this.starting = undefined;
    this.client?.close();
    this.client = undefined;
    this.route = undefined;
    this.lastPush = undefined;
    return state;
  }

  /** The `host:port` the proxy process listens on; throws ProviderError before start(). */
  address(): string {
    if (!this.state) throw new ProviderError(`traffic.listen ${this.options.listen}: proxy is not listening`);
    return this.state.address;
  }

  /** Pushes `route` with the ready addresses of its versions; once it resolves, new requests follow it. */
  async setRoute(route: Route): Promise<void> {
    if (!Number.isInteger(route.weight) || route.weight < 0 || route.weight > PERCENT) {
      throw new InputError(`traffic weight must be an integer from 0 to 100, got ${route.weight}`);
    }
    const previous = this.route;
    this.route = { stable: route.stable, canary: route.canary, weight: route.weight };
    try {
      await this.push();
    } catch (err) {
      // The process keeps the last route it acknowledged; report that one, as the contract asks.
      this.route = previous;
      throw err;
    }
  }

  /** The route in effect: the last one set, or the one the adopted process serves. */
  async currentRoute(): Promise<Route | undefined> {
    const route = this.route ?? this.adoptedRoute;
    return route ? { ...route } : undefined;
  }

  /** Pushes the table (the address is already out of the fleet's ready ones), then waits in the proxy. */
  async drain(address: string, timeoutMs: number): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      await this.push();
      await client.drain(address, timeoutMs);
    } catch (err) {
      this.logger.warn({ address, err: errorMessage(err) }, 'draining through the proxy process failed');
    }
  }

  /** Requests in flight to `address` in the proxy process; 0 when it cannot tell. */
  async inflight(address: string): Promise<number> {
    const answer = await this.client?.inflight(address).catch(() => undefined);
    return answer?.inflight ?? 0;
  }

  /** The table for the route in effect: the fleet's ready addresses, plus adopted ones not yet checked. */
  private table(route: Route): UpstreamTable {
    const table: UpstreamTable = {};
    const instances = this.options.instances();
    for (const version of [route.stable, route.canary]) {
      if (version === undefined || version in table) continue;
      table[version] = this.held.addTo(version, this.options.upstreams(version), instances);
    }
    return table;
  }

  /** Pushes the table and route when they differ from the last push; nothing before the first setRoute. */
  private push(): Promise<void> {
    const next = this.pushes.then(async () => {
      const { route, client } = this;
      if (!route || !client) return;
      const push: TablePush = { upstreams: this.table(route), route };
      const json = JSON.stringify(push);
      if (json === this.lastPush) return;
      this.lastPush = undefined;
      await client.pushTable(push);
      this.lastPush = json;
    });
    this.pushes = next.catch(() => undefined);
    return next;
  }

  /** Every PUSH_INTERVAL_MS: restarts a proxy process that died, and pushes a changed readiness. */
  private tick(): void {
    if (this.ticking || !this.state) return;
    this.ticking = this.check().finally(() => (this.ticking = undefined));
  }

  private async check(): Promise<void> {
    if (!this.state) return;
    try {
      const { pid, startTime } = this.state;
      if (!isSameProcess(pid, startTime)) {
        this.logger.warn({ pid }, 'the proxy process is gone; starting a new one');
        this.client?.close();
        await this.launch();
      }
      await this.push();
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'updating the proxy process failed');
    }
  }

  /**
   * Brings the control plane's RequestMetrics up to what the proxy has recorded by now: waits for a pull
   * under way (it may have asked before the latest requests) and pulls again. Analysis calls it before
   * each read, so a verdict never misses the last fraction of a second.
   */
  async refreshMetrics(): Promise<void> {
    await this.pulling;
    await this.pullMetrics();
  }

  /**
   * Pulls the seconds the proxy recorded since the last pull (on the first, all it still holds: the
   * requests it served while no control plane was there count too).
   */
  private pullMetrics(): Promise<void> {
    const client = this.client;
    if (this.pulling || !client) return this.pulling ?? Promise.resolve();
    this.pulling = this.pull(client).finally(() => (this.pulling = undefined));
    return this.pulling;
  }

  private async pull(client: ControlClient): Promise<void> {
    try {
      const answer = await client.metricsSince(this.metricsCursor);
      for (const bucket of answer.buckets)
        this.options.metrics.importSecond(bucket, bucket.second < answer.now);
      this.metricsCursor = answer.now;
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'pulling request metrics from the proxy process failed');
    }
  }
}
