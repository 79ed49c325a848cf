/**
 * The request head the built-in proxy sends upstream, rewritten from the client's: hop-by-hop
 * headers dropped (kept for an Upgrade), the force token never forwarded, the version header held
 * back until ForceGuard has allowed it, and X-Forwarded-For/-Host/-Proto added. The proxy's own
 * header names live here too. Shared by plain
 * requests (dispatcher.ts) and upgrades (upgrade-tunnel.ts); it runs on every request.
 */
import type { IncomingMessage } from 'node:http';
import { SYNTHETIC_HEADER } from '../../../analysis/synthetic-load.js';
import { FORCE_TOKEN_HEADER } from './force-guard.js';

/** Request header that forces the choice of version, `canary` or `stable`, when ForceGuard allows it. */
export const VERSION_HEADER = 'X-Shipcheck-Version';
/** Response header naming the version that served the request. */
export const SERVED_BY_HEADER = 'X-Shipcheck-Served-By';

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
const FORCE_TOKEN = 10;
const SYNTHETIC = 11;
const UPGRADE = 12;

const REQUEST_HEADER_KINDS = new Map<string, number>([
  ['te', DROP],
  ['upgrade', UPGRADE],
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
  [FORCE_TOKEN_HEADER.toLowerCase(), FORCE_TOKEN],
  [SYNTHETIC_HEADER.toLowerCase(), SYNTHETIC],
]);

/** Connection header values that name no other header to remove. */
const PLAIN_CONNECTION_VALUES = new Set(['keep-alive', 'close']);

/** What the proxy read from a client's request head, and the header lines for the upstream so far. */
export class RequestHead {
  /** Header lines for the upstream, each ending in CRLF; completed by `upstreamHead()`. */
  lines = '';
  /** The version header's value as sent, before ForceGuard decides on it. */
  wanted: string | undefined = undefined;
  /** The force token the request shows, if any. */
  shownToken: string | undefined = undefined;
  /** The request carries `X-Shipcheck-Synthetic: 1`. */
  synthetic = false;
  hasBody = false;
  chunked = false;
  /** The Content-Length, or 0. */
  bodyLength = 0;
  /** The Upgrade header's value, kept only when reading an upgrade. */
  upgrade: string | undefined = undefined;
  host: string | undefined = undefined;
  forwardedFor: string | undefined = undefined;
  forwardedHost = false;
  forwardedProto = false;

  /** Forwards the version header: call it once ForceGuard has allowed the request to force. */
  keepVersion(): void {
    this.lines += `${VERSION_HEADER}: ${this.wanted ?? ''}\r\n`;
  }
}

/**
 * Reads a client's request head. With `upgrade`, the Upgrade header is kept (and sent with
 * `Connection: Upgrade` by upstreamHead); otherwise it is dropped as hop-by-hop.
 */
export function readRequestHead(raw: string[], upgrade: boolean): RequestHead {
  const head = new RequestHead();
  let lines = '';
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
        head.host = value;
        lines += `${name}: ${value}\r\n`;
        break;
      case CONTENT_LENGTH:
        if (value !== '0') {
          head.hasBody = true;
          if (/^\d{1,15}$/.test(value)) head.bodyLength = Number(value);
        }
        lines += `${name}: ${value}\r\n`;
        break;
      case TRANSFER_ENCODING:
        head.hasBody = true;
        head.chunked = true;
        lines += `${name}: ${value}\r\n`;
        break;
      case CONNECTION:
        if (!PLAIN_CONNECTION_VALUES.has(value.toLowerCase())) connectionTokens = value;
        break;
      case FORWARDED_FOR:
        head.forwardedFor = head.forwardedFor === undefined ? value : `${head.forwardedFor}, ${value}`;
        break;
      case FORWARDED_HOST:
        head.forwardedHost = true;
        lines += `${name}: ${value}\r\n`;
        break;
      case FORWARDED_PROTO:
        head.forwardedProto = true;
        lines += `${name}: ${value}\r\n`;
        break;
      case VERSION:
        // Forwarded only when honoured (keepVersion).
        head.wanted = value;
        break;
      case FORCE_TOKEN:
        // A secret: never forwarded.
        head.shownToken = value;
        break;
      case SYNTHETIC:
        head.synthetic = value === '1';
        lines += `${name}: ${value}\r\n`;
        break;
      case UPGRADE:
        if (upgrade) head.upgrade = value;
        break;
      default: // DROP
    }
  }
  head.lines = connectionTokens === undefined ? lines : withoutListedHeaders(lines, connectionTokens);
  return head;
}

/** The whole head for the upstream at `address`: request line, the lines, Host fallback and X-Forwarded-*. */
export function upstreamHead(req: IncomingMessage, head: RequestHead, address: string): string {
  let lines = head.lines;
  if (head.host === undefined) lines += `Host: ${address}\r\n`;
  else if (!head.forwardedHost) lines += `X-Forwarded-Host: ${head.host}\r\n`;
  const client = req.socket.remoteAddress ?? 'unknown';
  const forwardedFor = head.forwardedFor;
  lines += `X-Forwarded-For: ${forwardedFor === undefined ? client : `${forwardedFor}, ${client}`}\r\n`;
  if (!head.forwardedProto) lines += 'X-Forwarded-Proto: http\r\n';
  if (head.upgrade !== undefined) lines += `Connection: Upgrade\r\nUpgrade: ${head.upgrade}\r\n`;
  return `${req.method} ${req.url} HTTP/1.1\r\n${lines}\r\n`;
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
    case 21:
    case 23:
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
