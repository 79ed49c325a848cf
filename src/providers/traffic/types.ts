/** The split of a service's traffic between its stable and canary versions. */
export interface Route {
  /** Version that gets the rest of the traffic; undefined before the first release succeeds. */
  stable: string | undefined;
  /** Version under test; undefined when there is none. */
  canary: string | undefined;
  /** Percent (0-100, integer) of requests sent to the canary. */
  weight: number;
}

/**
 * Sends requests to the instances of the versions in a route. Every implementation passes the contract
 * suite in `traffic-router.case.ts`, against real HTTP: the promises below are what it checks.
 */
export interface TrafficRouter {
  /** Stable id used in config and logs, e.g. 'proxy'. */
  readonly type: string;
  /**
   * Apply a route; once it resolves, new requests follow it. Idempotent: safe on every reconcile.
   * - The canary gets `weight`% of requests, within a few points over a thousand; at 0 every request
   *   goes to stable, at 100 every request goes to the canary.
   * - A version with no ready instance (the UpstreamSource lists none) gets no request: its share goes
   *   to the other version. The source is read per request (proxy) or on each call (nginx), so a caller
   *   applies the route again when readiness changes, as the engine does on every pass.
   * - Changing the route drops no request: requests in flight finish where they were sent, and every
   *   request under steady load while the weight changes is answered.
   * - A call that rejects leaves the last good route in effect: `currentRoute()` still reports it and
   *   requests still follow it. A weight outside 0-100 rejects with InputError on every router. A router
   *   with an apply step that can fail rejects with ProviderError (nginx: `nginx -t` refuses the config,
   *   the reload is not acted on, or no version has a ready server); the built-in proxy applies a route
   *   in memory and fails on nothing else. With no ready instance at all, a router either keeps the last
   *   good route that way or answers 502/503 until instances are ready; either way the next call with
   *   ready instances puts the route fully back in effect.
   */
  setRoute(route: Route): Promise<void>;
  /** The route in effect: the last one applied, or undefined when the router cannot tell. */
  currentRoute(): Promise<Route | undefined>;
  /** Begins serving (the proxy binds its address); idempotent. */
  start(): Promise<void>;
  /**
   * Stops what `start` began once the work under way is done (requests in flight, a route change in
   * progress); a user's nginx keeps running with the last route. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Optional: stops what this object does but leaves the data plane serving the last route, for the next
   * router object to adopt (the built-in proxy's own process). A router without it is closed instead.
   */
  detach?(): Promise<void>;
}

/** Where the router finds the addresses of ready instances of a version. */
export type UpstreamSource = (version: string) => readonly string[];
