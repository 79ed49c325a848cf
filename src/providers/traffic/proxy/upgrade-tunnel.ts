/**
 * One client connection that asked for an `Upgrade` (a WebSocket, say), joined to one upstream
 * instance on a fresh TCP connection of its own, never a pooled one: it sends the request head (and
 * a Content-Length body), reads the answer, and on `101 Switching Protocols` pipes both sockets until
 * either side closes. Any other answer is relayed to the client with `Connection: close`, and both
 * sockets are closed, so no byte the client sent past its request reaches the upstream unrouted.
 * Which instance, retries, metrics and draining are the dispatcher's (dispatcher.ts).
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseHostPort } from '../../../util/net.js';
import { Http1ResponseParser, MAX_HEAD_BYTES, type Http1ResponseHandler } from './http1-response-parser.js';
import { SERVED_BY_HEADER } from './request-head.js';
import { BAD_RESPONSE, CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS, HANG_UP } from './upstream-pool.js';

const STATUS_SWITCHING_PROTOCOLS = 101;
const STATUS_INFORMATIONAL_END = 200;
const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE_PREFIX = 'HTTP/1.';
/** `HTTP/1.x SSS`: the status code sits at these offsets. */
const STATUS_START = 9;
const STATUS_END = 12;
const STATUS_BAD_GATEWAY = 502;
const BAD_GATEWAY_BODY = 'bad gateway: upstream failed\n';

/** Tunnel states, in order. */
const IDLE = 0;
const CONNECTING = 1;
/** The request went out; the answer has not. */
const AWAITING = 2;
/** 101 arrived: the sockets are piped. */
const OPEN = 3;
/** Another answer arrived: it is being relayed, then both close. */
const RELAYING = 4;
const CLOSED = 5;

/** What happens to a tunnel, told to its owner. */
export interface TunnelEvents {
  /** The upstream was not reached and nothing was sent: `connect()` elsewhere or `reject()`. */
  onConnectFailure(code: string): void;
  /** The upstream's final answer: 101 (the sockets are now piped) or a status being relayed. At most once. */
  onAnswer(status: number): void;
  /** The upstream failed after the request went out and before a whole answer head: the client gets 502. */
  onFailure(code: string): void;
  /** The tunnel is over; exactly once, after any of the above. */
  onClose(): void;
}

/** A client connection that asked for an upgrade, and the upstream connection it is joined to. */
export class UpgradeTunnel implements Http1ResponseHandler {
  private state = IDLE;
  private upstream: net.Socket | undefined = undefined;
  private error: string | undefined = undefined;
  private pending: Buffer | undefined = undefined;
  private answered = false;
  private parser: Http1ResponseParser | undefined = undefined;
  /** Request body bytes (Content-Length) still to forward before the answer. */
  private bodyLeft: number;
  private head = '';

  /**
   * `client` is the socket Node's 'upgrade' event gave, `clientHead` the bytes it read past the
   * request head; `bodyLength` the request's Content-Length; `servedBy` the version, for the answer.
   */
  constructor(
    private readonly client: Duplex,
    private readonly clientHead: Buffer,
    private readonly bodyLength: number,
    private readonly headRequest: boolean,
    private readonly servedBy: string,
    private readonly events: TunnelEvents,
  ) {
    this.bodyLeft = bodyLength;
    // Nothing the client sends is read until the upstream has switched protocols (or a body is due).
    client.pause();
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
  }

  /** Opens a connection to `address` and sends `head` (the rewritten request head) once it is up. */
  connect(address: string, head: string): void {
    if (this.state === CLOSED) return;
    this.state = CONNECTING;
    this.head = head;
    this.error = undefined;
    const { host, port } = parseHostPort(address);
    const upstream = net.connect({ host, port, noDelay: true });
    upstream.setTimeout(CONNECT_TIMEOUT_MS);
    upstream.on('connect', this.onUpstreamConnect);
    upstream.on('timeout', this.onUpstreamTimeout);
    upstream.on('data', this.onUpstreamData);
    upstream.on('error', this.onUpstreamError);
    upstream.on('close', this.onUpstreamClose);
    this.upstream = upstream;
  }

  /** Answers the client `status` with a short text body and closes; nothing reached an upstream. */
  reject(status: number, body: string): void {
    if (this.state === CLOSED) return;
    this.upstream?.destroy();
    answerRaw(this.client, status, body, this.servedBy);
    this.finish();
  }

  /** Closes both sockets at once (a drain timed out, or the proxy is closing). */
  close(): void {
    if (this.state === CLOSED) return;
    this.upstream?.destroy();
    this.client.destroy();
    this.finish();
  }

  // ---- upstream events ----

  private readonly onUpstreamConnect = (): void => {
    const upstream = this.upstream!;
    upstream.setTimeout(0);
    this.state = AWAITING;
    upstream.write(this.head, 'latin1');
    if (this.bodyLength === 0) return;
    const inHead = Math.min(this.bodyLength, this.clientHead.length);
    if (inHead > 0) upstream.write(this.clientHead.subarray(0, inHead));
    this.bodyLeft = this.bodyLength - inHead;
    if (this.bodyLeft > 0) {
      this.client.on('data', this.onClientBody);
      this.client.resume();
    }
  };

  private readonly onUpstreamTimeout = (): void => {
    // Only the connect phase has a timeout; afterwards a quiet tunnel is a healthy one.
    if (this.state !== CONNECTING) return;
    this.error = CONNECT_TIMEOUT;
    this.upstream?.destroy();
  };

