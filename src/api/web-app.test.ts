import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecuredApi } from '../../test/support/secured-api.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { buildApi, createRegistry } from './server.js';
import { readWebDist, WEB_PAGES, type WebFiles } from './web-app.js';

/** The dashboard `npm run build` made (npm test builds before it runs the tests). */
const BUILT = fileURLToPath(new URL('../../dist/web', import.meta.url));
/** A year: the hashed asset names change with their content, so a browser may keep them that long. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Each page path with its parameter filled in. */
const PAGE_PATHS = WEB_PAGES.map((route) => route.replace(':id', '42'));

function api(web: WebFiles | null): ReturnType<typeof buildApi> {
  const store = SqliteStore.open(':memory:');
  const app = buildApi({
    engines: new Map(),
    store,
    logger: pino({ level: 'silent' }),
    registry: createRegistry(),
    web,
  });
  app.addHook('onClose', async () => store.close());
  return app;
}

/** The directives of a Content-Security-Policy header, by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

describe('the API serves the dashboard', () => {
  let files: WebFiles;
  let app: ReturnType<typeof buildApi>;

  beforeAll(async () => {
    const read = readWebDist(BUILT);
    if (read === undefined) throw new Error(`no dashboard in ${BUILT}: run \`npm run build\` first`);
    files = read;
    app = api(files);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  it.each(PAGE_PATHS)('answers %s with the app under a strict CSP, never in a frame', async (url) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<div id="root"></div>');
    const csp = directives(String(res.headers['content-security-policy']));
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('style-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('builds HTML with no inline script or style, which the CSP would block', () => {
    const html = files.get('/index.html')!.body.toString('utf8');
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag, 'a script must come from a file').toMatch(/\bsrc="\/assets\//);
    expect(html).not.toMatch(/<script\b[^>]*>\s*[^<\s]/);
    expect(html).not.toMatch(/<style\b/);
  });

  it('sends each asset gzipped when asked, plain otherwise, cached for good', async () => {
    const assets = [...files.keys()].filter((key) => key.startsWith('/assets/'));
    expect(assets.length).toBeGreaterThan(0);
    for (const url of assets) {
      const original = fs.readFileSync(path.join(BUILT, url));
      const gzipped = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, br' } });
      expect(gzipped.statusCode, url).toBe(200);
      expect(gzipped.headers['content-encoding'], url).toBe('gzip');
      expect(gzipped.headers['cache-control'], url).toBe(IMMUTABLE);
      expect(gzipped.headers.vary, url).toBe('accept-encoding');
      expect(zlib.gunzipSync(gzipped.rawPayload).equals(original), url).toBe(true);

      const plain = await app.inject({ method: 'GET', url });
      expect(plain.headers['content-encoding'], url).toBeUndefined();
      expect(plain.rawPayload.equals(original), url).toBe(true);
    }
    const script = assets.find((url) => url.endsWith('.js'))!;
    expect((await app.inject({ method: 'GET', url: script })).headers['content-type']).toBe(
      'text/javascript; charset=utf-8',
    );
  });

  it('answers an unknown asset with a 404 in JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/assets/no-such-file.js' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ error: 'no asset no-such-file.js' });
  });
});

describe('the dashboard with authentication on', () => {
  it('serves its pages without credentials, while the API still asks for them', async () => {
    const secured = await startSecuredApi({ web: readWebDist(BUILT) ?? null });
    try {
      for (const url of PAGE_PATHS) {
        const page = await fetch(`${secured.url}${url}`);
        expect(page.status, url).toBe(200);
        expect(await page.text(), url).toContain('<div id="root"></div>');
      }
      const services = await fetch(`${secured.url}/api/v1/services`);
      expect(services.status).toBe(401);
    } finally {
      await secured.close();
    }
  });
});

describe('a dashboard that has not been built', () => {
  it('answers its pages with a page that says how to build it', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-web-'));
    const app = api(readWebDist(empty) ?? null);
    try {
      for (const url of PAGE_PATHS) {
        const res = await app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(200);
        expect(res.headers['content-type'], url).toBe('text/html; charset=utf-8');
        expect(res.body, url).toMatch(/The dashboard has not been built. Run <code>npm run build<\/code>/);
        expect(res.headers['content-security-policy'], url).toMatch(/script-src 'self'/);
      }
      const asset = await app.inject({ method: 'GET', url: '/assets/index.js' });
      expect(asset.statusCode).toBe(404);
    } finally {
      await app.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
