import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseHostPort } from '../../../util/net.js';

/**
 * Idle connections are closed before Node's default 5 s server keep-alive timeout, so a request is
 * never written into a socket the upstream is closing at the same moment.
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4000;
/** Idle connections kept per address; more are closed once their request is done. */
const MAX_IDLE_CONNECTIONS = 128;
/** An address that accepts nothing in this time fails like a refused one. */
const CONNECT_TIMEOUT_MS = 5000;
/** Larger response heads are refused as malformed (Node's own client stops at 16 KB; big cookies need more). */
const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line or trailer line longer than this is malformed. */
const MAX_LINE_BYTES = 4096;
const HEX = 16;
const STATUS_LINE_PREFIX = 'HTTP/1.';
/** `HTTP/1.x SSS`: the status code sits at these offsets. */
const STATUS_START = 9;
const STATUS_END = 12;
const STATUS_NO_CONTENT = 204;
const STATUS_NOT_MODIFIED = 304;
const STATUS_SWITCHING_PROTOCOLS = 101;
const STATUS_INFORMATIONAL_END = 200;
const HEAD_END = Buffer.from('\r\n\r\n');
const HEAD_END_LENGTH = HEAD_END.length;
const CRLF = '\r\n';
const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const LAST_CHUNK = '0\r\n\r\n';

// Failure codes reported besides the socket's own (ECONNREFUSED, ECONNRESET, ...):
/** The upstream closed the connection before the response was complete, without a socket error. */
export const HANG_UP = 'EHANGUP';
/** The connection was not established within CONNECT_TIMEOUT_MS. */
export const CONNECT_TIMEOUT = 'ECONNTIMEOUT';
/** The upstream sent bytes that are not a well-formed HTTP/1.1 response. */
export const BAD_RESPONSE = 'EBADRESPONSE';

/** Parser states of a connection. */
const IDLE = 0;
const HEAD = 1;
const BODY_LENGTH = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_DATA_END = 5;
const CHUNK_TRAILERS = 6;
const BODY_UNTIL_CLOSE = 7;

