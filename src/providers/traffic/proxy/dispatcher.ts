/**
 * The built-in proxy's request path, on every request: rewrites the request head for the upstream
 * (request-head.ts), picks the version by weight (or the version header, from a request ForceGuard
 * allows) and an instance round-robin, sends it through the address's UpstreamPool, retries once
 * where that is safe, streams the response back, and records it. An Upgrade takes the same choice
 * onto a connection of its own (upgrade-tunnel.ts). ProxyRouter (proxy-router.ts) owns the server,
 * the route and draining around it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import type { Route, UpstreamSource } from '../types.js';
import type { ForceGuard } from './force-guard.js';
import { readRequestHead, SERVED_BY_HEADER, upstreamHead, type RequestHead } from './request-head.js';
import { answerRaw, UpgradeTunnel, type TunnelEvents } from './upgrade-tunnel.js';
import {
  CONNECT_TIMEOUT,
  HANG_UP,
  UpstreamPool,
  type UpstreamConnection,
  type UpstreamExchange,
} from './upstream-pool.js';

export { SERVED_BY_HEADER, VERSION_HEADER } from './request-head.js';

const PERCENT = 100;
const STATUS_BAD_GATEWAY = 502;
const STATUS_UNAVAILABLE = 503;
const STATUS_NOT_IMPLEMENTED = 501;
const BAD_GATEWAY_BODY = 'bad gateway: upstream failed\n';
const UNAVAILABLE_BODY = 'no ready instance\n';
const CHUNKED_UPGRADE_BODY = 'an Upgrade request with a chunked body is not supported\n';
/** Sweeps an address may go unused before its pool is dropped, so stopped instances do not leak. */
const UNUSED_SWEEPS_BEFORE_FORGET = 60;
/** At most one warning per upstream address in this interval, so a dead upstream under load cannot flood logs. */
const WARN_INTERVAL_MS = 10_000;
/** Failures where the request cannot have reached the app's handler, or hit a keep-alive race. */
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', CONNECT_TIMEOUT]);

type Role = 0 | 1;
const STABLE: Role = 0;
const CANARY: Role = 1;
const NOT_FORCED = -1;

const EXCHANGE = Symbol('shipcheck.proxy.exchange');
interface Carrier {
  [EXCHANGE]?: Exchange;
}

/** Minimal logger the proxy warns through; pino fits. */
export interface ProxyLogger {
  warn(obj: object, msg: string): void;
}

/** One upstream address: its connection pool and the requests in flight to it, upgraded connections included. */
class Upstream {
  readonly pool: UpstreamPool;
  inflight = 0;
  /** Upgraded connections (and upgrades being set up) to this address; each also counts in `inflight`. */
  readonly upgrades = new Set<Upgrade>();
  /** Sweeps since the last request; the address is forgotten after UNUSED_SWEEPS_BEFORE_FORGET. */
  unusedSweeps = 0;
  lastWarnAt = -Infinity;
  readonly drainWaiters: (() => void)[] = [];

  constructor(readonly address: string) {
    this.pool = new UpstreamPool(address);
  }
}

/** The request path: routing state, upstream choice, retries, completion and metrics. */
export class Dispatcher {
  route: Route = { stable: undefined, canary: undefined, weight: 0 };
  /** Adds the weight per request; a canary request each time it passes 100 keeps the split exact. */
  private accumulator = 0;
  private stableTurn = 0;
  private canaryTurn = 0;
  readonly byAddress = new Map<string, Upstream>();
  /** Upgraded connections, open or being set up. */
  readonly upgrades = new Set<Upgrade>();
  /** Set by ProxyRouter.close(): an upgrade asked for from then on is refused, so it cannot hold the close up. */
  closing = false;
  active = 0;
  idleWaiter: (() => void) | undefined = undefined;

  constructor(
    private readonly upstreams: UpstreamSource,
    private readonly metrics: RequestMetrics | undefined,
    readonly logger: ProxyLogger | undefined,
    private readonly force: ForceGuard,
  ) {}

