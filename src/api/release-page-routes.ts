/**
 * The routes the dashboard's release page reads beside the release itself: a release's samples of
 * stable and canary figures, an instance's log tail, and the release's exported report.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.js';
import { renderReport, type ReportFormat } from '../checklist/report.js';
import { InputError } from '../errors.js';
import type { Store } from '../store/types.js';
import { withAccess } from './access.js';

/** Samples one read returns by default and at most: a little over an hour at one every 2 s. */
export const MAX_SAMPLES = 2000;
/** Log lines answered when the request names no count. */
export const DEFAULT_LOG_LINES = 50;
/** The most log lines one request may ask for. */
export const MAX_LOG_LINES = 500;
/**
 * The exported report is a whole HTML page with its own inline style and no script; opened from
 * the API's origin, it may run nothing and load nothing.
 */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'";
/** Each report format's media type. */
const REPORT_TYPES: Record<ReportFormat, string> = {
  html: 'text/html; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
};

/** What the routes read: the engines as the API finds them, and the store. */
export interface ReleasePageRoutesOptions {
  store: Store;
  /** The engine of a unit by name; NotFoundError for an unknown one. */
  engineOf: (unit: string) => Engine;
  /** The engine of a release's unit; NotFoundError for an unknown release. */
  engineOfRelease: (id: number) => Promise<Engine>;
  /** A release id from the path; InputError when it is not a positive integer. */
  parseId: (raw: string) => number;
}

/** A whole number from `min` to `max` from a query parameter, or `fallback` without one; InputError otherwise. */
function parseCount(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max)
    throw new InputError(`${name} "${raw}" is not a whole number from ${min} to ${max}`);
  return value;
}

/** Registers the release page's routes on `app`. */
export function registerReleasePageRoutes(app: FastifyInstance, options: ReleasePageRoutesOptions): void {
  const { store, engineOf, engineOfRelease, parseId } = options;

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>(
    '/api/v1/releases/:id/samples',
    withAccess('viewer'),
    async (request) => {
      const id = parseId(request.params.id);
      const release = await (await engineOfRelease(id)).release(id);
      const { after, limit } = request.query;
      const afterAt =
        after === undefined ? undefined : parseCount('after', after, 0, 0, Number.MAX_SAFE_INTEGER);
      const samples = await store.listSamples(release.id, {
        ...(afterAt === undefined ? {} : { afterAt }),
        limit: parseCount('limit', limit, MAX_SAMPLES, 1, MAX_SAMPLES),
      });
      return { samples: samples.map(({ at, stable, canary }) => ({ at, stable, canary })) };
    },
  );

  // A log can hold what users sent the app (personal data): for those who may act on the unit.
  app.get<{ Params: { service: string; instance: string }; Querystring: { lines?: string } }>(
    '/api/v1/services/:service/instances/:instance/log',
    withAccess('deployer'),
    async (request) => {
      const lines = parseCount('lines', request.query.lines, DEFAULT_LOG_LINES, 1, MAX_LOG_LINES);
      return engineOf(request.params.service).instanceLog(request.params.instance, lines);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/api/v1/releases/:id/report',
    withAccess('viewer'),
    async (request, reply) => {
      const id = parseId(request.params.id);
      const format = request.query.format ?? 'html';
      if (format !== 'html' && format !== 'md')
        throw new InputError(`format "${format}" is not a report format; use html or md`);
      // The view `shipcheck checklist export` renders, with the audit log's head as its anchor.
      const view = await (await engineOfRelease(id)).checklistOf(id);
      void reply
        .header('content-type', REPORT_TYPES[format])
        .header('content-disposition', `attachment; filename="release-${view.release.id}.${format}"`)
        .header('content-security-policy', REPORT_CSP)
        .header('x-content-type-options', 'nosniff');
      return renderReport(view, format);
    },
  );
}
