/**
 * A unit: one deployable target (a service, or one of its environments) with its engine, fleet,
 * router and metric source, built from its config. The control plane starts, reloads and stops them.
 */
import type { ChannelTester } from './checklist/types.js';
import type { Sealer } from './security/sealed-params.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type AlertTarget, alertTargetOf } from './api/alertmanager.js';
import { SyntheticLoad, type SyntheticTarget } from './analysis/synthetic-load.js';
import type { LoadedConfig } from './config/loader.js';
import { ChecklistRunner } from './checklist/checklist-runner.js';
import { checkKinds } from './checklist/kinds/index.js';
import { configuredIn, loadTemplate, type ResolvedItem, resolveItems } from './checklist/template.js';
import type { Config } from './config/schema.js';
import { Engine } from './engine/engine.js';
import { createMigrator } from './app-database/create-migrator.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { Lease } from './engine/lease.js';
import type { LeaseShare } from './engine/lease-share.js';
import { Notifier } from './notify/notifier.js';
import { createFleet } from './providers/fleet/create-fleet.js';
import type { Fleet } from './providers/fleet/types.js';
import { createMetricSource } from './providers/metrics/create-metric-source.js';
import { RequestMetrics } from './providers/metrics/builtin/request-metrics.js';
import type { MetricSource } from './providers/metrics/types.js';
import { createRouter } from './providers/traffic/create-router.js';
import type { BuiltinProxy } from './providers/traffic/proxy/builtin-proxy.js';
import type { TrafficRouter } from './providers/traffic/types.js';
import type { EventRow, LeaseLocks, Store } from './store/types.js';
import type { Clock } from './util/clock.js';
import { unitName } from './domain/release.js';
import type { ResolveTargets } from './comms/incidents/types.js';
import type { Scheduler } from './maintenance/scheduler.js';
import { checkScheduleOverrides, createUnitScheduler } from './maintenance/unit-scheduler.js';

/** Releases of another environment a promotion check looks through. */
const HISTORY_RELEASES = 200;
/** How long one webhook delivery may take when the unit has no `notifications` block of its own. */
const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;

/** A unit's fleet, router and metric source: kept across a reload that leaves their config alone. */
export interface Providers {
  fleet: Fleet;
  router: TrafficRouter;
  /** The built-in proxy, when `traffic.kind` is proxy. */
  proxy: BuiltinProxy | undefined;
  metricSource: MetricSource;
  requestMetrics: RequestMetrics;
  /** The config they were built from, to tell whether a reload changes them. */
  key: string;
}

/** One deployable target: the service, or one of its environments, with its own fleet, proxy and engine. */
export interface Unit {
  /** The name releases are stored and addressed under: `web`, or `web@staging`. */
  name: string;
  service: string;
  environment: string | undefined;
  engine: Engine;
  fleet: Fleet;
  router: TrafficRouter;
  /** The built-in proxy, when `traffic.kind` is proxy. */
  proxy: BuiltinProxy | undefined;
  metricSource: MetricSource;
  /** Base URL of this unit's built-in proxy; empty with nginx. */
  proxyUrl: string;
  /** Alertmanager's way in to this unit, when its config has `rollback.alerts`. */
  alerts: AlertTarget | undefined;
  providers: Providers;
  /** Runs the unit's scheduled checklist items between releases (maintenance/scheduler.ts). */
  scheduler: Scheduler;
}

/** What every unit shares. */
export interface Shared {
  store: Store;
  kinds: ReturnType<typeof checkKinds>;
  logger: Logger;
  registry: Registry;
  ownMetrics: EngineMetrics;
  /** Where local instances write their logs: `.shipcheck/logs` beside the installation's file. */
  logDir: string;
  /**
   * Where a built-in proxy run in its own process keeps its state file and socket: the installation's
   * `.shipcheck` folder, and a prefix for their names that tells installation files sharing a folder
   * apart (replicas on one host). Absent, the built-in proxy runs in this process (tests on an
   * injected clock).
   */
  proxyProcess?: { dir: string; prefix: string };
  leaseTtl: number;
  clock: Clock;
  options: { clock?: Clock; tickMs?: number };
  /** This replica's name in leases, when the store is shared (PostgreSQL); undefined with SQLite. */
  replica: string | undefined;
  /** How this replica shares the units with the others; one for all its leases. */
  leaseShare: LeaseShare | undefined;
  /** This replica's session locks beside its lease rows (PostgreSQL); one for all its leases. */
  leaseLocks: LeaseLocks | undefined;
  /** Seals checklist params that hold a secret; absent in tests that keep no secrets. */
  sealer?: Sealer;
  /** The master key's age, for the key rotation schedule item. */
  masterKey?: () => { id: string; origin: string; ageMs: number | undefined };
  /** Carries out a unit's release communication policy for one of its events (comms/communicator.ts). */
  communicate?: (
    unit: string,
    policy: NonNullable<Config['communication']>,
    event: EventRow,
  ) => Promise<void>;
  /** The installation's notification channels, for the `notify` check. */
  notify?: ChannelTester;
  /** Resolves `maintenance.notify` to destinations, for notices of failing scheduled items. */
  maintenanceTargets?: ResolveTargets;
}