  /** Proxies one client request; a failure before an upstream is reached is answered 502, never thrown. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.handle(req, res);
    } catch (err) {
      // A throwing UpstreamSource or an unforwardable request must not take the proxy down.
      this.logger?.warn({ err }, 'proxy: request failed before reaching an upstream');
      if (!res.headersSent) sendText(res, STATUS_BAD_GATEWAY, BAD_GATEWAY_BODY, undefined);
      else res.destroy();
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const head = readRequestHead(req.rawHeaders, false);
    const forced = this.forcedRole(req, head);
    const choice = this.choose(forced);
    if (choice === undefined) {
      sendText(res, STATUS_UNAVAILABLE, UNAVAILABLE_BODY, undefined);
      return;
    }
    const exchange = new Exchange(
      this,
      req,
      res,
      startedAt,
      upstreamHead(req, head, choice.address),
      head.hasBody,
      head.chunked,
      forced !== NOT_FORCED,
      recordedApart(forced, head),
      choice.role,
      choice.version,
    );
    this.active++;
    (res as Carrier)[EXCHANGE] = exchange;
    res.on('close', onClientClose);
    this.send(exchange, choice.address);
  }

  /**
   * Joins a client connection that asked for an Upgrade to an instance chosen as for a request, on
   * a fresh upstream connection; a failure before an upstream is reached is answered, never thrown.
   */
  upgrade(req: IncomingMessage, socket: Duplex, clientHead: Buffer): void {
    try {
      const startedAt = performance.now();
      const head = readRequestHead(req.rawHeaders, true);
      if (head.chunked) {
        // Forwarding it would mean parsing chunks to know where the request ends; nothing common sends one.
        socket.on('error', ignore);
        answerRaw(socket, STATUS_NOT_IMPLEMENTED, CHUNKED_UPGRADE_BODY, undefined);
        return;
      }
      const forced = this.forcedRole(req, head);
      const choice = this.closing ? undefined : this.choose(forced);
      if (choice === undefined) {
        socket.on('error', ignore);
        answerRaw(socket, STATUS_UNAVAILABLE, UNAVAILABLE_BODY, undefined);
        return;
      }
      const upgrade = new Upgrade(this, req, head, startedAt, forced, choice.role, choice.version);
      upgrade.tunnel = new UpgradeTunnel(
        socket,
        clientHead,
        head.bodyLength,
        req.method === 'HEAD',
        choice.version,
        upgrade,
      );
      this.upgrades.add(upgrade);
      this.openUpgrade(upgrade, choice.address);
    } catch (err) {
      this.logger?.warn({ err }, 'proxy: upgrade failed before reaching an upstream');
      socket.on('error', ignore);
      if (socket.writable) answerRaw(socket, STATUS_BAD_GATEWAY, BAD_GATEWAY_BODY, undefined);
      else socket.destroy();
    }
  }

  /** Closes every upgraded connection (and those still being set up). */
  closeUpgrades(): void {
    for (const upgrade of [...this.upgrades]) upgrade.tunnel?.close();
  }

  /** Connects an upgrade to `address`; it counts as in flight there until it closes. */
  openUpgrade(upgrade: Upgrade, address: string): void {
    const upstream = this.upstreamAt(address);
    upstream.inflight++;
    upstream.unusedSweeps = 0;
    upstream.upgrades.add(upgrade);
    upgrade.upstream = upstream;
    upgrade.tunnel!.connect(address, upstreamHead(upgrade.req, upgrade.head, address));
  }

  /** Takes an upgrade off its address (it closed, or its connect failed); wakes drains waiting on the address. */
  releaseUpgrade(upgrade: Upgrade): void {
    const upstream = upgrade.upstream;
    if (upstream === undefined) return;
    upgrade.upstream = undefined;
    upstream.upgrades.delete(upgrade);
    if (--upstream.inflight === 0 && upstream.drainWaiters.length > 0) {
      for (const wake of [...upstream.drainWaiters]) wake();
    }
  }

  /** Records an upgrade's answer (or the 502 it got) once, timed to the answer, not to the socket's end. */
  recordUpgrade(upgrade: Upgrade, status: number): void {
    if (upgrade.recorded) return;
    upgrade.recorded = true;
    this.metrics?.record(upgrade.version, status, performance.now() - upgrade.startedAt, upgrade.apart);
  }

