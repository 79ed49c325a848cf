/** The control plane's side of the control channel: JSON requests to a proxy process's Unix socket. */
import http from 'node:http';
import { errorMessage, InputError, ProviderError } from '../../../errors.js';
import {
  CONTROL_PATHS,
  type Controller,
  type DrainRequest,
  type InflightAnswer,
  type MetricsAnswer,
  type ProxyStatus,
  type TablePush,
} from './control-protocol.js';

/** A control request that takes longer than this has lost its proxy; a drain gets its own timeout on top. */
const REQUEST_TIMEOUT_MS = 5_000;

/** Talks to one proxy process over its control socket. */
export class ControlClient {
  // No socket limit: a drain holds its connection until the address is idle, and must not hold up pushes.
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(readonly socket: string) {}

  /** Who the process is, what it listens on, and the route and table it serves. */
  status(): Promise<ProxyStatus> {
    return this.request('GET', CONTROL_PATHS.status) as Promise<ProxyStatus>;
  }

  /** Replaces the table, and the route when given; a route the proxy refuses rejects with InputError. */
  async pushTable(push: TablePush): Promise<void> {
    await this.request('PUT', CONTROL_PATHS.table, push);
  }

  /** Resolves when no request to `address` is in flight in the proxy, or after `timeoutMs`. */
  async drain(address: string, timeoutMs: number): Promise<void> {
    const body: DrainRequest = { address, timeoutMs };
    await this.request('POST', CONTROL_PATHS.drain, body, REQUEST_TIMEOUT_MS + timeoutMs);
  }

  /** Requests in flight to `address` and open connections to it. */
  inflight(address: string): Promise<InflightAnswer> {
    const query = new URLSearchParams({ address }).toString();
    return this.request('GET', `${CONTROL_PATHS.inflight}?${query}`) as Promise<InflightAnswer>;
  }

  /** The seconds recorded from `since` (an epoch second) on. */
  metricsSince(since: number): Promise<MetricsAnswer> {
    return this.request('GET', `${CONTROL_PATHS.metrics}?since=${since}`) as Promise<MetricsAnswer>;
  }

  /** Records `controller` as the control plane that drives the proxy now. */
  async claim(controller: Controller): Promise<void> {
    await this.request('PUT', CONTROL_PATHS.controller, controller);
  }

  /** Records that no control plane drives the proxy now. */
  async letGo(): Promise<void> {
    await this.request('DELETE', CONTROL_PATHS.controller);
  }

  /** Closes the kept-alive control connections. */
  close(): void {
    this.agent.destroy();
  }

  private request(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const fail = (why: string, cause?: unknown): void =>
        reject(new ProviderError(`proxy control ${method} ${path} via ${this.socket}: ${why}`, { cause }));
      const req = http.request(
        {
          socketPath: this.socket,
          path,
          method,
          agent: this.agent,
          headers: payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (err) => fail(err.message, err));
          res.on('end', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
            } catch {
              return fail(`answer is not JSON: ${text.slice(0, 200)}`);
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed);
            const message = (parsed as { message?: string } | undefined)?.message ?? `status ${status}`;
            if (status === 400) return reject(new InputError(message));
            fail(message);
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        fail(errorMessage(err), err);
      });
      req.end(payload);
    });
  }
}