/** Environments after the first get two items proving the version went through the one before. */
export function promotionItems(previous: string): ResolvedItem[] {
  const section = 'Pre-Deployment / Promotion';
  return [
    {
      id: `pre-deployment/promotion/succeeded-in-${previous}`,
      section,
      title: `This version succeeded in ${previous}`,
      kind: 'promoted',
      gate: 'pre-deploy',
      params: { environment: previous },
      automated: true,
    },
    {
      id: `pre-deployment/promotion/migrations-rehearsed-on-${previous}`,
      section,
      title: `Migrations rehearsed on ${previous}`,
      kind: 'rehearsed',
      gate: 'pre-deploy',
      params: { environment: previous },
      automated: true,
    },
  ];
}

/** The fleet, router and metric source of one unit (built, not started). */
export function createProviders(
  config: Config,
  environment: string | undefined,
  dir: string,
  shared: Shared,
  log: Logger,
): Providers {
  const requestMetrics = new RequestMetrics(shared.options.clock ? { clock: shared.options.clock } : {});
  // The router asks the fleet for ready instances on each request; the fleet asks the router to drain.
  // Only the built-in proxy can wait for requests in flight; nginx drops a server from its upstream
  // block on reload and lets its open requests finish, and the app finishes them on SIGTERM.
  const drainer = { drain: async (address: string, timeoutMs: number) => proxy?.drain(address, timeoutMs) };
  const fleet = createFleet(config.fleet, {
    service: config.service,
    environment,
    dir,
    logDir: shared.logDir,
    records: shared.store,
    drainer,
    logger: log.child({ component: 'fleet' }),
  });
  const { router, proxy } = createRouter(config.traffic, {
    dir,
    upstreams: (version) => fleet.readyAddresses(version),
    requestMetrics,
    logger: log,
    ...(shared.proxyProcess
      ? {
          proxyProcess: {
            unit: unitName(config.service, environment),
            name: `${shared.proxyProcess.prefix}${unitName(config.service, environment)}`,
            shipcheckDir: shared.proxyProcess.dir,
            instances: () => fleet.instances(),
          },
        }
      : {}),
  });
  const metricSource = createMetricSource(config.metrics, {
    service: config.service,
    dir,
    requestMetrics,
    ...(proxy?.refreshMetrics
      ? { refreshRequestMetrics: () => proxy.refreshMetrics?.() ?? Promise.resolve() }
      : {}),
    versionOf: (address) => fleet.instances().find((i) => i.address === address)?.version,
    logger: log,
  });
  return { fleet, router, proxy, metricSource, requestMetrics, key: providersKey(config, dir) };
}

/** The settings the providers are built from; a reload that leaves them alone keeps the providers. */
export function providersKey(config: Config, dir: string): string {
  return JSON.stringify({ dir, fleet: config.fleet, traffic: config.traffic, metrics: config.metrics });
}

