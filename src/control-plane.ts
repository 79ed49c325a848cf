/**
 * What `shipcheck up` runs in one process: the store, the API, and a unit (engine, fleet, router,
 * metric source) for every service, or every environment of a service, of the installation. Reload
 * adds, changes and removes services while the rest keep running.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { buildApi, createRegistry } from './api/server.js';
import { type AlertTarget, alertTargetOf } from './api/alertmanager.js';
import { SyntheticLoad, type SyntheticTarget } from './analysis/synthetic-load.js';
import type { LoadedConfig } from './config/loader.js';
import { type Installation, installationOf, loadInstallation } from './config/installation.js';
import { ChecklistRunner } from './checklist/checklist-runner.js';
import { checkKinds } from './checklist/kinds/index.js';
import { configuredIn, loadTemplate, type ResolvedItem, resolveItems } from './checklist/template.js';
import type { Config } from './config/schema.js';
import { Engine } from './engine/engine.js';
import { createMigrator } from './migrations/migrator.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { Lease } from './engine/lease.js';
import { Notifier } from './notify/notifier.js';
import { ConflictError, ProviderError } from './errors.js';
import { createFleet } from './providers/fleet/create-fleet.js';
import type { Fleet } from './providers/fleet/types.js';
import { createMetricSource } from './providers/metrics/create-metric-source.js';
import { RequestMetrics } from './providers/metrics/builtin/request-metrics.js';
import type { MetricSource } from './providers/metrics/types.js';
import { createRouter } from './providers/traffic/create-router.js';
import { type ProxyRouter, VERSION_HEADER } from './providers/traffic/proxy/proxy-router.js';
import type { TrafficRouter } from './providers/traffic/types.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/types.js';
import { type Clock, systemClock } from './util/clock.js';
import { parseHostPort } from './util/net.js';
import { unitName } from './domain/release.js';

/** Releases of another environment a promotion check looks through. */
const HISTORY_RELEASES = 200;
/** How often changes held back by a release in flight are tried again. */
const PENDING_RETRY_MS = 1000;

/** A unit's fleet, router and metric source: kept across a reload that leaves their config alone. */
interface Providers {
  fleet: Fleet;
  router: TrafficRouter;
  /** The built-in proxy, when `traffic.kind` is proxy. */
  proxy: ProxyRouter | undefined;
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
  proxy: ProxyRouter | undefined;
  metricSource: MetricSource;
  /** Base URL of this unit's built-in proxy; empty with nginx. */
  proxyUrl: string;
  /** Alertmanager's way in to this unit, when its config has `rollback.alerts`. */
  alerts: AlertTarget | undefined;
  providers: Providers;
}

/** What a reload did, by service name. */
export interface ReloadReport {
  added: string[];
  changed: string[];
  removed: string[];
  /** Changed while a release is in flight: applied when the release ends. */
  deferred: string[];
  unchanged: string[];
  /** Settings that only a restart applies (`server`, `store`). */
  restartNeeded: string[];
}

/** A running control plane: the store and API, and a unit per environment (or one for the service). */
export interface ControlPlane {
  installation: Installation;
  /** Every unit, in the installation's order. */
  readonly units: Unit[];
  /** The first unit's engine, fleet and router at start: the only ones when the config has one service and no environments. */
  engine: Engine;
  fleet: Fleet;
  router: TrafficRouter;
  store: Store;
  api: FastifyInstance;
  /** Base URL of the API, e.g. http://127.0.0.1:7070. */
  apiUrl: string;
  /** Base URL of the first unit's traffic proxy. */
  proxyUrl: string;
  /**
   * Applies the installation as it is on disk now (or `next`): adds, changes and removes services.
   * A release in flight keeps the config it started with; a service whose release is in flight
   * cannot be removed (ConflictError, and nothing changes).
   */
  reload(next?: Installation): Promise<ReloadReport>;
  /** Stops everything; with `stopInstances` the app instances are stopped too (graceful shutdown). */
  close(options: { stopInstances: boolean }): Promise<void>;
}

/** What every unit shares. */
interface Shared {
  store: Store;
  kinds: ReturnType<typeof checkKinds>;
  logger: Logger;
  registry: Registry;
  ownMetrics: EngineMetrics;
  /** Where local instances write their logs: `.shipcheck/logs` beside the installation's file. */
  logDir: string;
  leaseTtl: number;
  clock: Clock;
  options: { clock?: Clock; tickMs?: number };
  /** This replica's name in leases, when the store is shared (PostgreSQL); undefined with SQLite. */
  replica: string | undefined;
}

