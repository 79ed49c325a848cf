import http from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';

/**
 * Synthetic requests to one version over a window: those answered (they reach the version's metrics),
 * how many of those were 5xx, and those that got no answer at all (refused, reset, timed out).
 */
export interface SyntheticCounts {
  requests: number;
  errors: number;
  unanswered: number;
}

/** Where a synthetic request goes: a URL, with the headers that pin it to the version. */
export interface SyntheticTarget {
  url: string;
  headers: Record<string, string>;
}

/** How one synthetic request ended. */
type Outcome = 'ok' | 'error' | 'unanswered';

/** A version's place in the route. */
export type RouteRole = 'stable' | 'canary';

/** What `analysis.syntheticLoad` configures. */
export interface SyntheticLoadSettings {
  rps: number;
  path: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** Options of a SyntheticLoad. */
export interface SyntheticLoadOptions {
  settings: SyntheticLoadSettings;
  /**
   * Where a request to `version` goes now; `role` is the version's place in the route (a first
   * release is the stable one). Undefined while the version has nowhere to answer.
   */
  target: (version: string, role: RouteRole, path: string) => SyntheticTarget | undefined;
  clock: Clock;
  logger: Logger;
}

/** The header that marks a request as synthetic, for the app's own logs and metrics. */
export const SYNTHETIC_HEADER = 'X-Shipcheck-Synthetic';
/** Seconds of per-second counts kept per version: the longest analysis window worth reporting. */
const HISTORY_SECONDS = 3600;
/** Versions whose counts are kept; older ones are forgotten. */
const MAX_VERSIONS = 8;
const SECOND_MS = 1000;
/** Most requests in flight at once: a slow canary must not pile up sockets. */
const MAX_IN_FLIGHT = 16;

/**
 * Sends a steady trickle of requests to the version under analysis, as Flagger's load tester does, so
 * that a service with little or no traffic still gets a verdict. The requests count in the verdict
 * like any other; their own counts are kept here so evidence can say how many were synthetic.
 */
export class SyntheticLoad {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  /** Per version: second (epoch s) -> counts. */
  private readonly counts = new Map<string, Map<number, SyntheticCounts>>();
  private timer: NodeJS.Timeout | undefined;
  private version: string | undefined;
  private role: RouteRole = 'canary';
  private inFlight = 0;
  private lastError: string | undefined;

  constructor(private readonly options: SyntheticLoadOptions) {}

  /** Sends load to `version` from now on (idempotent); any other version's load stops. */
  run(version: string, role: RouteRole): void {
    if (this.version === version && this.role === role && this.timer) return;
    this.stop();
    this.version = version;
    this.role = role;
    const gapMs = Math.max(1, SECOND_MS / this.options.settings.rps);
    this.timer = setInterval(() => this.send(version), gapMs);
    this.timer.unref();
    this.options.logger.info(
      { version, rps: this.options.settings.rps },
      `synthetic load: ${this.options.settings.rps} requests/s to ${version}`,
    );
  }

  /** Stops sending; requests in flight finish on their own. Idempotent. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.version = undefined;
  }

  /** The version load goes to now, if any. */
  get target(): string | undefined {
    return this.version;
  }

  /** Synthetic requests sent to `version` whose answers arrived in the last `windowMs`. */
  window(version: string, windowMs: number): SyntheticCounts {
    const seconds = this.counts.get(version);
    const total = { requests: 0, errors: 0, unanswered: 0 };
    if (!seconds) return total;
    const from = Math.floor((this.options.clock.now() - windowMs) / SECOND_MS);
    for (const [second, c] of seconds) {
      if (second <= from) continue;
      total.requests += c.requests;
      total.errors += c.errors;
      total.unanswered += c.unanswered;
    }
    return total;
  }

  /** Stops sending and closes idle connections. */
  close(): void {
    this.stop();
    this.agent.destroy();
  }

  private send(version: string): void {
    if (this.inFlight >= MAX_IN_FLIGHT) return;
    const { settings } = this.options;
    const target = this.options.target(version, this.role, settings.path);
    if (!target) return;
    this.inFlight += 1;
    let settled = false;
    const done = (outcome: Outcome, why?: string): void => {
      // A timeout destroys the request, which then also reports an error: count it once.
      if (settled) return;
      settled = true;
      this.inFlight -= 1;
      this.count(version, outcome);
      if (why && why !== this.lastError) {
        this.options.logger.warn({ version }, `synthetic request to ${version} failed: ${why}`);
      }
      this.lastError = why;
    };
    const request = http.request(
      target.url,
      {
        agent: this.agent,
        headers: { ...settings.headers, ...target.headers, [SYNTHETIC_HEADER]: '1' },
        timeout: settings.timeoutMs,
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          done(status >= 500 ? 'error' : 'ok', status >= 500 ? `HTTP ${status}` : undefined);
        });
        response.on('error', (err) => done('unanswered', err.message));
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer in ${settings.timeoutMs}ms`)));
    request.on('error', (err) => done('unanswered', err.message));
    request.end();
  }

  private count(version: string, outcome: Outcome): void {
    let seconds = this.counts.get(version);
    if (!seconds) {
      seconds = new Map();
      this.counts.set(version, seconds);
      // Maps keep insertion order: the first key is the version counted longest ago.
      if (this.counts.size > MAX_VERSIONS) this.counts.delete(this.counts.keys().next().value as string);
    }
    const second = Math.floor(this.options.clock.now() / SECOND_MS);
    const c = seconds.get(second) ?? { requests: 0, errors: 0, unanswered: 0 };
    if (outcome === 'unanswered') c.unanswered += 1;
    else c.requests += 1;
    if (outcome === 'error') c.errors += 1;
    seconds.set(second, c);
    for (const old of seconds.keys()) {
      if (old > second - HISTORY_SECONDS) break;
      seconds.delete(old);
    }
  }
}
