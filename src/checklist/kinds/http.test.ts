import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../util/net.js';
import {
  httpCheck,
  MAX_BODY_BYTES,
  parseJsonPath,
  readJsonPath,
  requestLabel,
  type HttpParams,
} from './http.js';
import { startApp, startProxy } from '../../../test/support/test-apps.js';
import { testContext } from '../../../test/support/check-context.js';

/** A delay the slow route takes, far above SLOW_LIMIT so the comparison cannot flip. */
const SLOW_DELAY_MS = 150;
const SLOW_LIMIT = '20ms';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** The app most tests talk to. */
function demoApp(req: IncomingMessage, res: ServerResponse): void {
  switch (req.url) {
    case '/healthz':
      res.writeHead(200, { 'content-type': 'text/plain', 'x-internal': 'hidden' });
      res.end('ok: all good');
      return;
    case '/json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service: { name: 'web', replicas: [3, 4] }, paused: null }));
      return;
    case '/broken':
      res.writeHead(500);
      res.end('database is down');
      return;
    case '/moved':
      res.writeHead(302, { location: '/healthz' });
      res.end();
      return;
    case '/slow':
      setTimeout(() => res.end('late'), SLOW_DELAY_MS);
      return;
    case '/hang':
      return; // never answers
    case '/big':
      res.end('x'.repeat(MAX_BODY_BYTES * 2));
      return;
    case '/echo':
      void readBody(req).then((body) => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
      });
      return;
    default:
      res.writeHead(404);
      res.end('not found');
  }
}

async function run(input: Record<string, unknown>, context = testContext()) {
  const params: HttpParams = httpCheck.params.parse(input);
  return httpCheck.run(params, context);
}

describe('http params', () => {
  it('fills defaults and parses durations', () => {
    expect(httpCheck.params.parse({ url: '/healthz', maxLatency: '500ms' })).toEqual({
      url: '/healthz',
      method: 'GET',
      headers: {},
      maxLatency: 500,
      timeout: 10_000,
    });
  });

  it('rejects a target with an absolute url, bad JSON paths, bad regexes and unknown keys', () => {
    expect(httpCheck.params.safeParse({ url: 'http://a.example/x', target: 'canary' }).success).toBe(false);
    expect(httpCheck.params.safeParse({ url: '/x', expectJson: [{ path: 'a.b' }] }).success).toBe(false);
    expect(httpCheck.params.safeParse({ url: '/x', expectBody: '/(/' }).success).toBe(false);
    expect(httpCheck.params.safeParse({ url: 'healthz' }).success).toBe(false);
    expect(httpCheck.params.safeParse({ url: '/x', timout: '1s' }).success).toBe(false);
  });
});

describe('JSON paths', () => {
  const document = { a: { b: [10, { c: 'deep' }] }, 'odd-key': true };

  it('reads keys and indexes', () => {
    expect(parseJsonPath('$.a.b[1].c')).toEqual(['a', 'b', 1, 'c']);
    expect(readJsonPath(document, '$')).toEqual({ found: true, value: document });
    expect(readJsonPath(document, '$.a.b[1].c')).toEqual({ found: true, value: 'deep' });
    expect(readJsonPath(document, '$.odd-key')).toEqual({ found: true, value: true });
  });

  it('reports missing steps and paths outside the subset', () => {
    expect(readJsonPath(document, '$.a.b[5]')).toEqual({ found: false });
    expect(readJsonPath(document, '$.a.x')).toEqual({ found: false });
    expect(readJsonPath(document, '$.a.b.c')).toEqual({ found: false });
    expect(parseJsonPath('$..a')).toBeUndefined();
    expect(parseJsonPath('a.b')).toBeUndefined();
    expect(parseJsonPath('$[x]')).toBeUndefined();
  });
});