/**
 * A replica's name: SHIPCHECK_REPLICA_ID when set (a stable name lets a restarted replica resume its
 * own lease at once), else host, pid and a random suffix.
 */
export function replicaId(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.SHIPCHECK_REPLICA_ID?.trim();
  if (configured) return configured;
  return `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
}

/** Environments after the first get two items proving the version went through the one before. */
function promotionItems(previous: string): ResolvedItem[] {
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
function createProviders(
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
  });
  const metricSource = createMetricSource(config.metrics, {
    service: config.service,
    dir,
    requestMetrics,
    versionOf: (address) => fleet.instances().find((i) => i.address === address)?.version,
    logger: log,
  });
  return { fleet, router, proxy, metricSource, requestMetrics, key: providersKey(config, dir) };
}

/** The settings the providers are built from; a reload that leaves them alone keeps the providers. */
function providersKey(config: Config, dir: string): string {
  return JSON.stringify({ dir, fleet: config.fleet, traffic: config.traffic, metrics: config.metrics });
}

/** Builds (but does not start) one unit; `providers` are reused when a reload left them alone. */
async function createUnit(
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
        // Through the built-in proxy with the version header, so the proxy's metrics count it; behind
        // nginx straight to the version's instances (their own metrics count it, nginx's log does not).
        target: (version, role, requestPath): SyntheticTarget | undefined => {
          if (proxy)
            return { url: `http://${proxy.address()}${requestPath}`, headers: { [VERSION_HEADER]: role } };
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
    clock,
    logger: log.child({ component: 'checklist' }),
    recheckMs: config.analysis.interval,
    context: (release) => ({
      service: config.service,
      version: release.version,
      fromVersion: release.fromVersion,
      // Checks with `target: canary|stable` need the built-in proxy's version header.
      proxyUrl: proxy ? `http://${proxy.address()}` : '',
      configDir: dir,
      metrics: metricSource,
      ...(syntheticLoad
        ? { synthetic: (version: string, windowMs: number) => syntheticLoad.window(version, windowMs) }
        : {}),
      instances: (version) => fleet.instances(version),
      envOf: (version) => ({ ...config.fleet.env, APP_VERSION: version, SHIPCHECK_SERVICE: config.service }),
      config,
      clock,
      history,
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
      })
    : undefined;
  const notifier = config.notifications
    ? new Notifier({
        service: name,
        webhooks: config.notifications.webhooks,
        timeoutMs: config.notifications.timeout,
        store,
        clock,
        logger: log.child({ component: 'notify' }),
        holder: shared.replica ?? 'local',
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
  });
  return {
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
function targetsOf(
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
function fingerprint(loaded: LoadedConfig): string {
  return JSON.stringify({ dir: loaded.dir, config: loaded.config, environments: loaded.environments });
}

/** One service as it runs: its config and its units. */
interface ServiceRun {
  loaded: LoadedConfig;
  fingerprint: string;
  units: Unit[];
}

/** Builds a service's units (reusing the providers of `before` where they did not change). */
async function createService(
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

/** Starts a unit's providers (unless already running) and then its engine. */
async function startUnit(unit: Unit, providersRunning: boolean): Promise<void> {
  if (!providersRunning) {
    await unit.router.start();
    try {
      await unit.metricSource.start?.();
    } catch (err) {
      await unit.router.close().catch(() => undefined);
      throw err;
    }
  }
  if (unit.proxy) unit.proxyUrl = `http://${unit.proxy.address()}`;
}

/** Stops a unit's providers; a hooks fleet's instances belong to the platform and outlive it. */
async function closeProviders(providers: Providers, stopInstances: boolean): Promise<void> {
  await providers.fleet.close({ stopInstances: stopInstances && providers.fleet.type === 'local' });
  await providers.router.close();
  await providers.metricSource.close?.();
}

/** Starts what `shipcheck up` runs, in this process: every service of the installation. */
export async function startControlPlane(
  input: Installation | LoadedConfig,
  logger: Logger,
  options: { clock?: Clock; tickMs?: number } = {},
): Promise<ControlPlane> {
  const installation = 'services' in input ? input : installationOf(input);
  const kinds = checkKinds();
  // Templates and Alertmanager tokens are checked before the store opens, so a bad one leaves nothing
  // half-started.
  await checkServices(installation.services, kinds);
  const store = await openStore(installation.store);
  const registry = createRegistry();
  const shared: Shared = {
    store,
    kinds,
    logger,
    registry,
    ownMetrics: new EngineMetrics(registry),
    logDir: path.join(installation.dir, '.shipcheck', 'logs'),
    leaseTtl: installation.server.leaseTtl,
    clock: options.clock ?? systemClock,
    options,
    // SQLite lives on one machine with one control plane; PostgreSQL may be shared by several.
    replica: installation.store.startsWith('sqlite:') ? undefined : replicaId(),
  };
  const services = new Map<string, ServiceRun>();
  const engines = new Map<string, Engine>();
  const allUnits = (): Unit[] => [...services.values()].flatMap((run) => run.units);
  const api = buildApi({
    engines,
    store,
    logger,
    registry,
    alerts: () => allUnits().flatMap((unit) => unit.alerts ?? []),
    reload: async () => reload(),
  });

  const closeUnits = async (units: Unit[], stopInstances: boolean): Promise<void> => {
    for (const unit of units) await unit.engine.stop();
    for (const unit of units) {
      engines.delete(unit.name);
      await closeProviders(unit.providers, stopInstances);
    }
  };
  const startService = async (run: ServiceRun, running: ReadonlySet<Providers>): Promise<void> => {
    const started: Unit[] = [];
    try {
      for (const unit of run.units) {
        await startUnit(unit, running.has(unit.providers));
        started.push(unit);
        engines.set(unit.name, unit.engine);
        await unit.engine.start();
      }
    } catch (err) {
      await closeUnits(started, false).catch(() => undefined);
      throw err;
    }
  };

  try {
    for (const loaded of installation.services) {
      const run = await createService(loaded, shared, undefined);
      services.set(loaded.config.service, run);
    }
    const { host, port } = parseHostPort(installation.server.listen);
    for (const run of services.values()) await startProvidersOnly(run);
    try {
      await api.listen({ host, port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message;
      throw new ProviderError(`server.listen ${installation.server.listen}: ${why}`, { cause: err });
    }
    for (const run of services.values()) {
      for (const unit of run.units) {
        engines.set(unit.name, unit.engine);
        await unit.engine.start();
      }
    }
  } catch (err) {
    for (const run of services.values()) await closeUnits(run.units, false).catch(() => undefined);
    await api.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }

  /** Changes held back by a release in flight, by service. */
  const pending = new Map<string, LoadedConfig>();
  let reloading: Promise<unknown> = Promise.resolve();
  let current = installation;

  const activeIn = async (run: ServiceRun): Promise<string[]> => {
    const active: string[] = [];
    for (const unit of run.units) {
      const release = await store.activeRelease(unit.name);
      if (release) active.push(`${unit.name} #${release.id}`);
    }
    return active;
  };
  const replace = async (name: string, loaded: LoadedConfig): Promise<void> => {
    const before = services.get(name);
    const run = await createService(loaded, shared, before);
    const kept = new Set(run.units.map((unit) => unit.providers));
    if (before) {
      for (const unit of before.units) await unit.engine.stop();
      for (const unit of before.units) {
        engines.delete(unit.name);
        if (!kept.has(unit.providers)) await closeProviders(unit.providers, false);
      }
    }
    services.set(name, run);
    await startService(run, kept);
  };
  const applyPending = async (): Promise<void> => {
    for (const [name, loaded] of [...pending]) {
      const run = services.get(name);
      if (!run || (await activeIn(run)).length > 0) continue;
      pending.delete(name);
      await replace(name, loaded);
      logger.info({ service: name }, `reload: ${name} now runs its new config (its release ended)`);
    }
  };
  const pendingTimer = setInterval(() => {
    reloading = reloading
      .then(applyPending)
      .catch((err: unknown) => logger.error({ err }, 'applying a held-back config change failed'));
  }, PENDING_RETRY_MS);
  pendingTimer.unref();

  async function reload(next?: Installation): Promise<ReloadReport> {
    const run = reloading.then(async () => {
      const wanted = next ?? (await loadInstallation(current.file));
      await checkServices(wanted.services, kinds);
      const report: ReloadReport = {
        added: [],
        changed: [],
        removed: [],
        deferred: [],
        unchanged: [],
        restartNeeded: [],
      };
      if (JSON.stringify(wanted.server) !== JSON.stringify(current.server))
        report.restartNeeded.push('server');
      if (wanted.store !== current.store) report.restartNeeded.push('store');
      const wantedNames = new Set(wanted.services.map((loaded) => loaded.config.service));
      const busy: string[] = [];
      for (const [name, run] of services) {
        if (wantedNames.has(name)) continue;
        const active = await activeIn(run);
        if (active.length > 0) busy.push(`${name} (release ${active.join(', ')})`);
      }
      if (busy.length > 0) {
        throw new ConflictError(
          `cannot remove ${busy.join(', ')} while a release is in flight; nothing was changed: wait for it to end or abort it, then reload again`,
        );
      }
      for (const [name, run] of [...services]) {
        if (wantedNames.has(name)) continue;
        // A removed service's local instances stop with it; a hooks fleet's belong to the platform.
        await closeUnits(run.units, true);
        services.delete(name);
        pending.delete(name);
        report.removed.push(name);
      }
      for (const loaded of wanted.services) {
        const name = loaded.config.service;
        const run = services.get(name);
        if (!run) {
          const created = await createService(loaded, shared, undefined);
          services.set(name, created);
          await startService(created, new Set());
          report.added.push(name);
        } else if (run.fingerprint === fingerprint(loaded)) {
          pending.delete(name);
          report.unchanged.push(name);
        } else if ((await activeIn(run)).length > 0) {
          pending.set(name, loaded);
          report.deferred.push(name);
        } else {
          pending.delete(name);
          await replace(name, loaded);
          report.changed.push(name);
        }
      }
      // Keep the installation's order.
      const order = wanted.services.map((loaded) => loaded.config.service);
      const sorted = new Map([...services].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)));
      services.clear();
      engines.clear();
      for (const [name, run] of sorted) {
        services.set(name, run);
        for (const unit of run.units) engines.set(unit.name, unit.engine);
      }
      current = { ...wanted, server: current.server, store: current.store };
      plane.installation = current;
      logger.info(report, describeReload(report));
      return report;
    });
    reloading = run.catch(() => undefined);
    return run;
  }

  async function startProvidersOnly(run: ServiceRun): Promise<void> {
    for (const unit of run.units) await startUnit(unit, false);
  }

  const apiAddress = api.server.address();
  const apiPort = typeof apiAddress === 'object' && apiAddress ? apiAddress.port : 0;
  const apiHost = parseHostPort(installation.server.listen).host;
  const first = allUnits()[0];
  if (!first) throw new Error('no unit to run');
  const plane: ControlPlane = {
    installation,
    get units() {
      return allUnits();
    },
    engine: first.engine,
    fleet: first.fleet,
    router: first.router,
    store,
    api,
    apiUrl: `http://${apiHost}:${apiPort}`,
    proxyUrl: first.proxyUrl,
    reload,
    async close({ stopInstances }) {
      clearInterval(pendingTimer);
      await reloading;
      const units = allUnits();
      for (const unit of units) await unit.engine.stop();
      await api.close();
      for (const unit of units) await closeProviders(unit.providers, stopInstances);
      await store.close();
    },
  };
  return plane;
}

/** Loads every template and reads every Alertmanager token, so a bad one fails before anything starts. */
async function checkServices(
  services: readonly LoadedConfig[],
  kinds: ReturnType<typeof checkKinds>,
): Promise<void> {
  for (const loaded of services) {
    for (const target of targetsOf(loaded)) {
      await loadTemplate(target.config.checklist.template, { configDir: loaded.dir, kinds });
      alertTargetOf(target.config, target.environment);
    }
  }
}

/** One line saying what a reload did. */
export function describeReload(report: ReloadReport): string {
  const parts = [
    ['added', report.added],
    ['changed', report.changed],
    ['removed', report.removed],
    ['held until their release ends', report.deferred],
    ['unchanged', report.unchanged],
  ] as const;
  const said = parts
    .filter(([, names]) => names.length > 0)
    .map(([what, names]) => `${what}: ${names.join(', ')}`);
  const restart =
    report.restartNeeded.length > 0 ? `; ${report.restartNeeded.join(' and ')} take effect on restart` : '';
  return `reload: ${said.join('; ') || 'no services'}${restart}`;
}