  /** An upgrade's connect failed before anything was sent: another instance of its version once, else 502. */
  upgradeConnectFailed(upgrade: Upgrade, code: string): void {
    const failed = upgrade.upstream!;
    this.releaseUpgrade(upgrade);
    if (!upgrade.retried) {
      const address = this.nextAddress(upgrade.role, upgrade.version, failed.address);
      if (address !== undefined) {
        upgrade.retried = true;
        this.openUpgrade(upgrade, address);
        return;
      }
    }
    this.warnUpstream(failed, upgrade.version, code);
    this.recordUpgrade(upgrade, STATUS_BAD_GATEWAY);
    upgrade.tunnel!.reject(STATUS_BAD_GATEWAY, BAD_GATEWAY_BODY);
  }

  /** The upgrades open to `address`: a drain that timed out closes them. */
  upgradesAt(address: string): Upgrade[] {
    return [...(this.byAddress.get(address)?.upgrades ?? [])];
  }

  /** The role the version header forces, when ForceGuard allows this request to force; else NOT_FORCED. */
  private forcedRole(req: IncomingMessage, head: RequestHead): Role | typeof NOT_FORCED {
    if (head.wanted === undefined) return NOT_FORCED;
    const role = wantedRole(head.wanted);
    if (role === NOT_FORCED || !this.force.allows(head.shownToken, req.socket.remoteAddress))
      return NOT_FORCED;
    head.keepVersion();
    return role;
  }

  /** The version and instance for a new request or upgrade: forced, or by weight with a fallback to the other version. */
  private choose(forced: Role | typeof NOT_FORCED): Choice | undefined {
    const route = this.route;
    let role: Role;
    if (forced !== NOT_FORCED) role = forced;
    else if (route.weight <= 0) role = STABLE;
    else if (route.weight >= PERCENT) role = CANARY;
    else {
      this.accumulator += route.weight;
      if (this.accumulator >= PERCENT) {
        this.accumulator -= PERCENT;
        role = CANARY;
      } else role = STABLE;
    }
    let version = role === CANARY ? route.canary : route.stable;
    let address = version === undefined ? undefined : this.nextAddress(role, version, undefined);
    if (address === undefined && forced === NOT_FORCED) {
      role = role === CANARY ? STABLE : CANARY;
      version = role === CANARY ? route.canary : route.stable;
      address = version === undefined ? undefined : this.nextAddress(role, version, undefined);
    }
    if (address === undefined || version === undefined) return undefined;
    return { role, version, address };
  }

  /** The next address of `version` in round-robin order, skipping `avoid`; undefined when there is none. */
  nextAddress(role: Role, version: string, avoid: string | undefined): string | undefined {
    const addresses = this.upstreams(version);
    const count = addresses.length;
    if (count === 0) return undefined;
    const turn = role === CANARY ? this.canaryTurn++ : this.stableTurn++;
    const address = addresses[turn % count]!;
    if (address !== avoid) return address;
    return count === 1 ? undefined : addresses[(turn + 1) % count];
  }

  send(exchange: Exchange, address: string): void {
    const upstream = this.upstreamAt(address);
    upstream.inflight++;
    upstream.unusedSweeps = 0;
    exchange.upstream = upstream;
    const connection = upstream.pool.acquire();
    exchange.connection = connection;
    const req = exchange.req;
    connection.send(
      exchange,
      exchange.head,
      req.method === 'HEAD',
      exchange.hasBody ? req : undefined,
      exchange.chunked,
    );
  }

  private upstreamAt(address: string): Upstream {
    let upstream = this.byAddress.get(address);
    if (upstream === undefined) {
      upstream = new Upstream(address);
      this.byAddress.set(address, upstream);
    }
    return upstream;
  }

  /** Ends the exchange once: releases its upstream, records it (unless the client left) and wakes close(). */
  finish(exchange: Exchange, status: number | undefined): void {
    exchange.finished = true;
    exchange.connection = undefined;
    this.release(exchange);
    if (status !== undefined && this.metrics !== undefined) {
      this.metrics.record(exchange.version, status, performance.now() - exchange.startedAt, exchange.apart);
    }
    if (--this.active === 0 && this.idleWaiter !== undefined) this.idleWaiter();
  }

