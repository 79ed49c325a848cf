import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DemoCache,
  findVarnishd,
  processesNaming,
  startVarnish,
} from '../../cli/commands/demo-cache.js';
import { configSchema } from '../../config/schema.js';
import { freePort } from '../../util/net.js';
import { NO_CDN_BLOCK, NOTHING_TO_PURGE, cdnPurgeCheck } from './cdn-purge.js';
import { testContext } from '../../../test/support/check-context.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
/** Long enough to still be cached when the test looks again. */
const ORIGIN_MAX_AGE_S = 300;
/** The header a BAN request names its URL regex in; the VCL below reads it. */
const BAN_HEADER = 'X-Ban-Url';

const varnishd = findVarnishd();
const missingVarnish =
  'varnishd is not installed (Debian: apt-get install -y varnish), so the cdn-purge check cannot be tested against a real Varnish';
if (varnishd === undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the cdn-purge Varnish tests: ${missingVarnish}`);

/** A VCL that caches the origin and lets localhost PURGE one URL or BAN a URL regex. */
function purgeVcl(originPort: number): string {
  return `vcl 4.1;
import std;

backend origin { .host = "127.0.0.1"; .port = "${originPort}"; }

acl purgers { "127.0.0.1"; "::1"; }

sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) { return (synth(405, "Not allowed")); }
    return (purge);
  }
  if (req.method == "BAN") {
    if (client.ip !~ purgers) { return (synth(405, "Not allowed")); }
    # Without the header, ban exactly the requested URL.
    if (!req.http.${BAN_HEADER}) { set req.http.${BAN_HEADER} = "^" + req.url + "$"; }
    if (std.ban("obj.http.x-url ~ " + req.http.${BAN_HEADER})) { return (synth(200, "Banned")); }
    return (synth(400, std.ban_error()));
  }
}

sub vcl_backend_response {
  # Bans test obj.http.x-url rather than req.url so the ban lurker can clear them in the background.
  set beresp.http.x-url = bereq.url;
}

sub vcl_deliver {
  unset resp.http.x-url;
}

