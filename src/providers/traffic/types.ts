/** The split of a service's traffic between its stable and canary versions. */
export interface Route {
  /** Version that gets the rest of the traffic; undefined before the first release succeeds. */
  stable: string | undefined;
  /** Version under test; undefined when there is none. */
  canary: string | undefined;
  /** Percent (0-100, integer) of requests sent to the canary. */
  weight: number;
}

/** Sends requests to the instances of the versions in a route. */
export interface TrafficRouter {
  /** Stable id used in config and logs, e.g. 'proxy'. */
  readonly type: string;
  /** Apply a route. Idempotent: safe on every reconcile. Requests in flight are never dropped. */
  setRoute(route: Route): Promise<void>;
  /** The route in effect, or undefined when the router cannot tell. */
  currentRoute(): Promise<Route | undefined>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Where the router finds the addresses of ready instances of a version. */
export type UpstreamSource = (version: string) => readonly string[];
