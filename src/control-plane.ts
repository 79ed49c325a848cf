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
import { buildApi, createRegistry } from './api/server.js';
import { apiTlsOf } from './api/tls.js';
import type { LoadedConfig } from './config/loader.js';
import { type Installation, installationOf, loadInstallation } from './config/installation.js';
import { checkKinds } from './checklist/kinds/index.js';
import { Engine } from './engine/engine.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { LeaseShare } from './engine/lease-share.js';
import { ConflictError, ProviderError } from './errors.js';
import type { Fleet } from './providers/fleet/types.js';
import type { TrafficRouter } from './providers/traffic/types.js';
import { openStore } from './store/open-store.js';
import { RetentionPruner } from './store/retention-pruner.js';
import { EscalationRunner, type IncidentContext } from './comms/incidents/escalation.js';
import { Incidents } from './comms/incidents/incidents.js';
import { onCallTargets, policiesOf } from './comms/incidents/wiring.js';
import { Communicator } from './comms/communicator.js';
import { StatusPage } from './comms/status-page/status-page.js';
import { StatusRecorder } from './comms/status-page/status-recorder.js';
import { unitsHealth } from './comms/status-page/unit-health.js';
import { startSecurity } from './security/security.js';
import { type ChannelChanges, NotificationDispatcher } from './comms/notification-dispatcher.js';
import { NotificationMetrics } from './comms/notification-metrics.js';
import type { Store } from './store/types.js';
import { type Clock, systemClock } from './util/clock.js';
import { parseHostPort } from './util/net.js';
import {
  type Providers,
  type ServiceRun,
  type Shared,
  type Unit,
  checkServices,
  closeProviders,
  createService,
  fingerprint,
  startProviders,
} from './unit.js';

export type { Unit } from './unit.js';

/** How often changes held back by a release in flight are tried again. */
const PENDING_RETRY_MS = 1000;
/** How often monitored incidents are checked for their time to resolve. */
const RESOLVE_DUE_INTERVAL_MS = 1000;

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
  /** The notification channels (`channels:`) added, changed and removed, by channel name. */
  channels: ChannelChanges;
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
  /** Base URL of the API, e.g. http://127.0.0.1:7070, or https:// with `server.tls`. */
  apiUrl: string;
  /** Base URL of the first unit's traffic proxy. */
  proxyUrl: string;
  /** The public status page (`statusPage:`), when the installation has one. */
  readonly statusPage: StatusPage | undefined;
  /** The one-time code that creates the first admin while the store has no users. */
  readonly setupCode: string | undefined;
  /** false when `server.auth.required: false` opened the API. */
  authRequired: boolean;
  /**
   * Applies the installation as it is on disk now (or `next`): adds, changes and removes services.
   * A release in flight keeps the config it started with; a service whose release is in flight
   * cannot be removed (ConflictError, and nothing changes).
   */
  reload(next?: Installation): Promise<ReloadReport>;
  /**
   * Stops everything; with `stopInstances` the app instances and the built-in proxy's process are
   * stopped too (graceful shutdown), without it they keep serving for the next control plane to adopt.
   * `progress` hears each step as it begins (`stopping the instances of web`), so a caller that gives
   * up on a slow shutdown can say what it was waiting on.
   */
  close(options: { stopInstances: boolean; progress?: (step: string) => void }): Promise<void>;
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

/**
 * What the names of the proxy processes' files start with: nothing for the usual `shipcheck.yaml`,
 * else the installation file's name, so that installation files sharing a folder (replicas on one
 * host) each adopt their own proxy processes.
 */
export function proxyPrefix(file: string): string {
  const stem = path.basename(file).replace(/\.ya?ml$/, '');
  return stem === 'shipcheck' ? '' : `${stem}.`;
}

