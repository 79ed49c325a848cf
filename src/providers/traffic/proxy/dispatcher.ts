/**
 * The built-in proxy's request path, on every request: rewrites the request head for the upstream,
 * picks the version by weight (or the version header) and an instance round-robin, sends it through
 * the address's UpstreamPool, retries once where that is safe, streams the response back, and
 * records it. ProxyRouter (proxy-router.ts) owns the server, the route and draining around it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import type { Route, UpstreamSource } from '../types.js';
import {
  CONNECT_TIMEOUT,
  HANG_UP,
  UpstreamPool,
  type UpstreamConnection,
  type UpstreamExchange,
} from './upstream-pool.js';

/** Request header that forces the choice of version: `canary` or `stable`. */
export const VERSION_HEADER = 'X-Shipcheck-Version';
/** Response header naming the version that served the request. */
export const SERVED_BY_HEADER = 'X-Shipcheck-Served-By';

const PERCENT = 100;
const STATUS_BAD_GATEWAY = 502;
const STATUS_UNAVAILABLE = 503;
const BAD_GATEWAY_BODY = 'bad gateway: upstream failed\n';
const UNAVAILABLE_BODY = 'no ready instance\n';
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

/** What the proxy does with a request header; PLAIN ones pass through untouched. */
const PLAIN = 0;
const DROP = 1;
const HOST = 2;
const CONTENT_LENGTH = 3;
const TRANSFER_ENCODING = 4;
const CONNECTION = 5;
const FORWARDED_FOR = 6;
const FORWARDED_HOST = 7;
const FORWARDED_PROTO = 8;
const VERSION = 9;

const REQUEST_HEADER_KINDS = new Map<string, number>([
  ['te', DROP],
  ['upgrade', DROP],
  ['trailer', DROP],
  ['keep-alive', DROP],
  ['proxy-connection', DROP],
  // Node already answered `Expect: 100-continue` to the client; the upstream gets the body regardless.
  ['expect', DROP],
  ['host', HOST],
  ['content-length', CONTENT_LENGTH],
  // Kept: Node decoded the client's chunks, and the body is re-chunked on the way up.
  ['transfer-encoding', TRANSFER_ENCODING],
  ['connection', CONNECTION],
  ['x-forwarded-for', FORWARDED_FOR],
  ['x-forwarded-host', FORWARDED_HOST],
  ['x-forwarded-proto', FORWARDED_PROTO],
  [VERSION_HEADER.toLowerCase(), VERSION],
]);

/** Connection header values that name no other header to remove. */
const PLAIN_CONNECTION_VALUES = new Set(['keep-alive', 'close']);

const EXCHANGE = Symbol('shipcheck.proxy.exchange');
interface Carrier {
  [EXCHANGE]?: Exchange;
}

/** Minimal logger the proxy warns through; pino fits. */
export interface ProxyLogger {
  warn(obj: object, msg: string): void;
}

/** One upstream address: its connection pool and the requests in flight to it. */
class Upstream {
  readonly pool: UpstreamPool;
  inflight = 0;
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
  active = 0;
  idleWaiter: (() => void) | undefined = undefined;

  constructor(
    private readonly upstreams: UpstreamSource,
    private readonly metrics: RequestMetrics | undefined,
    readonly logger: ProxyLogger | undefined,
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
    const raw = req.rawHeaders;
    let lines = '';
    let forced: Role | typeof NOT_FORCED = NOT_FORCED;
    let hasBody = false;
    let chunked = false;
    let host: string | undefined;
    let forwardedFor: string | undefined;
    let forwardedHost = false;
    let forwardedProto = false;
    let connectionTokens: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const kind = requestHeaderKind(name);
      if (kind === PLAIN) {
        lines += `${name}: ${value}\r\n`;
        continue;
      }
      switch (kind) {
        case HOST:
          host = value;
          lines += `${name}: ${value}\r\n`;
          break;
        case CONTENT_LENGTH:
          if (value !== '0') hasBody = true;
          lines += `${name}: ${value}\r\n`;
          break;
        case TRANSFER_ENCODING:
          hasBody = true;
          chunked = true;
          lines += `${name}: ${value}\r\n`;
          break;
        case CONNECTION:
          if (!PLAIN_CONNECTION_VALUES.has(value.toLowerCase())) connectionTokens = value;
          break;
        case FORWARDED_FOR:
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
          break;
        case FORWARDED_HOST:
          forwardedHost = true;
          lines += `${name}: ${value}\r\n`;
          break;
        case FORWARDED_PROTO:
          forwardedProto = true;
          lines += `${name}: ${value}\r\n`;
          break;
        case VERSION: {
          const wanted = value.toLowerCase();
          if (wanted === 'canary') forced = CANARY;
          else if (wanted === 'stable') forced = STABLE;
          lines += `${name}: ${value}\r\n`;
          break;
        }
        default: // DROP
      }
    }
    if (connectionTokens !== undefined) lines = withoutListedHeaders(lines, connectionTokens);

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
    if (address === undefined || version === undefined) {
      sendText(res, STATUS_UNAVAILABLE, UNAVAILABLE_BODY, undefined);
      return;
    }

    if (host === undefined) lines += `Host: ${address}\r\n`;
    else if (!forwardedHost) lines += `X-Forwarded-Host: ${host}\r\n`;
    const client = req.socket.remoteAddress ?? 'unknown';
    lines += `X-Forwarded-For: ${forwardedFor === undefined ? client : `${forwardedFor}, ${client}`}\r\n`;
    if (!forwardedProto) lines += 'X-Forwarded-Proto: http\r\n';
    const head = `${req.method} ${req.url} HTTP/1.1\r\n${lines}\r\n`;

    const exchange = new Exchange(
      this,
      req,
      res,
      startedAt,
      head,
      hasBody,
      chunked,
      forced !== NOT_FORCED,
      role,
      version,
    );
    this.active++;
    (res as Carrier)[EXCHANGE] = exchange;
    res.on('close', onClientClose);
    this.send(exchange, address);
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
    let upstream = this.byAddress.get(address);
    if (upstream === undefined) {
      upstream = new Upstream(address);
      this.byAddress.set(address, upstream);
    }
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

  /** Ends the exchange once: releases its upstream, records it (unless the client left) and wakes close(). */
  finish(exchange: Exchange, status: number | undefined): void {
    exchange.finished = true;
    exchange.connection = undefined;
    this.release(exchange);
    if (status !== undefined && this.metrics !== undefined) {
      this.metrics.record(exchange.version, status, performance.now() - exchange.startedAt);
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

  private warnUpstream(upstream: Upstream, version: string, code: string): void {
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

function requestHeaderKind(name: string): number {
  // Only names as long as a special header are lowercased and looked up; most headers skip both.
  switch (name.length) {
    case 2:
    case 4:
    case 6:
    case 7:
    case 10:
    case 14:
    case 15:
    case 16:
    case 17:
    case 19:
      return REQUEST_HEADER_KINDS.get(name.toLowerCase()) ?? PLAIN;
    default:
      return PLAIN;
  }
}

/** Removes the header lines a Connection header names: they are hop-by-hop for this message (RFC 9110 7.6.1). */
function withoutListedHeaders(lines: string, tokens: string): string {
  const listed = new Set(tokens.split(',').map((token) => token.trim().toLowerCase()));
  return lines
    .split('\r\n')
    .filter((line) => line !== '' && !listed.has(line.slice(0, line.indexOf(':')).toLowerCase()))
    .map((line) => `${line}\r\n`)
    .join('');
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
