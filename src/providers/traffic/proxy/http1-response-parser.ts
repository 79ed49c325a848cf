/**
 * The HTTP/1.1 response parser of the upstream pool (decision 003): reads a response from bytes as
 * they arrive on a keep-alive connection and reports its head, its (de-chunked) body and its end.
 * Framing: Content-Length, chunked with trailers, until close, no body for HEAD/204/304, 1xx interim
 * responses skipped; anything else is malformed. It reads responses from the user's own instances,
 * on the proxy's hot path, so it works on the socket's buffers without copying where it can.
 */

/** Larger response heads are refused as malformed (Node's own client stops at 16 KB; big cookies need more). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line or trailer line longer than this is malformed. */
export const MAX_LINE_BYTES = 4096;
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

/** Parser states. */
const IDLE = 0;
const HEAD = 1;
const BODY_LENGTH = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_DATA_END = 5;
const CHUNK_TRAILERS = 6;
const BODY_UNTIL_CLOSE = 7;
/** The head was read and the response has no body: it completes once the handler has the head. */
const NO_BODY = 8;

/** Hop-by-hop response headers, dropped from the head handed on (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/** Receives what the parser reads from one response. */
export interface Http1ResponseHandler {
  /** The final response head; `headers` is a flat name/value list without hop-by-hop headers. */
  onResponseHead(status: number, reason: string, headers: string[]): void;
  /** A piece of the (de-chunked) body; it may be a view of the socket's buffer. */
  onResponseBody(chunk: Buffer): void;
  /**
   * The response is complete. `last` is its final body piece when it arrived with the end;
   * `keepAlive` tells whether the connection may carry another request.
   */
  onResponseComplete(last: Buffer | undefined, keepAlive: boolean): void;
  /** The bytes are not a well-formed HTTP/1.1 response; the connection is unusable. */
  onMalformedResponse(): void;
  /** Bytes arrived after the response completed or was stopped; the connection is out of step. */
  onStrayBytes(): void;
}

/** Parses the responses on one connection, one at a time; `expect()` starts each one. */
export class Http1ResponseParser {
  private state = IDLE;
  /** Bytes of an incomplete head or line, kept until the rest arrives. */
  private pending: Buffer | undefined = undefined;
  /** Body bytes left: of the Content-Length body, or of the current chunk. */
  private remaining = 0;
  private keepAlive = true;
  private headRequest = false;

  constructor(private readonly handler: Http1ResponseHandler) {}

  /** Starts reading a response. The response to a HEAD request has no body, whatever its head says. */
  expect(headRequest: boolean): void {
    this.state = HEAD;
    this.pending = undefined;
    this.keepAlive = true;
    this.headRequest = headRequest;
  }

  /** Stops reading the current response (its reader went away): any later byte is stray. */
  stop(): void {
    this.state = IDLE;
  }

  /** True while the body runs until the connection closes: a clean close then completes the response. */
  get readsUntilClose(): boolean {
    return this.state === BODY_UNTIL_CLOSE;
  }

