/**
 * The contract every TrafficRouter passes, run by each router's own test file against real HTTP: two
 * versions of two app instances each behind the router, requests sent through it (on fresh connections
 * while the route changes). It checks the split, a version with no ready instance, no request dropped
 * across weight changes under load, and the route after a failure. What only one router does (the proxy's retries and exact split,
 * nginx's reload checks) stays in its own test file.
 */
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError, ProviderError } from '../../errors.js';
import { parseHostPort } from '../../util/net.js';
import type { Route, TrafficRouter, UpstreamSource } from './types.js';

/** Requests per weight in the split test: enough that one request is a tenth of a point. */
const SPLIT_REQUESTS = 1_000;
/** How far, in percentage points, the canary's share may be from its weight over SPLIT_REQUESTS. */
const SPLIT_TOLERANCE_POINTS = 3;
/** Clients sending at once. */
const LOAD_CLIENTS = 4;
/** Requests the load test sends at least, while the weight changes WEIGHT_CHANGES times. */
const LOAD_REQUESTS = 2_000;
const WEIGHT_CHANGES = 10;
/** Hard bounds on any load, so a router that stalls fails its test instead of hanging it. */
const LOAD_MAX_REQUESTS = 50 * LOAD_REQUESTS;
const LOAD_DEADLINE_MS = 45_000;
const POLL_MS = 5;
/** Requests that show where a route sends traffic when it sends all of it to one version. */
const PROBE_REQUESTS = 20;
const STABLE = 'v1';
const CANARY = 'v2';

/** App instances of each version behind the router under contract; each answers its version's name. */
export class VersionApps {
  private readonly servers: http.Server[] = [];
  private readonly addresses = new Map<string, string[]>();
  private readonly notReady = new Set<string>();

  /** The router's UpstreamSource: every address of a version, or none while it is marked not ready. */
  readonly upstreams: UpstreamSource = (version) =>
    this.notReady.has(version) ? [] : (this.addresses.get(version) ?? []);

  private constructor() {}

  /** Starts `instances[version]` app servers per version on free ports of 127.0.0.1. */
  static async start(instances: Record<string, number> = { [STABLE]: 2, [CANARY]: 2 }): Promise<VersionApps> {
    const apps = new VersionApps();
    for (const [version, count] of Object.entries(instances)) {
      for (let i = 0; i < count; i++) {
        const server = http.createServer((req, res) => {
          req.resume();
          res.end(version);
        });
        apps.servers.push(server);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const { port } = server.address() as net.AddressInfo;
        apps.addresses.set(version, [...(apps.addresses.get(version) ?? []), `127.0.0.1:${port}`]);
      }
    }
    return apps;
  }

  /** Takes every instance of `version` out of the upstream source (a fleet that sees none ready), or back. */
  setReady(version: string, ready: boolean): void {
    if (ready) this.notReady.delete(version);
    else this.notReady.add(version);
  }

  /** Stops every app server. */
  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }
}

/** A router under contract, started once per test file, in front of `apps`. */
export interface TrafficRouterHarness {
  router: TrafficRouter;
  /** `host:port` that clients send requests to. */
  address: string;
  /** What the router routes to: its UpstreamSource is `apps.upstreams`. */
  apps: VersionApps;
}

/** A way applying a route can fail on one router, beyond a route that is invalid for every router. */
export interface ApplyFailure {
  /** What goes wrong, for the test's name, e.g. "nginx -t rejects the config". */
  what: string;
  /** Makes the next setRoute fail; resolves to what undoes it. */
  cause(): Promise<() => Promise<void>>;
  /** What the rejection says. */
  message: RegExp;
}

/** How a router takes part in the contract. */
export interface TrafficRouterContractOptions {
  /** The started router; asked inside each test, after the file's own setup has run. */
  harness: () => TrafficRouterHarness;
  /** The router's own ways of failing to apply a route; none for a router that applies in memory. */
  applyFailures?: ApplyFailure[];
}

interface Reply {
  status: number;
  body: string;
}

/** One GET, on a connection of `agent` or, with `false`, on a fresh one. */
function send(address: string, agent: http.Agent | false): Promise<Reply> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** What requests sent through the router were answered with: versions of the 200s, and every failure. */
interface Served {
  total: number;
  byVersion: Record<string, number>;
  failures: string[];
  /** Whether sending stopped because the plan was done, rather than at LOAD_MAX_REQUESTS or LOAD_DEADLINE_MS. */
  done: boolean;
}