  private readonly onUpstreamError = (err: NodeJS.ErrnoException): void => {
    this.error ??= err.code ?? HANG_UP;
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (this.state === RELAYING) {
      this.parser!.execute(chunk);
      return;
    }
    if (this.state !== AWAITING) return;
    let data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    for (;;) {
      const end = data.indexOf(HEAD_END);
      if (end < 0) {
        if (data.length > MAX_HEAD_BYTES) this.failAwaiting(BAD_RESPONSE);
        else this.pending = data;
        return;
      }
      const status = parseStatus(data);
      if (status < 0) return this.failAwaiting(BAD_RESPONSE);
      if (status === STATUS_SWITCHING_PROTOCOLS) return this.open(data, end);
      if (status >= STATUS_INFORMATIONAL_END) return this.relay(data);
      // An interim answer (100, 103): skip it and wait for the final one.
      data = data.subarray(end + HEAD_END.length);
      if (data.length === 0) return;
    }
  };

  private readonly onUpstreamClose = (): void => {
    const state = this.state;
    if (state === CLOSED) return;
    this.upstream = undefined;
    if (state === CONNECTING) {
      // Nothing was sent: the owner may try another instance.
      this.events.onConnectFailure(this.error ?? HANG_UP);
      return;
    }
    if (state === AWAITING) return this.failAwaiting(this.error ?? HANG_UP);
    if (state === RELAYING && this.parser?.readsUntilClose === true && this.error === undefined) {
      endThenDestroy(this.client);
    } else if (state === OPEN) endThenDestroy(this.client);
    else this.client.destroy();
    this.finish();
  };

  // ---- client events ----

  private readonly onClientBody = (chunk: Buffer): void => {
    const take = Math.min(this.bodyLeft, chunk.length);
    this.upstream?.write(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.bodyLeft -= take;
    if (this.bodyLeft > 0) return;
    this.client.off('data', this.onClientBody);
    this.client.pause();
    // Bytes past the body wait for the upgrade, like the rest of the connection.
    if (take < chunk.length) this.client.unshift(chunk.subarray(take));
  };

  private readonly onClientError = (): void => {
    // 'close' follows; the client is gone either way.
  };

  private readonly onClientClose = (): void => {
    if (this.state === CLOSED) return;
    this.upstream?.destroy();
    this.finish();
  };

  // ---- answers ----

  /** 101: hands the answer (and whatever followed it) to the client, then joins the sockets. */
  private open(data: Buffer, end: number): void {
    const upstream = this.upstream!;
    this.state = OPEN;
    this.answered = true;
    this.events.onAnswer(STATUS_SWITCHING_PROTOCOLS);
    const head = `${data.toString('latin1', 0, end)}\r\n${SERVED_BY_HEADER}: ${this.servedBy}\r\n\r\n`;
    this.client.write(head, 'latin1');
    const rest = data.subarray(end + HEAD_END.length);
    if (rest.length > 0) this.client.write(rest);
    const held = this.clientHead.subarray(Math.min(this.bodyLength, this.clientHead.length));
    if (held.length > 0) upstream.write(held);
    upstream.off('data', this.onUpstreamData);
    upstream.pipe(this.client);
    this.client.pipe(upstream);
  }

  /** Any other final answer: read with the response parser and relayed, then both close. */
  private relay(data: Buffer): void {
    this.state = RELAYING;
    this.parser = new Http1ResponseParser(this);
    this.parser.expect(this.headRequest);
    this.parser.execute(data);
  }

  private failAwaiting(code: string): void {
    this.events.onFailure(code);
    this.upstream?.destroy();
    answerRaw(this.client, STATUS_BAD_GATEWAY, BAD_GATEWAY_BODY, this.servedBy);
    this.finish();
  }

  private finish(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.events.onClose();
  }

  // ---- what the parser reads while relaying a non-101 answer; not for other callers ----

  onResponseHead(status: number, reason: string, headers: string[]): void {
    this.answered = true;
    this.events.onAnswer(status);
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    head += `${SERVED_BY_HEADER}: ${this.servedBy}\r\nConnection: close\r\n\r\n`;
    this.client.write(head, 'latin1');
  }

  onResponseBody(chunk: Buffer): void {
    if (this.client.write(chunk)) return;
    // The client reads slower than the upstream writes: hold the upstream until it drains.
    const upstream = this.upstream;
    if (upstream === undefined) return;
    upstream.pause();
    this.client.once('drain', () => upstream.resume());
  }

  onResponseComplete(last: Buffer | undefined): void {
    if (last !== undefined && last.length > 0) this.client.write(last);
    this.upstream?.destroy();
    endThenDestroy(this.client);
    this.finish();
  }

  onMalformedResponse(): void {
    if (!this.answered) return this.failAwaiting(BAD_RESPONSE);
    this.upstream?.destroy();
    this.client.destroy();
    this.finish();
  }

  onStrayBytes(): void {
    // Both sockets close after this answer anyway.
  }
}

/**
 * Answers a client connection that asked for an upgrade with `status` and a short text body, then
 * closes it; `servedBy` names the version when one was chosen.
 */
export function answerRaw(client: Duplex, status: number, body: string, servedBy: string | undefined): void {
  const head =
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n${servedBy === undefined ? '' : `${SERVED_BY_HEADER}: ${servedBy}\r\n`}\r\n`;
  client.write(head + body, 'latin1');
  endThenDestroy(client);
}

/** The three-digit status of a buffer starting `HTTP/1.x SSS`, or -1. */
function parseStatus(data: Buffer): number {
  if (data.toString('latin1', 0, STATUS_LINE_PREFIX.length) !== STATUS_LINE_PREFIX) return -1;
  const text = data.toString('latin1', STATUS_START, STATUS_END);
  return /^\d{3}$/.test(text) ? Number(text) : -1;
}

/** Ends the socket and destroys it once its last bytes are handed to the OS, so a silent peer cannot hold it open. */
function endThenDestroy(socket: Duplex): void {
  if (socket.destroyed) return;
  socket.end();
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}
