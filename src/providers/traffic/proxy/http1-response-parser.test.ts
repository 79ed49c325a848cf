import { describe, expect, it } from 'vitest';
import {
  Http1ResponseParser,
  MAX_HEAD_BYTES,
  MAX_LINE_BYTES,
  type Http1ResponseHandler,
} from './http1-response-parser.js';

/** What a parser reported for one response, as a test reads it. */
interface Parsed {
  status?: number;
  reason?: string;
  headers?: string[];
  body: string;
  /** Set once the response completed: whether the connection may carry another request. */
  keepAlive?: boolean;
  malformed: boolean;
  stray: boolean;
  /** Calls in order: head, body, complete, malformed, stray. */
  calls: string[];
}

/** A handler that writes down every call; `onHead` lets a test act while the head is handed on. */
class Recorder implements Http1ResponseHandler {
  parsed: Parsed = { body: '', malformed: false, stray: false, calls: [] };
  onHead: (() => void) | undefined = undefined;

  onResponseHead(status: number, reason: string, headers: string[]): void {
    Object.assign(this.parsed, { status, reason, headers });
    this.parsed.calls.push('head');
    this.onHead?.();
  }
  onResponseBody(chunk: Buffer): void {
    this.parsed.body += chunk.toString('latin1');
    this.parsed.calls.push('body');
  }
  onResponseComplete(last: Buffer | undefined, keepAlive: boolean): void {
    if (last !== undefined) this.parsed.body += last.toString('latin1');
    this.parsed.keepAlive = keepAlive;
    this.parsed.calls.push('complete');
  }
  onMalformedResponse(): void {
    this.parsed.malformed = true;
    this.parsed.calls.push('malformed');
  }
  onStrayBytes(): void {
    this.parsed.stray = true;
    this.parsed.calls.push('stray');
  }
}

/** Feeds `pieces` to a fresh parser expecting one response, as separate socket reads. */
function parse(pieces: readonly string[], options: { head?: boolean } = {}): Parsed {
  const recorder = new Recorder();
  const parser = new Http1ResponseParser(recorder);
  parser.expect(options.head ?? false);
  for (const piece of pieces) parser.execute(Buffer.from(piece, 'latin1'));
  return recorder.parsed;
}

/** Every way to cut `bytes` into two reads, and one read per byte. */
function splits(bytes: string): string[][] {
  const cuts = [...Array(bytes.length + 1).keys()].map((at) => [bytes.slice(0, at), bytes.slice(at)]);
  return [...cuts, [...bytes]];
}

const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n' +
  '5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Checksum: abc\r\n\r\n';

describe('Http1ResponseParser: framing', () => {
  it('reads a Content-Length body, however the bytes are split', () => {
    const response = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world';
    for (const pieces of splits(response)) {
      const parsed = parse(pieces);
      expect(parsed, JSON.stringify(pieces)).toMatchObject({
        status: 200,
        reason: 'OK',
        headers: ['Content-Length', '11', 'Content-Type', 'text/plain'],
        body: 'hello world',
        keepAlive: true,
        malformed: false,
        stray: false,
      });
      expect(parsed.calls.at(-1)).toBe('complete');
    }
  });

  it('de-chunks a chunked body, ignoring chunk extensions and trailers, however the bytes are split', () => {
    for (const pieces of splits(CHUNKED)) {
      expect(parse(pieces), JSON.stringify(pieces)).toMatchObject({
        status: 200,
        headers: ['Content-Type', 'text/plain'],
        body: 'hello, world',
        keepAlive: true,
        malformed: false,
        stray: false,
      });
    }
  });

  it('lets chunked win over a Content-Length, which it drops', () => {
    const parsed = parse([
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    ]);
    expect(parsed).toMatchObject({ headers: [], body: 'ok', keepAlive: true });
  });

  it('reads a body without length, or with another transfer coding, until the connection closes', () => {
    const recorder = new Recorder();
    const parser = new Http1ResponseParser(recorder);
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome', 'latin1'));
    parser.execute(Buffer.from(' more', 'latin1'));
    expect(parser.readsUntilClose).toBe(true);
    expect(recorder.parsed).toMatchObject({
      status: 200,
      body: 'some more',
      calls: ['head', 'body', 'body'],
    });

    const gzip = new Http1ResponseParser(new Recorder());
    gzip.expect(false);
    gzip.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b', 'latin1'));
    expect(gzip.readsUntilClose).toBe(true);
  });

  it('completes at the head for HEAD, 204, 304 and a zero Content-Length', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'], { head: true })).toMatchObject({
      status: 200,
      headers: ['Content-Length', '10'],
      body: '',
      calls: ['head', 'complete'],
    });
    for (const head of [
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    ]) {
      expect(parse([head]), head).toMatchObject({ body: '', keepAlive: true, calls: ['head', 'complete'] });
    }
  });

  it('skips interim 1xx responses and reads the final one', () => {
    const parsed = parse([
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n',
      'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    ]);
    expect(parsed).toMatchObject({ status: 201, reason: 'Created', body: 'ok', calls: ['head', 'complete'] });
  });

  it('reads a status line without a reason phrase', () => {
    expect(parse(['HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'])).toMatchObject({ status: 200, reason: '' });
  });
});

