import { describe, expect, it } from 'vitest';
import { describeLineProblem, parseAccessLogLine, type ParsedLine } from './access-log-line.js';

/** The entry of a line that must be a request, or a failed expectation saying what it was instead. */
function entryOf(line: string): { status: number; upstreamAddr: string; latencyMs: number } {
  const parsed = parseAccessLogLine(line);
  if (parsed.kind !== 'request') expect.fail(`expected a request, got ${JSON.stringify(parsed)}`);
  return parsed.entry;
}

function problemOf(line: string): string {
  const parsed: ParsedLine = parseAccessLogLine(line);
  if (parsed.kind !== 'unusable') expect.fail(`expected an unusable line, got ${JSON.stringify(parsed)}`);
  return describeLineProblem(parsed.problem);
}

// Every line below is copied from what nginx 1.22 wrote for the format named in its test.
describe('parseAccessLogLine', () => {
  it('reads numbers written without quotes (the original shipcheck format)', () => {
    expect(entryOf('{"status":502,"upstream_addr":"10.0.0.1:80, 10.0.0.2:80","request_time":0.250}')).toEqual(
      {
        status: 502,
        upstreamAddr: '10.0.0.2:80',
        latencyMs: 250,
      },
    );
    expect(entryOf('{"status":200,"upstream_addr":"a:1 : b:2","request_time":0.000}').upstreamAddr).toBe(
      'b:2',
    );
  });

  it('reads every value quoted, with the extra fields of a format copied from a blog post', () => {
    const line =
      '{"time_local":"12/Mar/2025:10:01:02 +0000","remote_addr":"127.0.0.1","remote_user":"",' +
      '"request":"GET /v1/ HTTP/1.1","status":"200","body_bytes_sent":"2","request_time":"0.004",' +
      '"http_referrer":"","http_user_agent":"curl/7.88.1","upstream_addr":"127.0.0.1:41234",' +
      '"upstream_status":"200","upstream_response_time":"0.003"}';
    expect(entryOf(line)).toEqual({ status: 200, upstreamAddr: '127.0.0.1:41234', latencyMs: 3 });
  });

  it('prefers the upstream status and time, taking the last status and the sum of the times tried', () => {
    const line =
      '{"status":"200","upstream_status":"502, 200","upstream_addr":"127.0.0.1:9, 127.0.0.1:41234",' +
      '"request_time":"0.010","upstream_response_time":"0.001, 0.004"}';
    const entry = entryOf(line);
    expect(entry.status).toBe(200);
    expect(entry.upstreamAddr).toBe('127.0.0.1:41234');
    expect(entry.latencyMs).toBeCloseTo(5);
    // An internal redirect joins with " : ".
    expect(
      entryOf(
        '{"status":"404","upstream_status":"502 : 404","upstream_addr":"a:1 : b:2","request_time":"0.1"}',
      ),
    ).toMatchObject({ status: 404, upstreamAddr: 'b:2', latencyMs: 100 });
  });

  it('falls back to status and request_time when the upstream variables hold "-"', () => {
    const line =
      '{"status":"499","upstream_status":"-","upstream_addr":"127.0.0.1:41234",' +
      '"request_time":"1.500","upstream_response_time":"-"}';
    expect(entryOf(line)).toEqual({ status: 499, upstreamAddr: '127.0.0.1:41234', latencyMs: 1500 });
    // The last upstream gave no answer: the client's status is the one that counts.
    expect(
      entryOf('{"status":"499","upstream_status":"502, -","upstream_addr":"a:1, b:2","request_time":"2"}')
        .status,
    ).toBe(499);
  });

  it("reads nginx's default escaping, where a quote in a header is written \\x22", () => {
    const line =
      '{"status":"200","upstream_addr":"127.0.0.1:41234","request_time":"0.002",' +
      '"http_user_agent":"say \\x22hi\\x22 \\x5C o/","http_referer":"-"}';
    expect(entryOf(line).status).toBe(200);
  });

  it('reads upstream variables logged without quotes: "-", nothing, or a list', () => {
    expect(
      entryOf(
        '{"status":200,"upstream_addr":"a:1","request_time":0.004,"upstream_response_time":0.001, 0.002}',
      ).latencyMs,
    ).toBeCloseTo(3);
    expect(
      entryOf('{"status":200,"upstream_addr":"a:1","request_time":0.004,"upstream_response_time":-}')
        .latencyMs,
    ).toBe(4);
    expect(
      entryOf('{"status":200,"upstream_addr":"a:1","request_time":0.004,"upstream_response_time":}')
        .latencyMs,
    ).toBe(4);
    expect(entryOf('{"status":200,"upstream_addr":a:1, b:2,"request_time":0.004}').upstreamAddr).toBe('b:2');
  });

  it('accepts a line ending in \\r, and passes over blank lines and requests nginx answered itself', () => {
    expect(entryOf('{"status":"200","upstream_addr":"a:1","request_time":"0.001"}\r').status).toBe(200);
    expect(parseAccessLogLine('')).toEqual({ kind: 'ignored' });
    expect(parseAccessLogLine('\r')).toEqual({ kind: 'ignored' });
    // escape=json writes an unset variable as nothing, the default escaping as "-".
    expect(parseAccessLogLine('{"status":"404","upstream_addr":"","request_time":"0.000"}')).toEqual({
      kind: 'ignored',
    });
    expect(parseAccessLogLine('{"status":"404","upstream_addr":"-","request_time":"0.000"}')).toEqual({
      kind: 'ignored',
    });
  });

  it('says which field is missing or malformed', () => {
    expect(problemOf('{"upstream_addr":"a:1","request_time":"0.001"}')).toBe(
      'no "status" field (nor "upstream_status")',
    );
    expect(problemOf('{"status":"200","upstream_addr":"a:1"}')).toBe(
      'no "request_time" field (nor "upstream_response_time")',
    );
    expect(problemOf('{"status":"200","request_time":"0.001"}')).toBe('no "upstream_addr" field');
    expect(problemOf('{"status":"abc","upstream_addr":"a:1","request_time":"0.001"}')).toBe(
      '"status" "abc" is not an HTTP status',
    );
    expect(problemOf('{"status":"200","upstream_addr":"a:1","request_time":"abc"}')).toBe(
      '"request_time" "abc" is not a number of seconds',
    );
    expect(problemOf('{"status":"","upstream_addr":"a:1","request_time":"0.1"}')).toBe(
      'no "status" field (nor "upstream_status")',
    );
    expect(problemOf('{"status":"200","upstream_addr":"a:1","request_time":"-0.1"}')).toMatch(/not a number/);
    expect(problemOf('{"status":700,"upstream_addr":"a:1","request_time":0}')).toMatch(/not an HTTP status/);
    expect(problemOf('{"status":200,"upstream_addr":["a:1"],"request_time":0}')).toMatch(
      /"upstream_addr" \["a:1"\] is not text/,
    );
    expect(problemOf(`{"status":"200","upstream_addr":"a:1","request_time":"${'9'.repeat(100)}x"}`)).toMatch(
      /"request_time" "9{23}\.\.\." is not/,
    );
  });

  it('says when a line is not JSON at all', () => {
    expect(
      problemOf('127.0.0.1 - - [12/Mar/2025:10:01:02 +0000] "GET / HTTP/1.1" 200 2 "-" "curl/7.88.1"'),
    ).toMatch(/not a JSON object/);
    expect(problemOf('[1,2]')).toMatch(/not a JSON object/);
    expect(problemOf('{"status":')).toMatch(/not a JSON object/);
  });
});
