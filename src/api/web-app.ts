/**
 * Serves the dashboard (`src/web`, built by Vite into `dist/web`) from the API's own origin: the page
 * paths answer the app's HTML, `/assets/` the hashed scripts and styles. The files are read once at
 * start and kept gzipped in memory; they hold no data, so they are public, and every answer the app
 * shows comes from the API with the user's session.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { withAccess } from './access.js';

/** Where `npm install` (and `npm run build`) puts the built dashboard: dist/web beside dist/src. */
export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');

/** The dashboard's page paths; each answers the same HTML, and the app picks the page. */
export const WEB_PAGES = [
  '/',
  '/login',
  '/services',
  '/releases/:id',
  '/history',
  '/audit',
  '/people',
  '/account',
  '/incidents',
  '/incidents/:id',
  '/oncall',
  '/notifications',
  '/catalog',
  '/maintenance',
  '/status-page',
  '/services/:service/baselines',
] as const;

/**
 * Scripts and styles only from this origin, no inline script, no framing; images may be `data:`
 * (the TOTP QR code). Connections only to this origin: the API and its event stream.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** One file of the built dashboard, as it is sent. */
export interface WebFile {
  type: string;
  body: Buffer;
  gzipped: Buffer;
}

/** The built dashboard's files by URL path (`/index.html`, `/assets/NAME`). */
export type WebFiles = Map<string, WebFile>;

/** Reads the built dashboard; undefined when it has not been built. */
export function readWebDist(dir: string = WEB_DIST): WebFiles | undefined {
  const index = path.join(dir, 'index.html');
  if (!fs.existsSync(index)) return undefined;
  const files = new Map<string, WebFile>();
  const add = (file: string, urlPath: string): void => {
    const body = fs.readFileSync(file);
    files.set(urlPath, {
      type: TYPES[path.extname(file)] ?? 'application/octet-stream',
      body,
      gzipped: zlib.gzipSync(body, { level: 9 }),
    });
  };
  add(index, '/index.html');
  const assets = path.join(dir, 'assets');
  if (fs.existsSync(assets))
    for (const name of fs.readdirSync(assets)) add(path.join(assets, name), `/assets/${name}`);
  return files;
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>shipcheck</title>
<p>The dashboard has not been built. Run <code>npm run build</code> in shipcheck's folder, then restart
<code>shipcheck up</code>. The API answers under <code>/api/v1/</code> meanwhile.</p></html>`;

function send(request: FastifyRequest, reply: FastifyReply, file: WebFile): Buffer {
  void reply.header('content-type', file.type).header('vary', 'accept-encoding');
  if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
    void reply.header('content-encoding', 'gzip');
    return file.gzipped;
  }
  return file.body;
}

let loaded: { files: WebFiles | undefined } | undefined;

/** The built dashboard, read once per process. */
export function webDist(): WebFiles | undefined {
  loaded ??= { files: readWebDist() };
  return loaded.files;
}

/** Registers the dashboard's pages and assets on `app`; with no `files` the pages say it is not built. */
export function registerWebApp(app: FastifyInstance, files: WebFiles | undefined): void {
  const page = async (request: FastifyRequest, reply: FastifyReply): Promise<Buffer | string> => {
    void reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-frame-options', 'DENY')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .header('cache-control', 'no-cache');
    const index = files?.get('/index.html');
    if (!index) return reply.type('text/html; charset=utf-8').send(NOT_BUILT);
    return send(request, reply, index);
  };
  for (const route of WEB_PAGES) app.get(route, withAccess('public'), page);

  app.get<{ Params: { file: string } }>('/assets/:file', withAccess('public'), async (request, reply) => {
    const file = files?.get(`/assets/${request.params.file}`);
    if (!file) return reply.code(404).send({ error: `no asset ${request.params.file}` });
    // Asset names carry a hash of their content: a new build has new names.
    void reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff');
    return send(request, reply, file);
  });
}