describe('http check', () => {
  it('passes on a 2xx and records status, latency, headers and body', async () => {
    const base = await startApp(demoApp);
    const result = await run({ url: `${base}/healthz`, expectBody: 'all good' });
    expect(result.ok).toBe(true);
    expect(result.summary).toMatch(new RegExp(`^GET ${base}/healthz: 200 in \\d+ms$`));
    expect(result.output).toBe('ok: all good');
    expect(result.data).toMatchObject({ status: 200, headers: { 'content-type': 'text/plain' } });
    expect(result.data?.headers).not.toHaveProperty('x-internal');
    expect(result.value).toBe(result.data?.latencyMs);
  });

  it('resolves a path against the proxy URL', async () => {
    const base = await startApp(demoApp);
    const result = await run({ url: '/healthz' }, testContext({ proxyUrl: base }));
    expect(result.ok).toBe(true);
    expect(result.summary).toContain(`GET ${base}/healthz: 200`);
  });

  it('fails on a status outside the default range, naming it', async () => {
    const base = await startApp(demoApp);
    const result = await run({ url: `${base}/broken` });
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/: expected 200-399, got 500 \(\d+ms\)$/);
    expect(result.output).toBe('database is down');
  });

  it('does not follow redirects, and checks explicit status lists', async () => {
    const base = await startApp(demoApp);
    expect((await run({ url: `${base}/moved` })).ok).toBe(true);
    const result = await run({ url: `${base}/moved`, expectStatus: [200, 204] });
    expect(result.summary).toContain('expected 200 or 204, got 302');
    expect(result.data).toMatchObject({ headers: { location: '/healthz' } });
    expect((await run({ url: `${base}/broken`, expectStatus: 500 })).ok).toBe(true);
  });

  it('checks the body for a substring or a regex', async () => {
    const base = await startApp(demoApp);
    expect((await run({ url: `${base}/healthz`, expectBody: '/^OK: ALL/i' })).ok).toBe(true);
    const miss = await run({ url: `${base}/healthz`, expectBody: 'ready' });
    expect(miss.summary).toContain('got 200 but the body does not contain "ready"');
    const noMatch = await run({ url: `${base}/healthz`, expectBody: '/^ready$/' });
    expect(noMatch.summary).toContain('the body does not match /^ready$/');
  });

  it('checks JSON fields for values, presence and absence', async () => {
    const base = await startApp(demoApp);
    const pass = await run({
      url: `${base}/json`,
      expectJson: [
        { path: '$.service.name', equals: 'web' },
        { path: '$.service.replicas', equals: [3, 4] },
        { path: '$.paused', equals: null },
        { path: '$.service.replicas[1]' },
        { path: '$.service.owner', exists: false },
      ],
    });
    expect(pass.ok, pass.summary).toBe(true);

    const wrong = await run({
      url: `${base}/json`,
      expectJson: [{ path: '$.service.replicas[0]', equals: 5 }],
    });
    expect(wrong.summary).toContain('got 200 but $.service.replicas[0] is 3, expected 5');
    const missing = await run({ url: `${base}/json`, expectJson: [{ path: '$.service.owner' }] });
    expect(missing.summary).toContain('$.service.owner is missing');
    const present = await run({ url: `${base}/json`, expectJson: [{ path: '$.paused', exists: false }] });
    expect(present.summary).toContain('$.paused is present (null), expected absent');
    const notJson = await run({ url: `${base}/healthz`, expectJson: [{ path: '$' }] });
    expect(notJson.summary).toContain('the body is not JSON');
  });

  it('sends the method, headers and body', async () => {
    const base = await startApp(demoApp);
    const result = await run({
      url: `${base}/echo`,
      method: 'POST',
      headers: { 'X-Trace': 'abc' },
      body: 'hello',
      expectStatus: 201,
      expectJson: [
        { path: '$.method', equals: 'POST' },
        { path: '$.headers.x-trace', equals: 'abc' },
        { path: '$.headers.content-length', equals: '5' },
        { path: '$.body', equals: 'hello' },
      ],
    });
    expect(result.ok, result.summary).toBe(true);
  });

  it('fails when slower than maxLatency', async () => {
    const base = await startApp(demoApp);
    const result = await run({ url: `${base}/slow`, maxLatency: SLOW_LIMIT });
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/: 200 in \d+ms, over maxLatency 20ms$/);
  });

  it('caps the body it reads and the excerpt it keeps', async () => {
    const base = await startApp(demoApp);
    const result = await run({ url: `${base}/big`, expectJson: [{ path: '$' }] });
    expect(result.summary).toContain(`the body is over ${MAX_BODY_BYTES} bytes`);
    expect(result.output!.length).toBeLessThan(5000);
    expect(result.output).toMatch(/\[\.\.\. \d+ more bytes\]$/);
  });

  it('fails with the connect error when nothing listens', async () => {
    const port = await freePort();
    const result = await run({ url: `http://127.0.0.1:${port}/healthz` });
    expect(result).toMatchObject({
      ok: false,
      summary: `GET http://127.0.0.1:${port}/healthz: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  it('gives up after the timeout', async () => {
    const base = await startApp(demoApp);
    const result = await run({ url: `${base}/hang`, timeout: '100ms' });
    expect(result).toMatchObject({ ok: false, summary: `GET ${base}/hang: no response within 100ms` });
  });

  it('stops when the release signal aborts', async () => {
    const base = await startApp(demoApp);
    const controller = new AbortController();
    const pending = run({ url: `${base}/hang` }, testContext({ signal: controller.signal }));
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, summary: `GET ${base}/hang: aborted` });
  });
});

describe('http check through the proxy', () => {
  it('reaches the canary with target: canary even at weight 0', async () => {
    const stable = await startApp((_, res) => res.end('stable v1'));
    const canary = await startApp((req, res) => res.end(`canary v2 ${req.url}`));
    const context = testContext(await startProxy(stable, canary));

    const toCanary = await run(
      { url: '/healthz', target: 'canary', expectBody: 'canary v2 /healthz' },
      context,
    );
    expect(toCanary.ok, toCanary.summary).toBe(true);
    expect(toCanary.summary).toMatch(/\/healthz \(canary\): 200 in \d+ms$/);
    expect(toCanary.data).toMatchObject({ headers: { 'x-shipcheck-served-by': 'v2' } });

    const unforced = await run({ url: '/healthz', expectBody: 'stable v1' }, context);
    expect(unforced.ok, unforced.summary).toBe(true);
    const toStable = await run({ url: '/healthz', target: 'stable', expectBody: 'stable v1' }, context);
    expect(toStable.ok, toStable.summary).toBe(true);

    // Without the proxy's force token the version header is ignored: the weight (0) decides.
    const tokenless = await run(
      { url: '/healthz', target: 'canary', expectBody: 'stable v1' },
      testContext({ proxyUrl: context.proxyUrl }),
    );
    expect(tokenless.ok, tokenless.summary).toBe(true);
  });
});

describe('http evidence', () => {
  it('never shows a password or token written into the URL', () => {
    const request = {
      method: 'GET',
      url: 'https://ops:s3cret@status.example.com/ping?token=abc',
      headers: {},
    };
    expect(requestLabel(request, undefined)).toBe('GET https://ops:***@status.example.com/ping?token=***');
  });
});