/** Starts what `shipcheck up` runs, in this process: every service of the installation. */
export async function startControlPlane(
  input: Installation | LoadedConfig,
  logger: Logger,
  options: {
    clock?: Clock;
    tickMs?: number;
    /** Runs the built-in proxy in this process rather than its own (tests); implied by `clock`. */
    inProcessProxy?: boolean;
  } = {},
): Promise<ControlPlane> {
  const installation = 'services' in input ? input : installationOf(input);
  const kinds = checkKinds();
  // Templates and Alertmanager tokens are checked before the store opens, so a bad one leaves nothing
  // half-started.
  await checkServices(installation.services, kinds);
  const tls = await apiTlsOf(installation, logger);
  const store = await openStore(installation.store, { leaseTtlMs: installation.server.leaseTtl });
  const clock = options.clock ?? systemClock;
  const security = await startSecurity({
    server: installation.server,
    dir: installation.dir,
    store,
    clock,
    logger,
    secure: tls !== undefined,
    listenUrl: () => plane.apiUrl,
  }).catch(async (err: unknown) => {
    await store.close().catch(() => undefined);
    throw err;
  });
  const registry = createRegistry();
  // The installation's notification outbox; it starts sending once the API listens.
  const notifications = new NotificationDispatcher({
    store,
    channels: installation.channels,
    sealer: security.sealer,
    clock,
    logger: logger.child({ component: 'notifications' }),
    holder: replicaId(),
    metrics: new NotificationMetrics(registry),
    subscriberAddress: (id) => store.statusPage.subscriberAddress(id),
  });
  const shared: Shared = {
    store,
    kinds,
    logger,
    registry,
    ownMetrics: new EngineMetrics(registry),
    logDir: path.join(installation.dir, '.shipcheck', 'logs'),
    // The built-in proxy outlives this process in its own; one on an injected clock (tests) stays here,
    // since a separate process keeps the system's time.
    ...(options.clock || options.inProcessProxy
      ? {}
      : {
          proxyProcess: {
            dir: path.join(installation.dir, '.shipcheck'),
            prefix: proxyPrefix(installation.file),
          },
        }),
    leaseTtl: installation.server.leaseTtl,
    clock,
    options,
    // SQLite lives on one machine with one control plane; PostgreSQL may be shared by several.
    replica: installation.store.startsWith('sqlite:') ? undefined : replicaId(),
    leaseShare: undefined,
    leaseLocks: undefined,
    sealer: security.sealer,
    masterKey: security.masterKey,
    notify: notifications,
    // Set once the communicator exists, before any unit starts.
    communicate: (unit, policy, event) => communicator.communicate(unit, policy, event),
    maintenanceTargets: onCallTargets(store, () => oncall),
  };
  if (shared.replica) {
    const { replica, clock } = shared;
    const leaseLogger = logger.child({ component: 'lease-share' });
    const ttlMs = installation.server.leaseTtl;
    shared.leaseShare = new LeaseShare({ store, replica, ttlMs, clock, logger: leaseLogger });
    shared.leaseLocks = store.openLeaseLocks?.(clock);
  }
  const services = new Map<string, ServiceRun>();
  const engines = new Map<string, Engine>();
  /** Stops the audit log's watch of each engine's automated actions. */
  const unwatch = new Map<Engine, () => void>();
  const serve = (unit: Unit): void => {
    engines.set(unit.name, unit.engine);
    if (!unwatch.has(unit.engine)) unwatch.set(unit.engine, security.watch(unit.engine));
    unit.scheduler.start();
  };
  const unserve = (unit: Unit): void => {
    engines.delete(unit.name);
    unwatch.get(unit.engine)?.();
    unwatch.delete(unit.engine);
    void unit.scheduler.stop();
  };
  const allUnits = (): Unit[] => [...services.values()].flatMap((run) => run.units);
  // Incidents and their escalation, on the installation's policies (read again on reload).
  /** The on-call config the API and escalation work from; a reload replaces it. */
  let oncall = installation.oncall;
  let escalationPolicies = policiesOf(installation);
  const incidentContext: IncidentContext = {
    store,
    clock,
    policies: () => escalationPolicies,
    resolveTargets: onCallTargets(store, () => oncall),
    // The incident's dashboard page; none while the plane is still starting (its address is not known).
    urlOf: (id: number): string | undefined => {
      try {
        return `${security.publicUrl()}/incidents/${id}`;
      } catch {
        return undefined;
      }
    },
  };
  const incidents = new Incidents(incidentContext);
  const escalation = new EscalationRunner({
    ...incidentContext,
    logger: logger.child({ component: 'escalation' }),
  });
  // The page reads the units through their engines, as GET /api/v1/services does.
  const pageOf = (config: Installation['statusPage']): StatusPage | undefined =>
    config &&
    new StatusPage({
      config,
      store,
      clock,
      units: () => unitsHealth(engines),
      pageUrl: () => config.url ?? `${plane.apiUrl}/status`,
    });
  let statusPage = pageOf(installation.statusPage);
  // The release communication policy of every unit: notices, the rollback incident, the status page.
  const communicator = new Communicator({
    store,
    clock,
    incidents,
    statusPage: () => statusPage,
    releaseUrl: (id) => {
      try {
        return `${security.publicUrl()}/releases/${id}`;
      } catch {
        return undefined;
      }
    },
  });
  incidentContext.onResolved = (incident, message) => communicator.incidentResolved(incident, message);
  incidentContext.onPublic = (incident, message) => communicator.incidentPublic(incident, message);
  // The catalog routes read the services of the installation as the last reload left it.
  let catalogServices = installation.services;
  const api = buildApi({
    engines,
    store,
    logger,
    registry,
    alerts: () => allUnits().flatMap((unit) => unit.alerts ?? []),
    reload: async () => reload(),
    oncall: () => oncall,
    security,
    tls,
    incidents,
    escalationPolicies: () => escalationPolicies.map((p) => p.name),
    statusPage: () => statusPage,
    notifications,
    catalog: () => catalogServices,
    schedulers: () => new Map(allUnits().map((unit) => [unit.name, unit.scheduler])),
  });

  const closeUnits = async (units: Unit[], stopInstances: boolean): Promise<void> => {
    for (const unit of units) await unit.engine.stop();
    for (const unit of units) {
      unserve(unit);
      shared.leaseShare?.remove(unit.name);
      await closeProviders(unit.providers, stopInstances);
    }
  };
  const startService = async (run: ServiceRun, running: ReadonlySet<Providers>): Promise<void> => {
    const started: Unit[] = [];
    try {
      for (const unit of run.units) {
        await startProviders(unit, running.has(unit.providers));
        started.push(unit);
        serve(unit);
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
    for (const run of services.values()) for (const unit of run.units) await startProviders(unit, false);
    try {
      await api.listen({ host, port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message;
      throw new ProviderError(`server.listen ${installation.server.listen}: ${why}`, { cause: err });
    }
    for (const run of services.values()) {
      for (const unit of run.units) {
        serve(unit);
        await unit.engine.start();
      }
    }
  } catch (err) {
    for (const run of services.values()) await closeUnits(run.units, false).catch(() => undefined);
    await api.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }

  const retention = installation.retention;
  const pruner =
    retention &&
    new RetentionPruner({
      store,
      policy: {
        measurementsMs: retention.measurements,
        releasesMs: retention.releases,
        eventsMs: retention.events,
      },
      intervalMs: retention.interval,
      batchSize: retention.batchSize,
      clock,
      logger: logger.child({ component: 'retention' }),
      registry,
    });
  pruner?.start();
  escalation.start();
  // Monitored incidents (a verified rollback's) resolve by themselves once their time has come.
  const resolveTimer = setInterval(() => {
    incidents
      .resolveDue()
      .catch((err: unknown) => logger.warn({ err }, 'resolving monitored incidents failed'));
  }, RESOLVE_DUE_INTERVAL_MS);
  resolveTimer.unref();
  const recorder = new StatusRecorder({
    page: () => statusPage,
    logger: logger.child({ component: 'status-page' }),
  });
  notifications.start();

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
    // The providers the new run took over from the old one: still running, so not started again.
    const previous = new Set(before?.units.map((unit) => unit.providers));
    const kept = new Set(run.units.map((unit) => unit.providers).filter((p) => previous.has(p)));
    if (before) {
      for (const unit of before.units) await unit.engine.stop();
      for (const unit of before.units) {
        unserve(unit);
        if (kept.has(unit.providers)) continue;
        // The unit's new built-in proxy adopts the process of the old one; with none, it stops.
        const successor = run.units.find((next) => next.name === unit.name);
        await closeProviders(unit.providers, false, { leaveRouter: successor?.proxy !== undefined });
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
  // A slow try (a store that is held up) skips the next ones rather than queueing them behind it.
  let applying = false;
  const pendingTimer = setInterval(() => {
    if (applying) return;
    applying = true;
    reloading = reloading
      .then(applyPending)
      .catch((err: unknown) => logger.error({ err }, 'applying a held-back config change failed'))
      .finally(() => {
        applying = false;
      });
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
        channels: { added: [], changed: [], removed: [] },
      };
      if (JSON.stringify(wanted.server) !== JSON.stringify(current.server))
        report.restartNeeded.push('server');
      if (
        wanted.store !== current.store ||
        JSON.stringify(wanted.retention) !== JSON.stringify(current.retention)
      )
        report.restartNeeded.push('store');
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
      // Before the services, so that one added with a new channel can send to it at once.
      report.channels = await notifications.replaceChannels(wanted.channels);
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
      current = { ...wanted, server: current.server, store: current.store, retention: current.retention };
      plane.installation = current;
      catalogServices = current.services;
      escalationPolicies = policiesOf(wanted);
      statusPage = pageOf(current.statusPage);
      oncall = current.oncall;
      logger.info(report, describeReload(report));
      return report;
    });
    reloading = run.catch(() => undefined);
    return run;
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
    apiUrl: `${tls ? 'https' : 'http'}://${apiHost}:${apiPort}`,
    proxyUrl: first.proxyUrl,
    get setupCode() {
      return security.setup.code;
    },
    authRequired: security.auth !== undefined,
    get statusPage() {
      return statusPage;
    },
    reload,
    async close({ stopInstances, progress = () => undefined }) {
      clearInterval(pendingTimer);
      clearInterval(resolveTimer);
      progress('stopping incident escalation');
      await escalation.stop();
      await recorder.stop();
      if (pruner) {
        progress('ending a store retention pass');
        await pruner.stop();
      }
      progress('waiting for a reload to finish');
      await reloading;
      // The others stop counting this replica before its leases go, so they take its units at once.
      progress('leaving the replicas sharing the store');
      await shared.leaseShare?.leave();
      const units = allUnits();
      progress('stopping the scheduled checks');
      for (const unit of units) await unit.scheduler.stop();
      for (const unit of units) {
        progress(`stopping the engine of ${unit.name}`);
        await unit.engine.stop();
      }
      progress('closing the API');
      await api.close();
      progress('finishing the notifications being sent');
      await notifications.stop();
      for (const unit of units) {
        const stopping = stopInstances && unit.providers.fleet.type === 'local';
        progress(`${stopping ? 'stopping the instances' : 'closing the fleet and traffic'} of ${unit.name}`);
        await closeProviders(unit.providers, stopInstances);
      }
      progress('closing the store');
      await store.close();
    },
  };
  // Started once `plane` exists: the page's links read its URL.
  recorder.start();
  return plane;
}

/** One line saying what a reload did. */
export function describeReload(report: ReloadReport): string {
  const parts = [
    ['added', report.added],
    ['changed', report.changed],
    ['removed', report.removed],
    ['held until their release ends', report.deferred],
    ['unchanged', report.unchanged],
    ['channels added', report.channels.added],
    ['channels changed', report.channels.changed],
    ['channels removed', report.channels.removed],
  ] as const;
  const said = parts
    .filter(([, names]) => names.length > 0)
    .map(([what, names]) => `${what}: ${names.join(', ')}`);
  const restart =
    report.restartNeeded.length > 0 ? `; ${report.restartNeeded.join(' and ')} take effect on restart` : '';
  return `reload: ${said.join('; ') || 'no services'}${restart}`;
}