  release(exchange: Exchange): void {
    const upstream = exchange.upstream;
    if (upstream === undefined) return;
    exchange.upstream = undefined;
    if (--upstream.inflight === 0 && upstream.drainWaiters.length > 0) {
      for (const wake of [...upstream.drainWaiters]) wake();
    }
  }

  /** Retries once on another instance when safe, else answers 502. */
  upstreamFailed(exchange: Exchange, code: string, responseStarted: boolean, reused: boolean): void {
    const failed = exchange.upstream!;
    exchange.connection = undefined;
    this.release(exchange);
    const retryable =
      !responseStarted && (RETRYABLE_CODES.has(code) || (code === HANG_UP && reused)) && canResend(exchange);
    if (!exchange.retried && retryable) {
      const address = this.retryAddress(exchange, failed.address);
      if (address !== undefined) {
        exchange.retried = true;
        this.send(exchange, address);
        return;
      }
    }
    this.warnUpstream(failed, exchange.version, code);
    this.fail(exchange);
  }

  /** Another instance for a retry: the same version first, then the other one unless the version was forced. */
  private retryAddress(exchange: Exchange, failed: string): string | undefined {
    const same = this.nextAddress(exchange.role, exchange.version, failed);
    if (same !== undefined || exchange.forced) return same;
    const role: Role = exchange.role === CANARY ? STABLE : CANARY;
    const version = role === CANARY ? this.route.canary : this.route.stable;
    if (version === undefined || version === exchange.version) return undefined;
    const other = this.nextAddress(role, version, failed);
    if (other !== undefined) {
      exchange.role = role;
      exchange.version = version;
    }
    return other;
  }

  fail(exchange: Exchange): void {
    const res = exchange.res;
    if (!res.headersSent) sendText(res, STATUS_BAD_GATEWAY, BAD_GATEWAY_BODY, exchange.version);
    else res.destroy();
    this.finish(exchange, STATUS_BAD_GATEWAY);
  }

  warnUpstream(upstream: Upstream, version: string, code: string): void {
    if (this.logger === undefined) return;
    const now = performance.now();
    if (now - upstream.lastWarnAt < WARN_INTERVAL_MS) return;
    upstream.lastWarnAt = now;
    this.logger.warn({ upstream: upstream.address, version, code }, 'proxy: upstream request failed');
  }

  sweep(): void {
    for (const [address, upstream] of this.byAddress) {
      upstream.pool.sweep();
      if (upstream.inflight > 0) continue;
      if (++upstream.unusedSweeps > UNUSED_SWEEPS_BEFORE_FORGET) {
        upstream.pool.destroy();
        this.byAddress.delete(address);
      }
    }
  }
}

/** The state of one proxied request; the upstream connection reports to it. */
class Exchange implements UpstreamExchange {
  upstream: Upstream | undefined = undefined;
  connection: UpstreamConnection | undefined = undefined;
  status = 0;
  retried = false;
  finished = false;
  drainHooked = false;

  constructor(
    readonly dispatcher: Dispatcher,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly startedAt: number,
    readonly head: string,
    readonly hasBody: boolean,
    readonly chunked: boolean,
    readonly forced: boolean,
    /** Recorded apart from the version's analysis window (RequestMetrics.forcedWindow). */
    readonly apart: boolean,
    public role: Role,
    public version: string,
  ) {}

  onResponseHead(status: number, reason: string, headers: string[]): void {
    if (this.finished) return;
    this.status = status;
    headers.push(SERVED_BY_HEADER, this.version);
    try {
      this.res.writeHead(status, reason, headers);
    } catch (err) {
      // Node refuses a few bytes an upstream may send in a reason phrase or header: answer 502 instead.
      this.dispatcher.logger?.warn({ err, version: this.version }, 'proxy: unforwardable upstream response');
      this.connection?.abort();
      this.dispatcher.fail(this);
    }
  }