/** When a load run stops sending: after `requests`, and once `until()` holds too. */
interface LoadPlan {
  requests: number;
  until?: () => boolean;
  /** Told each time a request completes, with the number completed so far. */
  onCompleted?: (completed: number) => void;
  /**
   * A fresh connection per request, for requests sent while the route changes: a router that reloads
   * (nginx) closes idle keep-alive connections, and reusing one at that moment is the client's race.
   */
  freshConnections?: boolean;
}

/**
 * Sends requests LOAD_CLIENTS at a time as `plan` says, bounded by LOAD_MAX_REQUESTS and LOAD_DEADLINE_MS;
 * a status other than 200, or no answer at all, is a failure.
 */
async function load(address: string, plan: LoadPlan): Promise<Served> {
  const served: Served = { total: 0, byVersion: {}, failures: [], done: false };
  const deadline = Date.now() + LOAD_DEADLINE_MS;
  const until = plan.until ?? (() => true);
  const clients = Math.min(LOAD_CLIENTS, plan.requests);
  const agent = plan.freshConnections ? false : new http.Agent({ keepAlive: true, maxSockets: clients });
  let issued = 0;
  const client = async (): Promise<void> => {
    while (issued < LOAD_MAX_REQUESTS && Date.now() < deadline) {
      if (issued >= plan.requests && until()) {
        served.done = true;
        return;
      }
      issued++;
      try {
        const reply = await send(address, agent);
        if (reply.status === 200) served.byVersion[reply.body] = (served.byVersion[reply.body] ?? 0) + 1;
        else served.failures.push(`status ${reply.status}: ${reply.body.trim()}`);
      } catch (err) {
        served.failures.push((err as Error).message);
      }
      served.total++;
      plan.onCompleted?.(served.total);
    }
  };
  try {
    await Promise.all(Array.from({ length: clients }, client));
  } finally {
    if (agent) agent.destroy();
  }
  return served;
}

/** The contract's route: stable v1, canary v2 at `weight`. */
function route(weight: number): Route {
  return { stable: STABLE, canary: CANARY, weight };
}