describe('Http1ResponseParser: keep-alive', () => {
  it('keeps an HTTP/1.1 connection unless the upstream says close', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']).keepAlive).toBe(true);
    expect(parse(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'])).toMatchObject({
      headers: ['Content-Length', '0'],
      keepAlive: false,
    });
  });

  it('keeps an HTTP/1.0 connection only when the upstream says keep-alive', () => {
    expect(parse(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']).keepAlive).toBe(false);
    expect(
      parse([
        'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n',
      ]),
    ).toMatchObject({ headers: ['Content-Length', '0'], keepAlive: true });
  });

  it('drops hop-by-hop headers and the ones Connection names', () => {
    const parsed = parse([
      'HTTP/1.1 200 OK\r\nConnection: X-Hop, close\r\nX-Hop: 1\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
        'Trailer: X-Checksum\r\nProxy-Connection: keep-alive\r\nX-End: 2\r\nContent-Length: 0\r\n\r\n',
    ]);
    expect(parsed).toMatchObject({ headers: ['X-End', '2', 'Content-Length', '0'], keepAlive: false });
  });

  it('reads the next response on the same connection after expect()', () => {
    const recorder = new Recorder();
    const parser = new Http1ResponseParser(recorder);
    for (const body of ['one', 'two']) {
      recorder.parsed = { body: '', malformed: false, stray: false, calls: [] };
      parser.expect(false);
      parser.execute(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n${body}`, 'latin1'));
      expect(recorder.parsed).toMatchObject({ body, keepAlive: true, calls: ['head', 'complete'] });
    }
  });
});

describe('Http1ResponseParser: malformed and stray bytes', () => {
  const malformed = {
    'a status line that is not HTTP/1.x': 'HTTP/2 200 OK\r\n\r\n',
    'a status that is not three digits': 'HTTP/1.1 2000 OK\r\n\r\n',
    'a letter in the status': 'HTTP/1.1 2x0 OK\r\n\r\n',
    'a header line without a name': 'HTTP/1.1 200 OK\r\n: value\r\n\r\n',
    'a header line without a colon': 'HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n',
    'an obsolete folded header line': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n',
    'conflicting content lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'a content length that is not a number': 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    'a switch of protocols the proxy never asked for': 'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    'a chunk size that is not hex': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'chunk data longer than its size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n',
  };
  for (const [what, response] of Object.entries(malformed)) {
    it(`refuses ${what}`, () => {
      expect(parse([response]).malformed).toBe(true);
    });
  }

  it('accepts a repeated content length that agrees with itself', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok'])).toMatchObject({
      headers: ['Content-Length', '2'],
      body: 'ok',
      malformed: false,
    });
  });

  it('refuses a head or a chunk line larger than its limit, without waiting for the end', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    expect(parse([big])).toMatchObject({ malformed: true, calls: ['malformed'] });
    const longLine = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(MAX_LINE_BYTES)}`;
    expect(parse([longLine])).toMatchObject({ malformed: true, calls: ['head', 'malformed'] });
  });

  it('reports bytes after a complete response as stray, after completing it', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA'])).toMatchObject({
      body: 'ok',
      calls: ['head', 'complete', 'stray'],
    });
    expect(parse([`${CHUNKED}HTTP/1.1 200 OK\r\n`]).calls.slice(-2)).toEqual(['complete', 'stray']);
    expect(parse(['HTTP/1.1 204 No Content\r\n\r\n', 'late'])).toMatchObject({
      calls: ['head', 'complete', 'stray'],
    });
  });

  it('stops reading when told to while the head is handed on: no completion, later bytes are stray', () => {
    const recorder = new Recorder();
    const parser = new Http1ResponseParser(recorder);
    recorder.onHead = () => parser.stop();
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody', 'latin1'));
    expect(recorder.parsed.calls).toEqual(['head']);
    parser.execute(Buffer.from('more', 'latin1'));
    expect(recorder.parsed.calls).toEqual(['head', 'stray']);
  });
});
