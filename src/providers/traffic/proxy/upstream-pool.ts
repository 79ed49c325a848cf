/**
 * Keep-alive HTTP/1.1 connections from the built-in proxy to one upstream address (decision 003):
 * writes each request as one latin1 string and streams its body, reads the response with
 * Http1ResponseParser, and reports to the proxy's exchange. Listeners are allocated once per module,
 * not per request, because this is the proxy's hot path.
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseHostPort } from '../../../util/net.js';
import { Http1ResponseParser, type Http1ResponseHandler } from './http1-response-parser.js';

/**
 * Idle connections are closed before Node's default 5 s server keep-alive timeout, so a request is
 * never written into a socket the upstream is closing at the same moment.
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4000;
/** Idle connections kept per address; more are closed once their request is done. */
const MAX_IDLE_CONNECTIONS = 128;
/** An address that accepts nothing in this time fails like a refused one. */
export const CONNECT_TIMEOUT_MS = 5000;
/** Chunk sizes of a re-chunked request body are written in hex. */
const HEX = 16;
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

// Failure codes reported besides the socket's own (ECONNREFUSED, ECONNRESET, ...):
/** The upstream closed the connection before the response was complete, without a socket error. */
export const HANG_UP = 'EHANGUP';
/** The connection was not established within CONNECT_TIMEOUT_MS. */
export const CONNECT_TIMEOUT = 'ECONNTIMEOUT';
/** The upstream sent bytes that are not a well-formed HTTP/1.1 response. */
export const BAD_RESPONSE = 'EBADRESPONSE';

const CONNECTION_OF = Symbol('shipcheck.upstream.connection');
interface Carrier {
  [CONNECTION_OF]?: UpstreamConnection;
}

/** Receives what happens to one request sent on an UpstreamConnection. */
export interface UpstreamExchange {
  /** The final response head; `headers` is a flat name/value list without hop-by-hop headers. */
  onResponseHead(status: number, reason: string, headers: string[]): void;
  /** A piece of the (de-chunked) body; return false to pause the upstream until `resume()`. */
  onResponseData(chunk: Buffer): boolean;
  /** The response is complete; `last` is its final piece when it arrived with the end. */
  onResponseEnd(last: Buffer | undefined): void;
  /**
   * The request failed. `responseStarted` tells whether any response byte arrived; `reused` whether
   * the connection had served a request before (a keep-alive race, safe to retry).
   */
  onUpstreamFailure(code: string, responseStarted: boolean, reused: boolean): void;
}

/** Keep-alive HTTP/1.1 connections to one upstream address, reused most recently idle first. */
export class UpstreamPool {
  readonly host: string;
  readonly port: number;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private closed = false;

  /** `now` is a monotonic millisecond clock, injectable for tests. */
  constructor(
    readonly address: string,
    private readonly now: () => number = monotonicNow,
  ) {
    const { host, port } = parseHostPort(address);
    this.host = host;
    this.port = port;
  }

  /** An idle connection that is still fresh, or a new one. */
  acquire(): UpstreamConnection {
    const now = this.now();
    let connection = this.idle.pop();
    while (connection !== undefined) {
      if (!connection.dead) {
        if (now - connection.idleSince < UPSTREAM_IDLE_TIMEOUT_MS) return connection;
        connection.destroy();
      }
      connection = this.idle.pop();
    }
    connection = new UpstreamConnection(this);
    this.all.add(connection);
    return connection;
  }

  /** Takes back a connection whose response completed and may be reused. */
  release(connection: UpstreamConnection): void {
    if (this.closed || this.idle.length >= MAX_IDLE_CONNECTIONS) {
      connection.destroy();
      return;
    }
    connection.idleSince = this.now();
    this.idle.push(connection);
  }

