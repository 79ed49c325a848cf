import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The dashboard's first page must stay light: everything it loads before it can draw (the entry
// script, its stylesheets and the modules it preloads) fits in 300 KB gzipped, and none of it comes
// from another origin, so the dashboard works offline and behind a strict CSP.

/** The dashboard `npm run build` made (npm test builds before it runs the tests). */
const BUILT = fileURLToPath(new URL('../dist/web', import.meta.url));
/** 300 KB gzipped, the budget issue 12 sets for the first page. */
const FIRST_PAGE_BUDGET_BYTES = 300 * 1024;

/** The same-origin files index.html makes the browser load: scripts, stylesheets and modulepreloads. */
function firstPageFiles(html: string): string[] {
  const found = new Set<string>();
  for (const [tag] of html.matchAll(/<script\b[^>]*>/g)) {
    const src = /\bsrc="([^"]+)"/.exec(tag)?.[1];
    if (src) found.add(src);
  }
  for (const [tag] of html.matchAll(/<link\b[^>]*>/g)) {
    const rel = /\brel="([^"]+)"/.exec(tag)?.[1] ?? '';
    const href = /\bhref="([^"]+)"/.exec(tag)?.[1];
    if (href && /\b(stylesheet|modulepreload)\b/.test(rel)) found.add(href);
  }
  return [...found];
}

describe('the dashboard bundle', () => {
  const indexFile = path.join(BUILT, 'index.html');

  it('loads at most 300 KB gzipped on the first page', () => {
    expect(fs.existsSync(indexFile), `no ${indexFile}: run \`npm run build\` first`).toBe(true);
    const files = firstPageFiles(fs.readFileSync(indexFile, 'utf8'));
    expect(files.some((file) => file.endsWith('.js'))).toBe(true);
    let total = 0;
    const sizes = files.map((file) => {
      expect(file, 'the first page loads only files of its own build').toMatch(/^\/assets\/[^/]+$/);
      const gzipped = zlib.gzipSync(fs.readFileSync(path.join(BUILT, file)), { level: 9 }).length;
      total += gzipped;
      return `${file} ${gzipped.toLocaleString('en-US')} B`;
    });
    console.log(
      `dashboard first page: ${total.toLocaleString('en-US')} bytes gzipped of a ` +
        `${FIRST_PAGE_BUDGET_BYTES.toLocaleString('en-US')}-byte budget (${sizes.join(', ')})`,
    );
    expect(total).toBeLessThanOrEqual(FIRST_PAGE_BUDGET_BYTES);
  });

  it('references no asset on another origin (no CDN)', () => {
    const html = fs.readFileSync(indexFile, 'utf8');
    expect(html.match(/(?:src|href)="(?:https?:)?\/\/[^"]*"/g) ?? []).toEqual([]);
    expect(html).not.toMatch(/https?:\/\//);
  });
});