/** Builds (but does not start) one unit; `providers` are reused when a reload left them alone. */
export async function createUnit(
  config: Config,
  environment: string | undefined,
  previous: string | undefined,
  dir: string,
  shared: Shared,
  reuse: Providers | undefined,
): Promise<Unit> {
  const { store, kinds, logger, clock, options } = shared;
  const name = unitName(config.service, environment);
  // `unit` rather than `service`: several log lines carry a `service` field of their own.
  const log = logger.child({ unit: name });
  // The template is checked before anything starts, so a bad one fails fast with file:line:col.
  const template = await loadTemplate(config.checklist.template, { configDir: dir, kinds });
  const items = [
    ...(previous ? promotionItems(previous) : []),
    ...resolveItems(template, { vars: config.checklist.vars, configured: configuredIn(config) }),
  ];
  const providers =
    reuse && reuse.key === providersKey(config, dir)
      ? reuse
      : createProviders(config, environment, dir, shared, log);
  const { fleet, router, proxy, metricSource } = providers;
  const synthetic = config.analysis.syntheticLoad;
  let nextInstance = 0;
  const syntheticLoad = synthetic
    ? new SyntheticLoad({
        settings: {
          rps: synthetic.rps,
          path: synthetic.path,
          headers: synthetic.headers,
          timeoutMs: synthetic.timeout,
        },
        // Through the built-in proxy with the version header and the force token, so the proxy's
        // metrics count it (synthetic requests count in analysis though forced); behind
        // nginx straight to the version's instances (their own metrics count it, nginx's log does not).
        target: (version, role, requestPath): SyntheticTarget | undefined => {
          if (proxy)
            return { url: `http://${proxy.address()}${requestPath}`, headers: proxy.forceHeaders(role) };
          const addresses = fleet.readyAddresses(version);
          if (addresses.length === 0) return undefined;
          nextInstance = (nextInstance + 1) % addresses.length;
          return { url: `http://${addresses[nextInstance] ?? ''}${requestPath}`, headers: {} };
        },
        clock,
        logger: log.child({ component: 'synthetic-load' }),
      })
    : undefined;
  const history = {
    releases: (env: string) => store.listReleases(unitName(config.service, env), HISTORY_RELEASES),
    checklist: (releaseId: number) => store.listChecklist(releaseId),
  };
  const runner: ChecklistRunner = new ChecklistRunner({
    store,
    kinds,
    ...(shared.sealer ? { sealer: shared.sealer } : {}),
    clock,
    logger: log.child({ component: 'checklist' }),
    recheckMs: config.analysis.interval,
    context: (release) => ({
      service: config.service,
      unit: name,
      version: release.version,
      fromVersion: release.fromVersion,
      // Checks with `target: canary|stable` need the built-in proxy's version header.
      proxyUrl: proxy ? `http://${proxy.address()}` : '',
      ...(proxy ? { proxyForceHeaders: (target: 'stable' | 'canary') => proxy.forceHeaders(target) } : {}),
      configDir: dir,
      ...(shared.masterKey ? { masterKey: shared.masterKey } : {}),
      ...(shared.notify ? { notify: shared.notify } : {}),
      metrics: metricSource,
      ...(syntheticLoad
        ? { synthetic: (version: string, windowMs: number) => syntheticLoad.window(version, windowMs) }
        : {}),
      instances: (version) => fleet.instances(version),
      envOf: (version) => ({ ...config.fleet.env, APP_VERSION: version, SHIPCHECK_SERVICE: config.service }),
      config,
      clock,
      history,
      store,
      scaling: engine.scaling,
      checklistItems: items,
    }),
    onItem: (release, item) => {
      engine
        .itemChanged(release, item)
        .catch((err: unknown) => log.error({ err }, 'recording an item event failed'));
    },
  });
  const migrator = createMigrator(config, dir);
  const lease = shared.replica
    ? new Lease({
        store,
        name,
        holder: shared.replica,
        ttlMs: shared.leaseTtl,
        clock,
        logger: log.child({ component: 'lease' }),
        share: shared.leaseShare,
        ...(shared.leaseLocks ? { locks: shared.leaseLocks } : {}),
      })
    : undefined;
  const policy = config.communication;
  const communicate = shared.communicate;
  const notifier =
    config.notifications || (policy && communicate)
      ? new Notifier({
          service: name,
          webhooks: config.notifications?.webhooks ?? [],
          timeoutMs: config.notifications?.timeout ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
          store,
          clock,
          logger: log.child({ component: 'notify' }),
          holder: shared.replica ?? 'local',
          ...(policy && communicate
            ? { onEvent: (event: EventRow) => communicate(name, policy, event) }
            : {}),
        })
      : undefined;
  const engine: Engine = new Engine({
    ...(migrator ? { migrator } : {}),
    ...(notifier ? { notifier } : {}),
    ...(lease ? { lease } : {}),
    ...(syntheticLoad ? { syntheticLoad } : {}),
    ...(environment ? { environment } : {}),
    checklist: { runner, items: () => items },
    ownMetrics: shared.ownMetrics,
    config,
    store,
    fleet,
    router,
    metrics: metricSource,
    logger: log.child({ component: 'engine' }),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.tickMs ? { tickMs: options.tickMs } : {}),
    registry: shared.registry,
  });
  const scheduler = createUnitScheduler({
    unit: name,
    config,
    items,
    store,
    kinds,
    clock,
    lease,
    runner,
    logger: log.child({ component: 'scheduler' }),
    holder: shared.replica ?? 'local',
    resolveTargets: shared.maintenanceTargets,
  });
  return {
    scheduler,
    name,
    service: config.service,
    environment,
    engine,
    fleet,
    router,
    proxy,
    metricSource,
    proxyUrl: '',
    alerts: alertTargetOf(config, environment),
    providers,
  };
}