/** Hop-by-hop response headers, dropped before the response is forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

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
export class UpstreamConnection {
  readonly socket: net.Socket;
  dead = false;
  idleSince = 0;
  private exchange: UpstreamExchange | undefined = undefined;
  private state = IDLE;
  private pending: Buffer | undefined = undefined;
  private remaining = 0;
  private keepAlive = true;
  private headRequest = false;
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
    this.state = HEAD;
    this.pending = undefined;
    this.keepAlive = true;
    this.headRequest = headRequest;
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
    if (this.state === BODY_UNTIL_CLOSE && this.error === undefined) {
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
    let data = chunk;
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    this.parse(data);
  }

  // ---- response parsing ----

  private parse(data: Buffer): void {
    let offset = 0;
    const length = data.length;
    while (offset < length) {
      const exchange = this.exchange;
      if (exchange === undefined) {
        // More bytes after a complete response (or after a failure): never reuse this connection.
        this.destroy();
        return;
      }
      switch (this.state) {
        case HEAD: {
          const end = data.indexOf(HEAD_END, offset);
          if (end < 0) {
            if (length - offset > MAX_HEAD_BYTES) return this.fail(BAD_RESPONSE);
            this.pending = data.subarray(offset);
            return;
          }
          if (end - offset > MAX_HEAD_BYTES) return this.fail(BAD_RESPONSE);
          const head = data.toString('latin1', offset, end);
          offset = end + HEAD_END_LENGTH;
          // A failed head, or an exchange that gave up on the head, leaves nothing to parse for.
          if (!this.parseHead(head, exchange) || this.exchange === undefined) return;
          if (this.awaitsNoBody()) {
            this.complete(undefined);
            if (offset < length) this.destroy();
            return;
          }
          break;
        }
        case BODY_LENGTH: {
          const available = length - offset;
          if (available >= this.remaining) {
            const last = data.subarray(offset, offset + this.remaining);
            offset += this.remaining;
            this.remaining = 0;
            this.complete(last);
            if (offset < length) this.destroy();
            return;
          }
          this.remaining -= available;
          if (!exchange.onResponseData(data.subarray(offset))) this.socket.pause();
          return;
        }
        case CHUNK_SIZE: {
          const lineEnd = data.indexOf(CRLF, offset, 'latin1');
          if (lineEnd < 0) return this.keepPartialLine(data, offset);
          const size = parseChunkSize(data.toString('latin1', offset, lineEnd));
          if (size < 0) return this.fail(BAD_RESPONSE);
          offset = lineEnd + CRLF.length;
          if (size === 0) this.state = CHUNK_TRAILERS;
          else {
            this.remaining = size;
            this.state = CHUNK_DATA;
          }
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, length - offset);
          const piece = data.subarray(offset, offset + take);
          offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = CHUNK_DATA_END;
          if (!exchange.onResponseData(piece)) this.socket.pause();
          break;
        }
        case CHUNK_DATA_END: {
          if (length - offset < CRLF.length) {
            this.pending = data.subarray(offset);
            return;
          }
          if (data[offset] !== CR || data[offset + 1] !== LF) return this.fail(BAD_RESPONSE);
          offset += CRLF.length;
          this.state = CHUNK_SIZE;
          break;
        }
        case CHUNK_TRAILERS: {
          const lineEnd = data.indexOf(CRLF, offset, 'latin1');
          if (lineEnd < 0) return this.keepPartialLine(data, offset);
          const empty = lineEnd === offset;
          // Trailer fields are dropped: the response head is already out.
          offset = lineEnd + CRLF.length;
          if (empty) {
            this.complete(undefined);
            if (offset < length) this.destroy();
            return;
          }
          break;
        }
        case BODY_UNTIL_CLOSE: {
          if (!exchange.onResponseData(offset === 0 ? data : data.subarray(offset))) this.socket.pause();
          return;
        }
        default:
          this.destroy();
          return;
      }
    }
  }

  /** Parses a response head; returns false when it failed the exchange. Skips 1xx interim responses. */
  private parseHead(head: string, exchange: UpstreamExchange): boolean {
    if (!head.startsWith(STATUS_LINE_PREFIX) || head.charCodeAt(STATUS_START - 1) !== SPACE) {
      this.fail(BAD_RESPONSE);
      return false;
    }
    const http10 = head.charCodeAt(STATUS_LINE_PREFIX.length) === '0'.charCodeAt(0);
    const status = parseStatus(head);
    if (status < 0) {
      this.fail(BAD_RESPONSE);
      return false;
    }
    let lineEnd = head.indexOf(CRLF);
    const statusLineEnd = lineEnd < 0 ? head.length : lineEnd;
    const reason = statusLineEnd > STATUS_END ? head.slice(STATUS_END + 1, statusLineEnd) : '';

    const headers: string[] = [];
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    let connection: string | undefined;
    while (lineEnd >= 0) {
      const start = lineEnd + CRLF.length;
      lineEnd = head.indexOf(CRLF, start);
      const line = lineEnd < 0 ? head.slice(start) : head.slice(start, lineEnd);
      const colon = line.indexOf(':');
      const first = line.charCodeAt(0);
      // No name, or an obsolete line folding: refuse rather than guess.
      if (colon <= 0 || first === SPACE || first === TAB) {
        this.fail(BAD_RESPONSE);
        return false;
      }
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      switch (name.length) {
        case 10: {
          const lower = name.toLowerCase();
          if (lower === 'connection') {
            connection = connection === undefined ? value : `${connection}, ${value}`;
            continue;
          }
          if (lower === 'keep-alive') continue;
          break;
        }
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (contentLength !== undefined && contentLength !== value) {
              this.fail(BAD_RESPONSE);
              return false;
            }
            if (contentLength !== undefined) continue;
            contentLength = value;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
            continue;
          }
          break;
        case 2:
        case 7:
        case 16:
          if (HOP_BY_HOP.has(name.toLowerCase())) continue;
          break;
      }
      headers.push(name, value);
    }

    if (status < STATUS_INFORMATIONAL_END) {
      if (status === STATUS_SWITCHING_PROTOCOLS) {
        // The proxy never asks for an upgrade, so an upstream that switches protocols is broken.
        this.fail(BAD_RESPONSE);
        return false;
      }
      return true; // interim response (100, 103): wait for the final one
    }

    if (connection !== undefined) {
      const tokens = connection.toLowerCase();
      if (tokens.includes('close')) this.keepAlive = false;
      if (tokens !== 'keep-alive' && tokens !== 'close') dropListed(headers, tokens);
    }
    if (http10 && !(connection ?? '').toLowerCase().includes('keep-alive')) this.keepAlive = false;

    if (this.headRequest || status === STATUS_NO_CONTENT || status === STATUS_NOT_MODIFIED) {
      this.state = IDLE;
    } else if (transferEncoding !== undefined) {
      if (contentLength !== undefined) removeHeader(headers, 'content-length');
      if (/(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) this.state = CHUNK_SIZE;
      else {
        this.state = BODY_UNTIL_CLOSE;
        this.keepAlive = false;
      }
    } else if (contentLength !== undefined) {
      if (!/^\d{1,15}$/.test(contentLength)) {
        this.fail(BAD_RESPONSE);
        return false;
      }
      this.remaining = Number(contentLength);
      this.state = this.remaining === 0 ? IDLE : BODY_LENGTH;
    } else {
      this.state = BODY_UNTIL_CLOSE;
      this.keepAlive = false;
    }
    exchange.onResponseHead(status, reason, headers);
    return true;
  }

  /** After a head: true when the response has no body (the switch narrowing cannot see parseHead's update). */
  private awaitsNoBody(): boolean {
    return this.state === IDLE;
  }

  private keepPartialLine(data: Buffer, offset: number): void {
    if (data.length - offset > MAX_LINE_BYTES) return this.fail(BAD_RESPONSE);
    this.pending = data.subarray(offset);
  }

  private complete(last: Buffer | undefined): void {
    const exchange = this.exchange!;
    this.exchange = undefined;
    this.state = IDLE;
    this.reused = true;
    // The upstream answered before the whole request body went out: the connection is mid-request.
    const reusable = this.keepAlive && this.bodyDone;
    if (!this.bodyDone) this.detachBody();
    exchange.onResponseEnd(last);
    if (reusable) this.pool.release(this);
    else this.destroy();
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

/** The three-digit status of `HTTP/1.x SSS ...`, or -1. */
function parseStatus(head: string): number {
  let status = 0;
  for (let i = STATUS_START; i < STATUS_END; i++) {
    const digit = head.charCodeAt(i) - '0'.charCodeAt(0);
    if (digit < 0 || digit > 9) return -1;
    status = status * 10 + digit;
  }
  const after = head.charCodeAt(STATUS_END);
  return Number.isNaN(after) || after === SPACE || after === CR ? status : -1;
}

/** The size on a chunk-size line (extensions after `;` ignored), or -1 when malformed. */
function parseChunkSize(line: string): number {
  const semicolon = line.indexOf(';');
  const digits = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
  if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) return -1;
  return parseInt(digits, HEX);
}

function dropListed(headers: string[], tokens: string): void {
  const listed = new Set(tokens.split(',').map((token) => token.trim()));
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (listed.has(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}

function removeHeader(headers: string[], lowerName: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i]!.toLowerCase() === lowerName) headers.splice(i, 2);
  }
}
