/**
 * What runs and takes traffic for one unit besides what a release scales: the stable version, the
 * previous one kept warm for rollback.keepPreviousFor, the route, and synthetic load. The route is
 * never stored on its own: it is derived on every pass from the service row and the active release,
 * so applying it is idempotent. Versions nobody needs are drained and stopped in the background.
 */
import type { Logger } from 'pino';
import type { SyntheticLoad } from '../analysis/synthetic-load.js';
import type { Fleet } from '../providers/fleet/types.js';
import type { Route, TrafficRouter } from '../providers/traffic/types.js';
import type { ReleaseRow, ServiceRow } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import type { Effects } from './effects.js';
import { LeaseLostError } from './lease.js';
import type { UnitRecords } from './unit-records.js';

/** Phases in which a release's version is under analysis and may need synthetic traffic. */
const ANALYSED_PHASES: ReadonlySet<ReleaseRow['phase']> = new Set([
  'canary',
  'verifying',
  'verify',
  'post-deploy',
]);

/** The route for a service row and its active release. */
export function routeFor(service: ServiceRow, release: ReleaseRow | undefined): Route {
  if (!release) return { stable: service.stableVersion ?? undefined, canary: undefined, weight: 0 };
  // A first release has nothing to protect: its instances take traffic as soon as they are ready.
  if (!service.stableVersion) return { stable: release.version, canary: undefined, weight: 0 };
  if (service.stableVersion === release.version)
    return { stable: release.version, canary: undefined, weight: 0 };
  return { stable: service.stableVersion, canary: release.version, weight: release.weight };
}

/** What serving one unit needs. */
export interface ServingOptions {
  /** How many instances the stable and the previous version run: fleet.instances, or what they were scaled to. */
  instances: () => number;
  fleet: Fleet;
  router: TrafficRouter;
  /** Where a weight change is recorded before and after it is applied. */
  effects: Effects;
  syntheticLoad: SyntheticLoad | undefined;
  records: UnitRecords;
  clock: Clock;
  logger: Logger;
  /** Throws (LeaseLostError) when this replica may no longer act on the unit; asked before each action. */
  acting: () => void;
}

/** One unit's versions kept running, its route, its synthetic load, and the versions being stopped. */
export class Serving {
  private readonly stopping = new Map<string, Promise<void>>();
  private lastRouteError: string | undefined;

  constructor(private readonly options: ServingOptions) {}

  /**
   * Keeps the stable and the previous version running, except the version the release scales itself,
   * and retires the previous version once its time is up. Returns the service row as it now is.
   */
  async keepVersions(service: ServiceRow, release: ReleaseRow | undefined): Promise<ServiceRow> {
    const { fleet, records, acting } = this.options;
    const instances = this.options.instances();
    if (service.stableVersion && service.stableVersion !== release?.version) {
      acting();
      await fleet.ensure(service.stableVersion, instances, { restartOnExit: true });
    }
    if (!service.previousVersion) return service;
    if (service.previousRetireAt !== null && service.previousRetireAt <= this.options.clock.now()) {
      const retired = service.previousVersion;
      const kept = await records.dropPrevious(service);
      await records.emitService(
        'version.retired',
        `${retired} drained and stopped after rollback.keepPreviousFor`,
      );
      return kept;
    }
    if (service.previousVersion !== release?.version) {
      acting();
      await fleet.ensure(service.previousVersion, instances, { restartOnExit: true });
    }
    return service;
  }

  /**
   * Applies the route for `service` and `release`, recording a weight change as an effect. A router
   * that cannot (nginx refusing a config, no ready server yet) is logged once per distinct problem and
   * retried on the next pass; the stored intent is already durable. False when it could not.
   */
  route(service: ServiceRow, release: ReleaseRow | undefined): Promise<boolean> {
    return this.apply(routeFor(service, release), release);
  }

  /** Applies `route`, as `route()` does. */
  async apply(route: Route, release: ReleaseRow | undefined): Promise<boolean> {
    // Nothing deployed yet: nothing to route, and no router to bother.
    if (route.stable === undefined && route.canary === undefined) return true;
    try {
      // Asked after the effect's record is written, just before the router changes anything.
      await this.options.effects.traffic(release, route, async () => {
        this.options.acting();
        await this.options.router.setRoute(route);
      });
      this.lastRouteError = undefined;
      return true;
    } catch (err) {
      if (err instanceof LeaseLostError) throw err;
      const message = (err as Error).message;
      if (message !== this.lastRouteError)
        this.options.logger.warn({ err, route }, `applying the route failed: ${message}`);
      this.lastRouteError = message;
      return false;
    }
  }

  /** Synthetic load goes to a deploy's version from its canary gate through its post-deploy gate. */
  driveSyntheticLoad(release: ReleaseRow | undefined): void {
    const load = this.options.syntheticLoad;
    if (!load) return;
    if (release && release.kind === 'deploy' && ANALYSED_PHASES.has(release.phase)) {
      // A first release is the route's stable version; any later one is its canary.
      const first = release.fromVersion === null;
      load.run(release.version, first ? 'stable' : 'canary');
    } else {
      load.stop();
    }
  }

  /** Stops versions nobody needs any more: a finished canary, a retired previous version. */
  stopOrphans(service: ServiceRow, release: ReleaseRow | undefined): void {
    const keep = new Set([service.stableVersion, service.previousVersion, release?.version]);
    for (const version of this.options.fleet.versions()) {
      if (!keep.has(version)) this.stop(version);
    }
  }

  /** Drains and stops `version` in the background, once however often it is asked. */
  stop(version: string): void {
    if (this.stopping.has(version)) return;
    this.options.acting();
    const done = this.options.fleet
      .stop(version)
      .catch((err: unknown) => this.options.logger.error({ err, version }, 'stopping instances failed'))
      .finally(() => this.stopping.delete(version));
    this.stopping.set(version, done);
  }

  /** Waits for the versions being stopped. */
  async idle(): Promise<void> {
    await Promise.allSettled(this.stopping.values());
  }

  /** Whether a version has a ready instance taking requests. */
  answers(version: string): boolean {
    return this.options.fleet.instances(version).some((i) => i.state === 'ready');
  }
}