/** The units of one service: one, or one per environment in promotion order. */
export function targetsOf(
  loaded: LoadedConfig,
): { config: Config; environment: string | undefined; previous: string | undefined }[] {
  return loaded.environments.length === 0
    ? [{ config: loaded.config, environment: undefined, previous: undefined }]
    : loaded.environments.map((env, i) => ({
        config: env.config,
        environment: env.name,
        previous: loaded.environments[i - 1]?.name,
      }));
}

/** What a reload compares to tell whether a service changed. */
export function fingerprint(loaded: LoadedConfig): string {
  return JSON.stringify({ dir: loaded.dir, config: loaded.config, environments: loaded.environments });
}

/** One service as it runs: its config and its units. */
export interface ServiceRun {
  loaded: LoadedConfig;
  fingerprint: string;
  units: Unit[];
}

/** Builds a service's units (reusing the providers of `before` where they did not change). */
export async function createService(
  loaded: LoadedConfig,
  shared: Shared,
  before: ServiceRun | undefined,
): Promise<ServiceRun> {
  const units: Unit[] = [];
  for (const target of targetsOf(loaded)) {
    const reuse = before?.units.find((unit) => unit.environment === target.environment)?.providers;
    units.push(
      await createUnit(target.config, target.environment, target.previous, loaded.dir, shared, reuse),
    );
  }
  return { loaded, fingerprint: fingerprint(loaded), units };
}

/** Starts a unit's router and metric source (unless a reload kept them running); its engine starts after. */
export async function startProviders(unit: Unit, providersRunning: boolean): Promise<void> {
  if (!providersRunning) {
    await unit.router.start();
    try {
      await unit.metricSource.start?.();
    } catch (err) {
      // A proxy process keeps serving for the control plane that does start.
      await leaveRouter(unit.router).catch(() => undefined);
      throw err;
    }
  }
  if (unit.proxy) unit.proxyUrl = `http://${unit.proxy.address()}`;
}

/**
 * Stops a unit's providers; a hooks fleet's instances belong to the platform and outlive it. Without
 * `stopInstances`, a router that can (the built-in proxy's process) is left serving for the next
 * control plane or provider set to adopt, as the local instances are, unless `leaveRouter` is false
 * (nothing will adopt it: the unit's traffic no longer goes through the built-in proxy).
 */
export async function closeProviders(
  providers: Providers,
  stopInstances: boolean,
  options: { leaveRouter?: boolean } = {},
): Promise<void> {
  await providers.fleet.close({ stopInstances: stopInstances && providers.fleet.type === 'local' });
  const leave = options.leaveRouter ?? !stopInstances;
  await (leave ? leaveRouter(providers.router) : providers.router.close());
  await providers.metricSource.close?.();
}

/** Detaches a router that can be left serving; closes any other. */
function leaveRouter(router: TrafficRouter): Promise<void> {
  return router.detach ? router.detach() : router.close();
}

/** Loads every template and reads every Alertmanager token, so a bad one fails before anything starts. */
export async function checkServices(
  services: readonly LoadedConfig[],
  kinds: ReturnType<typeof checkKinds>,
): Promise<void> {
  for (const loaded of services) {
    for (const target of targetsOf(loaded)) {
      const template = await loadTemplate(target.config.checklist.template, { configDir: loaded.dir, kinds });
      checkScheduleOverrides(loaded, target.environment, target.config, template.items);
      alertTargetOf(target.config, target.environment);
    }
  }
}
