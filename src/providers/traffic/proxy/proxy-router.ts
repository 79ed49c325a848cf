/**
 * ProxyRouter, the built-in proxy as a TrafficRouter: its server, the route in effect, draining an
 * address, and closing. What happens to each request and each upgrade is the Dispatcher's
 * (dispatcher.ts); who may force a version is ForceGuard's (force-guard.ts).
 */
import http from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { InputError, ProviderError } from '../../../errors.js';
import { parseHostPort } from '../../../util/net.js';
import type { Drainer } from '../../fleet/types.js';
import type { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import type { Route, TrafficRouter, UpstreamSource } from '../types.js';
import { Dispatcher, VERSION_HEADER, type ProxyLogger } from './dispatcher.js';
import { FORCE_TOKEN_HEADER, ForceGuard } from './force-guard.js';

export { SERVED_BY_HEADER, VERSION_HEADER, type ProxyLogger } from './dispatcher.js';
export { FORCE_TOKEN_HEADER, randomForceToken } from './force-guard.js';

const PERCENT = 100;
/** How long close() lets in-flight requests finish before it cuts connections. */
const CLOSE_TIMEOUT_MS = 10_000;
/** How often idle upstream connections past their timeout are closed. */
const SWEEP_INTERVAL_MS = 1000;

/** Timeouts of the proxy's client connections, in milliseconds; the names of Node's http.Server. */
export interface ProxyTimeouts {
  /** How long an idle keep-alive connection waits for its next request; above 0. */
  keepAliveTimeout: number;
  /** Longest a client may take to send a request head, counted from its first byte; at most requestTimeout. */
  headersTimeout: number;
  /** Longest a client may take to send a whole request; 0 turns it off. */
  requestTimeout: number;
}

/**
 * The defaults of `traffic.keepAliveTimeout`, `headersTimeout` and `requestTimeout`. Keep-alive is
 * nginx's 75s rather than Node's 5s: a load balancer in front (60s idle on the common clouds) must be
 * the side that closes an idle connection, or it sends requests down connections the proxy just closed.
 */
export const DEFAULT_PROXY_TIMEOUTS: Readonly<ProxyTimeouts> = {
  keepAliveTimeout: 75_000,
  headersTimeout: 60_000,
  requestTimeout: 300_000,
};

/** Options of the built-in reverse proxy. */
export interface ProxyRouterOptions {
  /** `host:port` to listen on; port 0 picks a free one (see address()). */
  listen: string;
  /** Client connection timeouts; DEFAULT_PROXY_TIMEOUTS when absent. */
  timeouts?: ProxyTimeouts;
  /** Addresses of the ready instances of a version; called on every request, so it must be cheap. */
  upstreams: UpstreamSource;
  /**
   * Where every completed request is recorded, under the version that served it; forced requests
   * (other than the synthetic load's) are recorded apart from the analysis window.
   */
  metrics?: RequestMetrics;
  logger?: ProxyLogger;
  /**
   * The secret a request shows in FORCE_TOKEN_HEADER to have its version header honoured; absent,
   * no token is accepted. createRouter always sets one (a random one when the config names none).
   */
  forceToken?: string;
  /** IP addresses and CIDR ranges whose requests may force a version without the token; none by default. */
  forceFrom?: readonly string[];
}

/**
 * The built-in reverse proxy: splits requests between the stable and canary versions by a
 * deterministic weight, round-robins over ready instances, retries a failed connect once, and
 * never drops a request in flight across route changes or drained instances.
 */
export class ProxyRouter implements TrafficRouter, Drainer {
  readonly type = 'proxy';
  private readonly dispatcher: Dispatcher;
  private server: Server | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  /** Throws InputError when `forceFrom` holds an entry that is not an IP address or CIDR range. */
  constructor(private readonly options: ProxyRouterOptions) {
    let force: ForceGuard;
    try {
      force = new ForceGuard(options.forceToken, options.forceFrom);
    } catch (err) {
      throw new InputError(`traffic.forceFrom: ${(err as Error).message}`);
    }
    this.dispatcher = new Dispatcher(options.upstreams, options.metrics, options.logger, force);
  }

  /**
   * The headers that send a request to `role`'s version whatever the weight, for shipcheck's own
   * synthetic load and checks; without a token they work only from a `forceFrom` address.
   */
  forceHeaders(role: 'stable' | 'canary'): Record<string, string> {
    const token = this.options.forceToken;
    return token === undefined || token === ''
      ? { [VERSION_HEADER]: role }
      : { [VERSION_HEADER]: role, [FORCE_TOKEN_HEADER]: token };
  }

  /** Binds the listen address; rejects with ProviderError naming it when it cannot. Idempotent. */
  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const { host, port } = parseHostPort(this.options.listen);
    const { keepAliveTimeout, headersTimeout, requestTimeout } =
      this.options.timeouts ?? DEFAULT_PROXY_TIMEOUTS;
    // Given to the constructor, not assigned after it: only the constructor checks headers <= request.
    const server = http.createServer(
      { noDelay: true, keepAliveTimeout, headersTimeout, requestTimeout },
      this.onRequest,
    );
    server.on('upgrade', this.onUpgrade);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new ProviderError(`traffic.listen ${formatHostPort(host, port)}: ${describeListenError(err)}`, {
            cause: err,
          }),
        );
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.options.logger?.warn({ err }, 'proxy: server error'));
    this.server = server;
    this.dispatcher.closing = false;
    this.sweepTimer = setInterval(() => this.dispatcher.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /**
   * Stops listening, closes upgraded connections, lets in-flight requests finish (at most
   * CLOSE_TIMEOUT_MS), then closes every connection.
   */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    clearInterval(this.sweepTimer);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A WebSocket may stay open for hours: waiting for it would only delay the close.
    this.dispatcher.closing = true;
    this.dispatcher.closeUpgrades();
    await this.waitIdle(CLOSE_TIMEOUT_MS);
    server.closeAllConnections();
    await closed;
    for (const upstream of this.dispatcher.byAddress.values()) {
      upstream.pool.destroy();
      for (const wake of [...upstream.drainWaiters]) wake();
    }
    this.dispatcher.byAddress.clear();
  }

  /** The client connection timeouts in effect on the listening server; throws ProviderError before start(). */
  timeouts(): ProxyTimeouts {
    const server = this.server;
    if (server === undefined) {
      throw new ProviderError(`traffic.listen ${this.options.listen}: proxy is not listening`);
    }
    const { keepAliveTimeout, headersTimeout, requestTimeout } = server;
    return { keepAliveTimeout, headersTimeout, requestTimeout };
  }

  /** The `host:port` actually bound; throws ProviderError before start(). */
  address(): string {
    const info = this.server?.address();
    if (info === undefined || info === null || typeof info === 'string') {
      throw new ProviderError(`traffic.listen ${this.options.listen}: proxy is not listening`);
    }
    return formatHostPort(info.address, info.port);
  }

  /** Applies `route` to requests that arrive from now on; requests in flight keep their upstream. */
  async setRoute(route: Route): Promise<void> {
    if (!Number.isInteger(route.weight) || route.weight < 0 || route.weight > PERCENT) {
      throw new InputError(`traffic weight must be an integer from 0 to 100, got ${route.weight}`);
    }
    this.dispatcher.route = { stable: route.stable, canary: route.canary, weight: route.weight };
  }

  /** The route in effect. */
  async currentRoute(): Promise<Route> {
    return { ...this.dispatcher.route };
  }

  /**
   * Resolves when no request to `address` is in flight and no upgraded connection to it is open, or
   * after `timeoutMs`, when it closes the upgraded connections still open (requests still in flight
   * are left to finish). The caller first takes the address out of the UpstreamSource so that no
   * new request goes there.
   */
  drain(address: string, timeoutMs: number): Promise<void> {
    const dispatcher = this.dispatcher;
    const upstream = dispatcher.byAddress.get(address);
    if (upstream === undefined || upstream.inflight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        const index = upstream.drainWaiters.indexOf(wake);
        if (index >= 0) upstream.drainWaiters.splice(index, 1);
        resolve();
      };
      const timer = setTimeout(() => {
        for (const upgrade of dispatcher.upgradesAt(address)) upgrade.tunnel?.close();
        wake();
      }, timeoutMs);
      upstream.drainWaiters.push(wake);
    });
  }

  /** Requests in flight to `address`, upgraded connections included; for status pages and tests. */
  inflight(address: string): number {
    return this.dispatcher.byAddress.get(address)?.inflight ?? 0;
  }

  /** Open upstream connections to `address`, idle or busy; for status pages and tests. */
  connections(address: string): number {
    return this.dispatcher.byAddress.get(address)?.pool.size ?? 0;
  }
  /** Upgraded connections open to `address` (or being set up); for status pages and tests. */
  upgrades(address: string): number {
    return this.dispatcher.byAddress.get(address)?.upgrades.size ?? 0;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatcher.serve(req, res);
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.dispatcher.upgrade(req, socket, head);
  };

  private waitIdle(timeoutMs: number): Promise<void> {
    const dispatcher = this.dispatcher;
    if (dispatcher.active === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        dispatcher.idleWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      dispatcher.idleWaiter = done;
    });
  }
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function describeListenError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'address not available on this host';
    default:
      return err.message;
  }
}
