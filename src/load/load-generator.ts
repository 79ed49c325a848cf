import http from 'node:http';

/** Statuses the sample app never sends: they mean the proxy could not get an answer from an instance. */
const PROXY_ERRORS = new Set([502, 503, 504]);

/** What a load run saw, by the version that served each request. */
export interface LoadReport {
  sent: number;
  /** Responses by version (from X-Shipcheck-Served-By) and status class, e.g. { v2: { '2xx': 120 } }. */
  byVersion: Record<string, Record<string, number>>;
  /** Requests that failed without an HTTP response (connection refused, reset, timeout). */
  failed: number;
  /** The failed requests by error code (`ECONNREFUSED`, `timeout`, ...), to say why. */
  failures: Record<string, number>;
  /** 502/503 answered by the proxy itself: no upstream could serve. */
  proxyErrors: number;
  /** Requests reset before any response and sent again (only with `retryResets`). */
  retried: number;
  /** Epoch ms of the first and last response each version served. */
  firstSeenAt: Record<string, number>;
  lastSeenAt: Record<string, number>;
}

/** Options for a bounded load run. */
export interface LoadOptions {
  url: string;
  /** Target requests per second across all workers. */
  rps: number;
  concurrency?: number;
  /** Hard limits: the run stops at whichever comes first, or at stop(). */
  maxDurationMs: number;
  maxRequests?: number;
  timeoutMs?: number;
  /** Retry a GET once, on a new connection, when the connection is reset before any response (counted in `retried`). */
  retryResets?: boolean;
}

/** Sends steady GET traffic at a target rate until stopped or a limit is reached. */
export class LoadGenerator {
  private readonly report: LoadReport = {
    sent: 0,
    byVersion: {},
    failed: 0,
    failures: {},
    proxyErrors: 0,
    retried: 0,
    firstSeenAt: {},
    lastSeenAt: {},
  };
  private readonly agent: http.Agent;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: LoadOptions) {
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: options.concurrency ?? 4,
    });
  }

  /** Starts the workers; returns at once. */
  start(): void {
    const concurrency = this.options.concurrency ?? 4;
    const deadline = Date.now() + this.options.maxDurationMs;
    const gapMs = (1000 * concurrency) / this.options.rps;
    const worker = async (offset: number): Promise<void> => {
      await sleep(offset);
      while (
        !this.stopped &&
        Date.now() < deadline &&
        this.report.sent < (this.options.maxRequests ?? Infinity)
      ) {
        const started = Date.now();
        this.report.sent += 1;
        await this.once();
        await sleep(Math.max(0, gapMs - (Date.now() - started)));
      }
    };
    this.running = Promise.all(
      Array.from({ length: concurrency }, (_, i) => worker((gapMs * i) / concurrency)),
    ).then(() => undefined);
  }

  /** A copy of the counts so far. */
  snapshot(): LoadReport {
    return structuredClone(this.report);
  }

  /** Stops the workers, waits for requests in flight, and returns the final counts. */
  async stop(): Promise<LoadReport> {
    this.stopped = true;
    await this.running;
    this.agent.destroy();
    return this.snapshot();
  }

  /**
   * One request. `fresh`: on a connection of its own, as a retry is: the pooled connections that
   * nginx's old workers close on a reload all go at once, so a retry on the next of them would meet
   * the same reset.
   */
  private once(retry = this.options.retryResets ?? false, fresh = false): Promise<void> {
    return new Promise((resolve) => {
      const req = http.get(
        this.options.url,
        { agent: fresh ? false : this.agent, timeout: this.options.timeoutMs ?? 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const served = res.headers['x-shipcheck-served-by'];
            const version = typeof served === 'string' ? served : 'proxy';
            if (PROXY_ERRORS.has(status)) this.report.proxyErrors += 1;
            const now = Date.now();
            this.report.firstSeenAt[version] ??= now;
            this.report.lastSeenAt[version] = now;
            const counts = (this.report.byVersion[version] ??= {});
            const klass = `${Math.floor(status / 100)}xx`;
            counts[klass] = (counts[klass] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A reset before any response is what a client retries once, as browsers do for a GET.
        if (retry && err.code === 'ECONNRESET') {
          this.report.retried += 1;
          resolve(this.once(false, true));
          return;
        }
        this.report.failed += 1;
        const why = err.code ?? err.message;
        this.report.failures[why] = (this.report.failures[why] ?? 0) + 1;
        resolve();
      });
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