sub vcl_purge {
  return (synth(200, "Purged"));
}
`;
}

/** A GET through Varnish: the origin's counter and the cache headers. */
async function get(
  url: string,
): Promise<{ status: number; counter: number; age?: string; xVarnish?: string }> {
  const response = await fetch(url);
  const body = await response.text();
  const counter = Number(/origin response #(\d+)/.exec(body)?.[1] ?? Number.NaN);
  return {
    status: response.status,
    counter,
    age: response.headers.get('age') ?? undefined,
    xVarnish: response.headers.get('x-varnish') ?? undefined,
  };
}

describe.runIf(varnishd === undefined && REQUIRE_REAL)('cdn-purge against Varnish (required)', () => {
  it('has varnishd because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(missingVarnish);
  });
});

describe('cdn-purge without a real cache', () => {
  it('takes no params', () => {
    expect(cdnPurgeCheck.params.parse({})).toEqual({});
    expect(cdnPurgeCheck.params.safeParse({ url: 'http://cdn/' }).success).toBe(false);
  });

  it('fails without a cdn block', async () => {
    const result = await cdnPurgeCheck.run({}, testContext());
    expect(result).toEqual({ ok: false, summary: NO_CDN_BLOCK });
  });

  it('fails when the cdn block asks for nothing', async () => {
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'true' },
      cdn: { purge: [] },
    });
    const result = await cdnPurgeCheck.run({}, testContext({ config }));
    expect(result).toEqual({ ok: false, summary: NOTHING_TO_PURGE });
  });
});

describe.runIf(varnishd !== undefined)('cdn-purge against a real Varnish', () => {
  let tempDir: string;
  let origin: http.Server;
  let originUrl: string;
  let varnishUrl: string;
  let varnish: DemoCache | undefined;
  let originHits = 0;

  /** Runs the check with `cdn` as the config's cdn block. */
  async function purge(cdn: Record<string, unknown>, signal?: AbortSignal) {
    const config = configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, cdn });
    return cdnPurgeCheck.run({}, testContext({ config, ...(signal === undefined ? {} : { signal }) }));
  }

  beforeAll(async () => {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-cdn-'));
    origin = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers: for the timeout test
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' });
        res.end(`origin does not ${req.method} ${req.url}\n`);
        return;
      }
      originHits += 1;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': `max-age=${ORIGIN_MAX_AGE_S}` });
      res.end(`origin response #${originHits} for ${req.url}\n`);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const address = origin.address() as net.AddressInfo;
    originUrl = `http://127.0.0.1:${address.port}`;

    varnish = await startVarnish(address.port, tempDir, purgeVcl(address.port));
    varnishUrl = varnish!.url;
  });

  afterAll(async () => {
    await varnish?.stop();
    origin?.closeAllConnections();
    await new Promise((resolve) => origin?.close(resolve));
    const left = tempDir === undefined ? [] : processesNaming(tempDir);
    if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
    expect(left, 'varnish processes left running').toEqual([]);
  });

  it('serves a cached object until it is purged', async () => {
    const first = await get(`${varnishUrl}/cached`);
    const second = await get(`${varnishUrl}/cached`);
    expect(first.status).toBe(200);
    expect(second.counter).toBe(first.counter);
    expect(second.age).toBeDefined();
    // A hit names two transactions: this request and the one that fetched the object.
    expect(second.xVarnish).toMatch(/^\d+ \d+$/);
  });

  it('PURGE removes the object, and purging again still passes', async () => {
    const url = `${varnishUrl}/page`;
    const before = await get(url);
    expect((await get(url)).counter).toBe(before.counter);

    const result = await purge({ purge: [{ url }] });
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(`PURGE ${url}: 200 (1 request)`);

    const after = await get(url);
    expect(after.counter).not.toBe(before.counter);
    expect((await get(url)).counter).toBe(after.counter);

    // Idempotent: the rollback gate sends the same purge to a cache that may hold nothing.
    await purge({ purge: [{ url }] });
    const again = await purge({ purge: [{ url }] });
    expect(again.ok).toBe(true);
  });

  it('BAN clears every URL matching the regex, in order after a PURGE', async () => {
    const a = await get(`${varnishUrl}/assets/a.css`);
    const b = await get(`${varnishUrl}/assets/b.css`);
    const other = await get(`${varnishUrl}/other`);

    const result = await purge({
      purge: [
        { url: `${varnishUrl}/other-page` },
        { url: `${varnishUrl}/`, method: 'BAN', headers: { [BAN_HEADER]: '^/assets/' } },
      ],
    });
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(`PURGE ${varnishUrl}/other-page: 200; BAN ${varnishUrl}/: 200 (2 requests)`);
    const requests = result.data?.requests as { method: string; status: number; latencyMs: number }[];
    expect(requests.map((r) => [r.method, r.status])).toEqual([
      ['PURGE', 200],
      ['BAN', 200],
    ]);
    expect(requests.every((r) => typeof r.latencyMs === 'number')).toBe(true);

    expect((await get(`${varnishUrl}/assets/a.css`)).counter).not.toBe(a.counter);
    expect((await get(`${varnishUrl}/assets/b.css`)).counter).not.toBe(b.counter);
    expect((await get(`${varnishUrl}/other`)).counter).toBe(other.counter);
  });

  it('BAN without the header bans just its own URL', async () => {
    const target = await get(`${varnishUrl}/ban-me`);
    const neighbour = await get(`${varnishUrl}/ban-me-not`);
    const result = await purge({ purge: [{ url: `${varnishUrl}/ban-me`, method: 'BAN' }] });
    expect(result.ok).toBe(true);
    expect((await get(`${varnishUrl}/ban-me`)).counter).not.toBe(target.counter);
    expect((await get(`${varnishUrl}/ban-me-not`)).counter).toBe(neighbour.counter);
  });

  it('fails naming the request that answered 405, after still sending the others', async () => {
    const cached = await get(`${varnishUrl}/after-failure`);
    const result = await purge({
      purge: [{ url: `${originUrl}/not-a-cache` }, { url: `${varnishUrl}/after-failure` }],
    });
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      `PURGE ${originUrl}/not-a-cache: 405 "origin does not PURGE /not-a-cache"; ` +
        `PURGE ${varnishUrl}/after-failure: 200 (1 of 2 requests failed, expected 200-299)`,
    );
    expect(result.output).toContain('origin does not PURGE /not-a-cache');
    expect((await get(`${varnishUrl}/after-failure`)).counter).not.toBe(cached.counter);
  });

  it("fails with Varnish's own reason when it refuses a ban", async () => {
    const result = await purge({
      purge: [{ url: `${varnishUrl}/`, method: 'BAN', headers: { [BAN_HEADER]: '^/assets/(' } }],
    });
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(new RegExp(`^BAN ${varnishUrl}/: 400 .*Regex`));
    expect(result.data?.requests).toEqual([
      expect.objectContaining({ method: 'BAN', url: `${varnishUrl}/`, status: 400, ok: false }),
    ]);
  });

  it('fails on a refused connection and on a request that outlives cdn.timeout', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    const refused = await purge({ purge: [{ url: closed }] });
    expect(refused.ok).toBe(false);
    expect(refused.summary).toMatch(new RegExp(`^PURGE ${closed}: .*ECONNREFUSED`));

    const slow = await purge({ purge: [{ url: `${originUrl}/hang` }], timeout: '200ms' });
    expect(slow.ok).toBe(false);
    expect(slow.summary).toBe(
      `PURGE ${originUrl}/hang: no response within 200ms (1 of 1 request failed, expected 200-299)`,
    );
  });

  it('sends nothing once the release has moved on', async () => {
    const cached = await get(`${varnishUrl}/aborted`);
    const controller = new AbortController();
    controller.abort();
    const result = await purge({ purge: [{ url: `${varnishUrl}/aborted` }] }, controller.signal);
    expect(result.ok).toBe(false);
    expect(result.summary).toContain('aborted');
    expect((await get(`${varnishUrl}/aborted`)).counter).toBe(cached.counter);
  });

  it('keeps passwords in purge URLs out of evidence', async () => {
    const result = await purge({ purge: [{ url: `http://ops:hunter2@127.0.0.1:${await freePort()}/` }] });
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('runs the command form: exit 0 passes, anything else fails with its output', async () => {
    const url = `${varnishUrl}/by-command`;
    const before = await get(url);
    const script = `const r = await fetch(${JSON.stringify(url)}, { method: 'PURGE' }); console.log('purged', r.status); process.exit(r.ok ? 0 : 1);`;
    const result = await purge({ command: [process.execPath, '--input-type=module', '-e', script] });
    expect(result.ok).toBe(true);
    expect(result.output).toContain('purged 200');
    expect((await get(url)).counter).not.toBe(before.counter);

    const failed = await purge({ command: 'echo cache API said no >&2; exit 3' });
    expect(failed.ok).toBe(false);
    expect(failed.summary).toContain('exit 3');
    expect(failed.output).toContain('cache API said no');

    const slow = await purge({ command: 'sleep 5', timeout: '200ms' });
    expect(slow.ok).toBe(false);
    expect(slow.summary).toContain('timed out after 200ms');
  });

  it('runs purge requests and then the command when both are given', async () => {
    const result = await purge({ purge: [{ url: `${varnishUrl}/both` }], command: 'echo done' });
    expect(result.ok).toBe(true);
    expect(result.summary).toMatch(/^PURGE \S+\/both: 200 \(1 request\); then echo done: exit 0 in \d+ms$/);
    expect(result.output).toContain('done');
  });
});