/** The contract every TrafficRouter implementation passes. */
export function runTrafficRouterContract(name: string, options: TrafficRouterContractOptions): void {
  describe(`TrafficRouter contract: ${name}`, () => {
    const h = (): TrafficRouterHarness => options.harness();
    /** Where PROBE_REQUESTS requests went: the one version that answered them all, or a failure. */
    const allServedBy = async (): Promise<string> => {
      const served = await load(h().address, { requests: PROBE_REQUESTS });
      expect(served.failures).toEqual([]);
      const versions = Object.keys(served.byVersion);
      expect(versions).toHaveLength(1);
      return versions[0]!;
    };

    afterEach(() => {
      h().apps.setReady(STABLE, true);
      h().apps.setReady(CANARY, true);
    });

    it('applies a route, reads it back, and applies it again without change', async () => {
      const { router } = h();
      await router.setRoute(route(30));
      await router.setRoute(route(30));
      expect(await router.currentRoute()).toEqual(route(30));
      await router.setRoute({ stable: STABLE, canary: undefined, weight: 0 });
      expect(await router.currentRoute()).toEqual({ stable: STABLE, canary: undefined, weight: 0 });
      expect(await allServedBy()).toBe(STABLE);
    });

    it('sends every request to stable at weight 0 and to the canary at weight 100', async () => {
      await h().router.setRoute(route(0));
      expect(await allServedBy()).toBe(STABLE);
      await h().router.setRoute(route(100));
      expect(await allServedBy()).toBe(CANARY);
    });

    it(`sends the canary its weight of requests, within ${SPLIT_TOLERANCE_POINTS} points over ${SPLIT_REQUESTS}`, async () => {
      for (const weight of [10, 50]) {
        await h().router.setRoute(route(weight));
        const served = await load(h().address, { requests: SPLIT_REQUESTS });
        expect(served.failures).toEqual([]);
        expect((served.byVersion[STABLE] ?? 0) + (served.byVersion[CANARY] ?? 0)).toBe(SPLIT_REQUESTS);
        const share = (100 * (served.byVersion[CANARY] ?? 0)) / SPLIT_REQUESTS;
        expect(Math.abs(share - weight)).toBeLessThanOrEqual(SPLIT_TOLERANCE_POINTS);
      }
    });

    it('gives the share of a version with no ready instance to the other version', async () => {
      h().apps.setReady(CANARY, false);
      await h().router.setRoute(route(50));
      expect(await allServedBy()).toBe(STABLE);
      h().apps.setReady(CANARY, true);
      h().apps.setReady(STABLE, false);
      await h().router.setRoute(route(50));
      expect(await allServedBy()).toBe(CANARY);
    });

    it(`drops no request while the weight changes ${WEIGHT_CHANGES} times under load`, async () => {
      const { router, address } = h();
      await router.setRoute(route(0));
      let completed = 0;
      let changed = 0;
      // Each change waits for its share of completed requests, so every one happens under load.
      const changes = (async () => {
        const deadline = Date.now() + LOAD_DEADLINE_MS;
        for (let i = 1; i <= WEIGHT_CHANGES && Date.now() < deadline; i++) {
          while (completed < (i * LOAD_REQUESTS) / (WEIGHT_CHANGES + 1) && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          }
          await router.setRoute(route((i * 37) % 101));
          changed++;
        }
      })();
      const served = await load(address, {
        requests: LOAD_REQUESTS,
        until: () => changed === WEIGHT_CHANGES,
        onCompleted: (done) => (completed = done),
        freshConnections: true,
      });
      await changes;

      expect(changed).toBe(WEIGHT_CHANGES);
      // The load went on until the last change was applied: every change happened under load.
      expect(served.done).toBe(true);
      expect(served.failures).toEqual([]);
      expect(served.total).toBeGreaterThanOrEqual(LOAD_REQUESTS);
      expect((served.byVersion[STABLE] ?? 0) + (served.byVersion[CANARY] ?? 0)).toBe(served.total);
    });

    const failures: (ApplyFailure & { attempt: Route; kind: typeof InputError | typeof ProviderError })[] = [
      {
        what: 'a weight outside 0-100',
        cause: async () => async () => {},
        message: /traffic weight must be an integer from 0 to 100/,
        attempt: route(101),
        kind: InputError,
      },
      // The router's own failures reject a route that is valid.
      ...(options.applyFailures ?? []).map((failure) => ({
        ...failure,
        attempt: route(0),
        kind: ProviderError,
      })),
    ];
    for (const failure of failures) {
      it(`keeps the last good route when setRoute fails (${failure.what}), and applies the next one`, async () => {
        const { router } = h();
        await router.setRoute(route(100));
        const undo = await failure.cause();
        try {
          const attempt = router.setRoute(failure.attempt);
          await expect(attempt).rejects.toThrow(failure.message);
          await expect(attempt).rejects.toBeInstanceOf(failure.kind);
          expect(await router.currentRoute()).toEqual(route(100));
          expect(await allServedBy()).toBe(CANARY);
        } finally {
          await undo();
        }
        await router.setRoute(route(0));
        expect(await router.currentRoute()).toEqual(route(0));
        expect(await allServedBy()).toBe(STABLE);
      });
    }

    it('puts the route back in effect after a moment with no ready instance at all', async () => {
      const { router, apps } = h();
      await router.setRoute(route(0));
      apps.setReady(STABLE, false);
      apps.setReady(CANARY, false);
      const rejected = await router.setRoute(route(100)).then(
        () => undefined,
        (err: unknown) => err,
      );
      const during = await load(h().address, { requests: PROBE_REQUESTS });
      if (rejected === undefined) {
        // The router took the route with nothing to send to: every request is told so.
        expect(during.failures).toHaveLength(PROBE_REQUESTS);
        for (const failure of during.failures) expect(failure).toMatch(/^status 50[23]: /);
      } else {
        // The router kept its last good route, and said why.
        expect(rejected).toBeInstanceOf(ProviderError);
        expect(await router.currentRoute()).toEqual(route(0));
        expect(during.failures).toEqual([]);
        expect(Object.keys(during.byVersion)).toEqual([STABLE]);
      }

      apps.setReady(STABLE, true);
      apps.setReady(CANARY, true);
      await router.setRoute(route(100));
      expect(await router.currentRoute()).toEqual(route(100));
      expect(await allServedBy()).toBe(CANARY);
    });
  });
}
