/**
 * Runbooks of a service: the list as the API and the pages show it, and one runbook rendered. A file
 * runbook is markdown rendered to HTML with `marked`; raw HTML in it is escaped and shown as text,
 * never passed through, links keep only http, https and mailto addresses (and the document's own
 * anchors), and images become links, so a rendered runbook loads nothing by itself. A URL runbook is
 * a link.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Marked, type Tokens } from 'marked';
import { errorMessage } from '../errors.js';
import type { CatalogService } from './model.js';

/** The largest runbook file rendered; a bigger one is refused with its size. */
export const MAX_RUNBOOK_BYTES = 512 * 1024;

/** One runbook as listed. */
export interface RunbookView {
  index: number;
  title: string;
  kind: 'file' | 'url';
  /** The file as written in the config (relative to it), for a file runbook. */
  file?: string;
  url?: string;
}

/** One runbook rendered: HTML for a file, a link for a URL, or why the file could not be read. */
export interface RenderedRunbook extends RunbookView {
  html: string;
  /** Set when the file could not be read; `html` then says so. */
  error?: string;
}

/** Text for HTML content and attribute values. */
export function htmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SAFE_URL = /^(?:https?:|mailto:|#)/i;

/** The URL when a link may point there, else undefined (javascript:, data:, relative paths and the rest). */
function safeUrl(href: string): string | undefined {
  return SAFE_URL.test(href.trim()) ? href.trim() : undefined;
}

const markdown = new Marked({
  async: false,
  gfm: true,
  renderer: {
    html(token: Tokens.HTML | Tokens.Tag): string {
      return htmlText(token.text);
    },
    link(token: Tokens.Link): string {
      const text = this.parser.parseInline(token.tokens);
      const href = safeUrl(token.href);
      if (href === undefined) return text;
      return `<a href="${htmlText(href)}" rel="noopener noreferrer">${text}</a>`;
    },
    image(token: Tokens.Image): string {
      const href = safeUrl(token.href);
      const text = htmlText(token.text || token.href);
      return href === undefined ? text : `<a href="${htmlText(href)}" rel="noopener noreferrer">${text}</a>`;
    },
  },
});

/** Markdown as HTML, raw HTML escaped. */
export function renderMarkdown(text: string): string {
  return markdown.parse(text) as string;
}

/** A service's runbooks in config order. */
export function runbookList(service: CatalogService): RunbookView[] {
  return (service.catalog?.runbooks ?? []).map((r, index) => ({
    index,
    title: r.title,
    ...(r.file !== undefined
      ? { kind: 'file' as const, file: r.file }
      : { kind: 'url' as const, url: r.url ?? '' }),
  }));
}

/** Where a file runbook is on disk. */
export function runbookPath(service: Pick<CatalogService, 'dir'>, file: string): string {
  return path.resolve(service.dir, file);
}

/** One runbook rendered; undefined when the service has no runbook of that index. */
export async function renderRunbook(
  service: CatalogService,
  index: number,
): Promise<RenderedRunbook | undefined> {
  const view = runbookList(service)[index];
  if (!view) return undefined;
  if (view.kind === 'url') {
    const url = view.url ?? '';
    return {
      ...view,
      html: `<p><a href="${htmlText(url)}" rel="noopener noreferrer">${htmlText(view.title)}</a></p>`,
    };
  }
  const file = runbookPath(service, view.file ?? '');
  try {
    const text = await readFile(file, 'utf8');
    if (Buffer.byteLength(text) > MAX_RUNBOOK_BYTES)
      throw new Error(`${Buffer.byteLength(text)} bytes, more than the ${MAX_RUNBOOK_BYTES} shown`);
    return { ...view, html: renderMarkdown(text) };
  } catch (err) {
    const error = `${view.file ?? ''}: ${errorMessage(err)}`;
    return { ...view, html: `<p>The runbook cannot be read: ${htmlText(error)}</p>`, error };
  }
}
