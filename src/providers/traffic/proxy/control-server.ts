/**
 * The proxy process's side of the control channel: serves the ProxyRouter's route, the pushed upstream
 * table, draining and in-flight counts, and the recorded request metrics, as HTTP over a Unix socket.
 * These routes are not the API's and take no roles: the socket is 0600 in a 0700 folder, so only the
 * installation's own user (who can read its config anyway) reaches them.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { errorMessage, InputError } from '../../../errors.js';
import type { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import type { Route, UpstreamSource } from '../types.js';
import {
  CONTROL_PATHS,
  CONTROL_PROTOCOL,
  type DrainRequest,
  type Controller,
  type InflightAnswer,
  type ListenSettings,
  type MetricsAnswer,
  type ProxyStatus,
  type TablePush,
  type UpstreamTable,
} from './control-protocol.js';
import type { ProxyRouter } from './proxy-router.js';

/** Largest control request body; a table of a few hundred addresses is a few KB. */
const MAX_BODY_BYTES = 1024 * 1024;
const NO_ADDRESSES: readonly string[] = [];

/** The upstream table a control plane pushed last; the proxy reads it on every request. */
export class PushedUpstreams {
  private table = new Map<string, readonly string[]>();
  /** False until the first push. */
  pushed = false;

  /** The UpstreamSource to give the ProxyRouter: answers from memory. */
  readonly source: UpstreamSource = (version) => this.table.get(version) ?? NO_ADDRESSES;

  /** Replaces the whole table. */
  replace(table: UpstreamTable): void {
    this.table = new Map(Object.entries(table).map(([version, addresses]) => [version, [...addresses]]));
    this.pushed = true;
  }

  /** The table in effect. */
  snapshot(): UpstreamTable {
    return Object.fromEntries([...this.table].map(([version, addresses]) => [version, [...addresses]]));
  }
}

/** What the control server answers for. */
export interface ControlServerOptions {
  proxy: ProxyRouter;
  upstreams: PushedUpstreams;
  metrics: RequestMetrics;
  settings: ListenSettings;
  /** The force token the proxy honours; reported in the status. */
  forceToken: string;
  /** Called when a request fails in a way worth a log line. */
  onError?: (err: unknown) => void;
}

/** HTTP with JSON over a Unix socket: the control channel's server. */
export class ControlServer {
  private server: Server | undefined;
  private controller: Controller | null = null;

  constructor(private readonly options: ControlServerOptions) {}

  /** Listens on `socket` (a stale socket file there is removed first), readable by this user only. */
  async listen(socket: string): Promise<void> {
    fs.rmSync(socket, { force: true });
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(socket, 0o600);
    this.server = server;
  }

  /** Stops listening and closes the control connections; a drain under way is answered first. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const route = `${req.method ?? 'GET'} ${url.pathname}`;
      switch (route) {
        case `GET ${CONTROL_PATHS.status}`:
          return send(res, 200, await this.status());
        case `PUT ${CONTROL_PATHS.table}`:
          await this.applyTable((await readJson(req)) as TablePush);
          return send(res, 204);
        case `POST ${CONTROL_PATHS.drain}`: {
          const { address, timeoutMs } = (await readJson(req)) as DrainRequest;
          if (typeof address !== 'string' || typeof timeoutMs !== 'number')
            throw new InputError('drain needs an address and a timeoutMs');
          await this.options.proxy.drain(address, timeoutMs);
          return send(res, 204);
        }
        case `GET ${CONTROL_PATHS.inflight}`: {
          const address = url.searchParams.get('address') ?? '';
          const answer: InflightAnswer = {
            inflight: this.options.proxy.inflight(address),
            connections: this.options.proxy.connections(address),
          };
          return send(res, 200, answer);
        }
        case `GET ${CONTROL_PATHS.metrics}`: {
          const since = Number(url.searchParams.get('since') ?? '0');
          const answer: MetricsAnswer = this.options.metrics.secondsSince(Number.isFinite(since) ? since : 0);
          return send(res, 200, answer);
        }
        case `PUT ${CONTROL_PATHS.controller}`: {
          const { pid, startTime } = (await readJson(req)) as Controller;
          if (typeof pid !== 'number' || typeof startTime !== 'string')
            throw new InputError('a controller needs a pid and a startTime');
          this.controller = { pid, startTime };
          return send(res, 204);
        }
        case `DELETE ${CONTROL_PATHS.controller}`:
          this.controller = null;
          return send(res, 204);
        default:
          return send(res, 404, { message: `no control route ${route}` });
      }
    } catch (err) {
      if (err instanceof InputError) return send(res, 400, { message: err.message });
      this.options.onError?.(err);
      return send(res, 500, { message: errorMessage(err) });
    }
  }

  private async status(): Promise<ProxyStatus> {
    const { proxy, upstreams, settings } = this.options;
    return {
      protocol: CONTROL_PROTOCOL,
      pid: process.pid,
      listen: settings.listen,
      timeouts: settings.timeouts,
      address: proxy.address(),
      route: await proxy.currentRoute(),
      upstreams: upstreams.snapshot(),
      pushed: upstreams.pushed,
      controller: this.controller,
      forceToken: this.options.forceToken,
    };
  }

  /** The table first, then the route: a route's new version has its addresses when requests follow it. */
  private async applyTable(push: TablePush): Promise<void> {
    if (typeof push !== 'object' || push === null || typeof push.upstreams !== 'object')
      throw new InputError('a table push needs upstreams');
    if (push.route) checkRoute(push.route);
    this.options.upstreams.replace(push.upstreams);
    if (push.route) await this.options.proxy.setRoute(push.route);
  }
}

/** Throws InputError for a route the proxy would refuse, before anything is applied. */
function checkRoute(route: Route): void {
  const { weight } = route;
  if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new InputError(`traffic weight must be an integer from 0 to 100, got ${String(weight)}`);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new InputError('control request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new InputError('control request body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