  /** Reads bytes as they arrive; a handler call may stop() the parser, which ends this read. */
  execute(chunk: Buffer): void {
    let data = chunk;
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    const handler = this.handler;
    let offset = 0;
    const length = data.length;
    while (offset < length) {
      switch (this.state) {
        case HEAD: {
          const end = data.indexOf(HEAD_END, offset);
          if (end < 0) {
            if (length - offset > MAX_HEAD_BYTES) return this.malformed();
            this.pending = data.subarray(offset);
            return;
          }
          if (end - offset > MAX_HEAD_BYTES) return this.malformed();
          const head = data.toString('latin1', offset, end);
          offset = end + HEAD_END_LENGTH;
          if (!this.parseHead(head)) return this.malformed();
          const next = this.stateAfterHandler();
          // A handler that gave up on the response while taking its head leaves nothing to parse for.
          if (next === IDLE) return;
          if (next === NO_BODY) {
            this.complete(undefined);
            if (offset < length) handler.onStrayBytes();
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
            if (offset < length) handler.onStrayBytes();
            return;
          }
          this.remaining -= available;
          handler.onResponseBody(data.subarray(offset));
          return;
        }
        case CHUNK_SIZE: {
          const lineEnd = data.indexOf(CRLF, offset, 'latin1');
          if (lineEnd < 0) return this.keepPartialLine(data, offset);
          const size = parseChunkSize(data.toString('latin1', offset, lineEnd));
          if (size < 0) return this.malformed();
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
          handler.onResponseBody(piece);
          break;
        }
        case CHUNK_DATA_END: {
          if (length - offset < CRLF.length) {
            this.pending = data.subarray(offset);
            return;
          }
          if (data[offset] !== CR || data[offset + 1] !== LF) return this.malformed();
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
            if (offset < length) handler.onStrayBytes();
            return;
          }
          break;
        }
        case BODY_UNTIL_CLOSE: {
          handler.onResponseBody(offset === 0 ? data : data.subarray(offset));
          return;
        }
        default:
          // No response expected (none started, or it completed, failed or was stopped).
          handler.onStrayBytes();
          return;
      }
    }
  }

  /**
   * Reads a response head and hands a final one to the handler, having set the state for its body;
   * an interim 1xx head leaves the state at HEAD. Returns false when the head is malformed.
   */
  private parseHead(head: string): boolean {
    if (!head.startsWith(STATUS_LINE_PREFIX) || head.charCodeAt(STATUS_START - 1) !== SPACE) return false;
    const http10 = head.charCodeAt(STATUS_LINE_PREFIX.length) === '0'.charCodeAt(0);
    const status = parseStatus(head);
    if (status < 0) return false;
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
      if (colon <= 0 || first === SPACE || first === TAB) return false;
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      // Only names as long as a header of interest are lowercased and compared; most skip both.
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
            if (contentLength !== undefined && contentLength !== value) return false;
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
      // Pooled requests never ask for an upgrade (upgrades take upgrade-tunnel.ts, which reads the 101
      // itself), so an upstream that switches protocols here is broken.
      if (status === STATUS_SWITCHING_PROTOCOLS) return false;
      return true; // interim response (100, 103): wait for the final one
    }

    if (connection !== undefined) {
      const tokens = connection.toLowerCase();
      if (tokens.includes('close')) this.keepAlive = false;
      if (tokens !== 'keep-alive' && tokens !== 'close') dropListed(headers, tokens);
    }
    if (http10 && !(connection ?? '').toLowerCase().includes('keep-alive')) this.keepAlive = false;

    if (this.headRequest || status === STATUS_NO_CONTENT || status === STATUS_NOT_MODIFIED) {
      this.state = NO_BODY;
    } else if (transferEncoding !== undefined) {
      if (contentLength !== undefined) removeHeader(headers, 'content-length');
      if (/(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) this.state = CHUNK_SIZE;
      else {
        this.state = BODY_UNTIL_CLOSE;
        this.keepAlive = false;
      }
    } else if (contentLength !== undefined) {
      if (!/^\d{1,15}$/.test(contentLength)) return false;
      this.remaining = Number(contentLength);
      this.state = this.remaining === 0 ? NO_BODY : BODY_LENGTH;
    } else {
      this.state = BODY_UNTIL_CLOSE;
      this.keepAlive = false;
    }
    this.handler.onResponseHead(status, reason, headers);
    return true;
  }

  /** The state after a handler call, which may have stopped the parser (the switch narrowing cannot see that). */
  private stateAfterHandler(): number {
    return this.state;
  }

  private keepPartialLine(data: Buffer, offset: number): void {
    if (data.length - offset > MAX_LINE_BYTES) return this.malformed();
    this.pending = data.subarray(offset);
  }

  private complete(last: Buffer | undefined): void {
    this.state = IDLE;
    this.handler.onResponseComplete(last, this.keepAlive);
  }

  private malformed(): void {
    this.state = IDLE;
    this.handler.onMalformedResponse();
  }
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