  onResponseData(chunk: Buffer): boolean {
    if (this.finished || this.res.write(chunk)) return true;
    // The client reads slower than the upstream writes: hold the upstream until the client drains.
    if (!this.drainHooked) {
      this.drainHooked = true;
      this.res.on('drain', onClientDrain);
    }
    return false;
  }

  onResponseEnd(last: Buffer | undefined): void {
    if (this.finished) return;
    if (last === undefined) this.res.end();
    else this.res.end(last);
    this.dispatcher.finish(this, this.status);
  }

  onUpstreamFailure(code: string, responseStarted: boolean, reused: boolean): void {
    if (this.finished) return;
    // Once the status is out (or the head was refused), a failure can only cut the response.
    if (responseStarted && this.res.headersSent) this.dispatcher.fail(this);
    else this.dispatcher.upstreamFailed(this, code, responseStarted, reused);
  }
}

/** The version and instance chosen for a request or an upgrade. */
interface Choice {
  role: Role;
  version: string;
  address: string;
}

/**
 * One client connection that asked for an Upgrade: the version it was routed to (for its whole life,
 * whatever the weight does later), the address it is joined to, and whether it was recorded.
 */
class Upgrade implements TunnelEvents {
  tunnel: UpgradeTunnel | undefined = undefined;
  upstream: Upstream | undefined = undefined;
  retried = false;
  recorded = false;
  /** Recorded apart from the version's analysis window, like a forced request. */
  readonly apart: boolean;

  constructor(
    readonly dispatcher: Dispatcher,
    readonly req: IncomingMessage,
    readonly head: RequestHead,
    readonly startedAt: number,
    forced: Role | typeof NOT_FORCED,
    readonly role: Role,
    readonly version: string,
  ) {
    this.apart = recordedApart(forced, head);
  }

  onConnectFailure(code: string): void {
    this.dispatcher.upgradeConnectFailed(this, code);
  }

  onAnswer(status: number): void {
    this.dispatcher.recordUpgrade(this, status);
  }

  onFailure(code: string): void {
    const upstream = this.upstream;
    if (upstream !== undefined) this.dispatcher.warnUpstream(upstream, this.version, code);
    this.dispatcher.recordUpgrade(this, STATUS_BAD_GATEWAY);
  }

  onClose(): void {
    this.dispatcher.releaseUpgrade(this);
    this.dispatcher.upgrades.delete(this);
  }
}

/**
 * Whether a request is recorded apart from its version's analysis window: forced ones are, except
 * the synthetic load's, which is forced on purpose to feed the verdict (decision 005).
 */
function recordedApart(forced: Role | typeof NOT_FORCED, head: RequestHead): boolean {
  return forced !== NOT_FORCED && !head.synthetic;
}

function ignore(): void {
  // A client socket being answered and closed may still report a reset; nothing is left to do.
}

// Listeners below are allocated once; `this` is the emitter, which carries its exchange.

function onClientDrain(this: ServerResponse): void {
  (this as Carrier)[EXCHANGE]!.connection?.resume();
}

function onClientClose(this: ServerResponse): void {
  const exchange = (this as Carrier)[EXCHANGE]!;
  if (exchange.finished) return;
  // The client went away first: stop the upstream work; nothing completed, so nothing is recorded.
  exchange.connection?.abort();
  exchange.dispatcher.finish(exchange, undefined);
}

/** The role a version header names, or NOT_FORCED when it names neither. */
function wantedRole(value: string): Role | typeof NOT_FORCED {
  const wanted = value.toLowerCase();
  if (wanted === 'canary') return CANARY;
  if (wanted === 'stable') return STABLE;
  return NOT_FORCED;
}

function canResend(exchange: Exchange): boolean {
  if (!exchange.hasBody) return true;
  const method = exchange.req.method;
  // A body already read into the failed attempt is gone; only an untouched one can be sent again.
  return (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') && !exchange.req.readableDidRead;
}

function sendText(res: ServerResponse, status: number, body: string, version: string | undefined): void {
  const headers = [
    'Content-Type',
    'text/plain; charset=utf-8',
    'Content-Length',
    String(Buffer.byteLength(body)),
  ];
  if (version !== undefined) headers.push(SERVED_BY_HEADER, version);
  res.writeHead(status, headers);
  res.end(body);
}