  /** Closes idle connections past the idle timeout, and forgets closed ones. */
  sweep(): void {
    const now = this.now();
    // The stack's bottom holds the longest idle, so stale ones are a prefix.
    let stale = 0;
    while (stale < this.idle.length) {
      const connection = this.idle[stale]!;
      if (!connection.dead && now - connection.idleSince < UPSTREAM_IDLE_TIMEOUT_MS) break;
      connection.destroy();
      stale++;
    }
    if (stale > 0) this.idle.splice(0, stale);
  }

  /** Connections open to this address, idle or busy. */
  get size(): number {
    return this.all.size;
  }

  /** Closes every connection, busy ones included; later releases close theirs. */
  destroy(): void {
    this.closed = true;
    for (const connection of [...this.all]) connection.destroy();
    this.idle.length = 0;
  }

  /** Called by a connection once its socket closed. */
  forget(connection: UpstreamConnection): void {
    this.all.delete(connection);
  }
}

/** One keep-alive connection: writes a request, parses the response, and streams it to an exchange. */
export class UpstreamConnection implements Http1ResponseHandler {
  readonly socket: net.Socket;
  dead = false;
  idleSince = 0;
  private exchange: UpstreamExchange | undefined = undefined;
  private readonly parser = new Http1ResponseParser(this);
  private responseStarted = false;
  private reused = false;
  private connected = false;
  private error: string | undefined = undefined;
  private body: IncomingMessage | undefined = undefined;
  private chunkedBody = false;
  private bodyDone = true;

  constructor(private readonly pool: UpstreamPool) {
    const socket = net.connect({ host: pool.host, port: pool.port, noDelay: true });
    (socket as Carrier)[CONNECTION_OF] = this;
    socket.setTimeout(CONNECT_TIMEOUT_MS);
    socket.on('connect', onSocketConnect);
    socket.on('timeout', onSocketTimeout);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    this.socket = socket;
  }

  /**
   * Sends a request: `head` is the request line and headers (latin1, ending with an empty line);
   * `body`, when given, is streamed after it, re-chunked when `chunked`.
   */
  send(
    exchange: UpstreamExchange,
    head: string,
    headRequest: boolean,
    body: IncomingMessage | undefined,
    chunked: boolean,
  ): void {
    this.exchange = exchange;
    this.parser.expect(headRequest);
    this.responseStarted = false;
    this.socket.write(head, 'latin1');
    if (body === undefined) {
      this.bodyDone = true;
      return;
    }
    this.body = body;
    this.chunkedBody = chunked;
    this.bodyDone = false;
    (body as Carrier)[CONNECTION_OF] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.resume();
  }

  /** Resumes reading a response paused by onResponseData returning false. */
  resume(): void {
    this.socket.resume();
  }

  /** Drops the exchange without telling it, and closes the connection (the client went away). */
  abort(): void {
    this.exchange = undefined;
    this.parser.stop();
    this.destroy();
  }

  /** Closes the connection; a request in flight on it is reported as failed unless aborted first. */
  destroy(): void {
    this.dead = true;
    this.detachBody();
    this.socket.destroy();
  }

  // ---- events, called from the module-level listeners below; not for other callers ----

  onConnect(): void {
    this.connected = true;
    this.socket.setTimeout(0);
  }

  onTimeout(): void {
    // Only the connect phase has a timeout; afterwards a slow upstream is not the proxy's to judge.
    if (this.connected) return;
    this.error = CONNECT_TIMEOUT;
    this.socket.destroy();
  }

  onEnd(): void {
    // The upstream is closing: an idle connection must not be handed out in the moment before 'close'.
    this.dead = true;
  }

  onError(err: NodeJS.ErrnoException): void {
    this.error ??= err.code ?? HANG_UP;
  }

  onClose(): void {
    this.dead = true;
    this.pool.forget(this);
    this.detachBody();
    const exchange = this.exchange;
    if (exchange === undefined) return;
    this.exchange = undefined;
    if (this.parser.readsUntilClose && this.error === undefined) {
      exchange.onResponseEnd(undefined);
      return;
    }
    exchange.onUpstreamFailure(this.error ?? HANG_UP, this.responseStarted, this.reused);
  }

