/**
 * The control channel between the control plane and the built-in proxy's own process: HTTP with JSON
 * bodies over a Unix socket in a 0700 folder under `.shipcheck/`. What each side sends, in one place.
 */
import type { SecondBucket } from '../../metrics/builtin/request-metrics.js';
import type { Route } from '../types.js';
import type { ProxyTimeouts } from './proxy-router.js';

/**
 * Bumped when a message changes shape: a control plane replaces a proxy process that speaks another
 * protocol (one left running by an older shipcheck) instead of adopting it.
 */
export const CONTROL_PROTOCOL = 2;

/** Paths of the control channel. */
export const CONTROL_PATHS = {
  /** GET: ProxyStatus. */
  status: '/status',
  /** PUT: TablePush; 204, or 400 with `{ message }` for a bad route. */
  table: '/table',
  /** POST: DrainRequest; 204 once no request to the address is in flight, or after the timeout. */
  drain: '/drain',
  /** GET `?address=host:port`: InflightAnswer. */
  inflight: '/inflight',
  /** GET `?since=<epoch second>`: MetricsAnswer. */
  metrics: '/metrics',
  /** PUT: Controller, the control plane that drives the proxy now; DELETE: none does. */
  controller: '/controller',
} as const;

/** The ready addresses of each version, as the proxy serves them until the next push. */
export type UpstreamTable = Record<string, string[]>;

/** The listen settings a proxy process was started with; a different one is replaced, not adopted. */
export interface ListenSettings {
  listen: string;
  timeouts: ProxyTimeouts;
}

/** What a proxy process says about itself. */
export interface ProxyStatus extends ListenSettings {
  protocol: number;
  pid: number;
  /** The `host:port` actually bound. */
  address: string;
  route: Route;
  upstreams: UpstreamTable;
  /** False until a control plane pushed a table: the proxy has nothing to serve yet. */
  pushed: boolean;
  /** The control plane that drives it, or null when none has claimed it or the last one let go. */
  controller: Controller | null;
  /**
   * The token its ProxyRouter honours the version header with: `traffic.forceToken`, or one the process
   * drew itself. Only this user can read the socket, as it can read the config file.
   */
  forceToken: string;
}

/** A control plane process, by pid and kernel start time (to tell it from a later one reusing the pid). */
export interface Controller {
  pid: number;
  startTime: string;
}

/** A new upstream table, and with it (atomically) a new route. */
export interface TablePush {
  upstreams: UpstreamTable;
  route?: Route;
}

/** Wait for the requests in flight to `address`, at most `timeoutMs`. */
export interface DrainRequest {
  address: string;
  timeoutMs: number;
}

/** Requests in flight to an address, and the proxy's open connections to it. */
export interface InflightAnswer {
  inflight: number;
  connections: number;
}

/** Seconds recorded since the cursor; `now` is the current second, which is still under way. */
export interface MetricsAnswer {
  now: number;
  buckets: SecondBucket[];
}

/** What a proxy process is started with (as JSON in SHIPCHECK_PROXY) and writes to its state file. */
export interface ProxyProcessConfig extends ListenSettings {
  /** The unit it serves, for its log lines. */
  unit: string;
  /** The control socket's path. */
  socket: string;
  /** Where it writes its ProxyState once it serves, and removes it when it stops. */
  stateFile: string;
  /** `traffic.forceFrom`. */
  forceFrom: string[];
  /**
   * SHA-256 (hex) of `traffic.forceToken`, or '' when the config names none and the process draws its
   * own; a change replaces the process. The token itself travels in PROXY_FORCE_TOKEN_ENV, never in
   * the state file.
   */
  forceTokenDigest: string;
}

/** The state file: who the proxy process is and how to reach it, for the next control plane to adopt it. */
export interface ProxyState extends ProxyProcessConfig {
  protocol: number;
  pid: number;
  /** The kernel's start time of `pid`, to tell it from a later process reusing the pid. */
  startTime: string;
  address: string;
}

/** The environment variable carrying a ProxyProcessConfig to the proxy process. */
export const PROXY_CONFIG_ENV = 'SHIPCHECK_PROXY';
/** The environment variable carrying `traffic.forceToken` to the proxy process, when the config names one. */
export const PROXY_FORCE_TOKEN_ENV = 'SHIPCHECK_PROXY_FORCE_TOKEN';