  onBodyDrain(): void {
    this.body?.resume();
  }

  writeBody(body: IncomingMessage, chunk: Buffer): void {
    if (body !== this.body) return;
    let flushed: boolean;
    if (this.chunkedBody) {
      this.socket.cork();
      this.socket.write(chunk.length.toString(HEX) + CRLF, 'latin1');
      this.socket.write(chunk);
      flushed = this.socket.write(CRLF, 'latin1');
      this.socket.uncork();
    } else flushed = this.socket.write(chunk);
    if (!flushed) body.pause();
  }

  endBody(body: IncomingMessage): void {
    if (body !== this.body) return;
    if (this.chunkedBody) this.socket.write(LAST_CHUNK, 'latin1');
    this.bodyDone = true;
    this.detachBody();
  }

  onData(chunk: Buffer): void {
    if (this.exchange === undefined) {
      // Bytes with no request outstanding: the upstream is out of step; this connection is unusable.
      this.destroy();
      return;
    }
    this.responseStarted = true;
    this.parser.execute(chunk);
  }

  // ---- what the parser reads, called while it runs; not for other callers ----

  onResponseHead(status: number, reason: string, headers: string[]): void {
    this.exchange?.onResponseHead(status, reason, headers);
  }

  onResponseBody(chunk: Buffer): void {
    if (this.exchange?.onResponseData(chunk) === false) this.socket.pause();
  }

  onResponseComplete(last: Buffer | undefined, keepAlive: boolean): void {
    const exchange = this.exchange!;
    this.exchange = undefined;
    this.reused = true;
    // The upstream answered before the whole request body went out: the connection is mid-request.
    const reusable = keepAlive && this.bodyDone;
    if (!this.bodyDone) this.detachBody();
    exchange.onResponseEnd(last);
    if (reusable) this.pool.release(this);
    else this.destroy();
  }

  onMalformedResponse(): void {
    this.fail(BAD_RESPONSE);
  }

  onStrayBytes(): void {
    // More bytes after a complete response (or after a failure): never reuse this connection.
    this.destroy();
  }

  private fail(code: string): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.destroy();
    exchange?.onUpstreamFailure(code, this.responseStarted, this.reused);
  }

  private detachBody(): void {
    const body = this.body;
    if (body === undefined) return;
    this.body = undefined;
    body.off('data', onBodyData);
    body.off('end', onBodyEnd);
    // A body left paused would stall the client's keep-alive connection: let the rest flow away.
    // A retry attaches its listeners in this same tick, before any more data is emitted.
    if (!this.bodyDone) body.resume();
  }
}

// Listeners are allocated once; each finds its connection through CONNECTION_OF on the emitter.

function onSocketConnect(this: net.Socket): void {
  (this as Carrier)[CONNECTION_OF]!.onConnect();
}
function onSocketTimeout(this: net.Socket): void {
  (this as Carrier)[CONNECTION_OF]!.onTimeout();
}
function onSocketData(this: net.Socket, chunk: Buffer): void {
  (this as Carrier)[CONNECTION_OF]!.onData(chunk);
}
function onSocketEnd(this: net.Socket): void {
  (this as Carrier)[CONNECTION_OF]!.onEnd();
}
function onSocketDrain(this: net.Socket): void {
  (this as Carrier)[CONNECTION_OF]!.onBodyDrain();
}
function onSocketError(this: net.Socket, err: NodeJS.ErrnoException): void {
  (this as Carrier)[CONNECTION_OF]!.onError(err);
}
function onSocketClose(this: net.Socket): void {
  (this as Carrier)[CONNECTION_OF]!.onClose();
}
function onBodyData(this: IncomingMessage, chunk: Buffer): void {
  (this as Carrier)[CONNECTION_OF]?.writeBody(this, chunk);
}
function onBodyEnd(this: IncomingMessage): void {
  (this as Carrier)[CONNECTION_OF]?.endBody(this);
}

function monotonicNow(): number {
  return performance.now();
}
