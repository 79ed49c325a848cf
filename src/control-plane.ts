import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { buildApi, createRegistry } from './api/server.js';
import { alertTargetOf } from './api/alertmanager.js';
import { SyntheticLoad, type SyntheticTarget } from './analysis/synthetic-load.js';
import { type LoadedConfig, resolveStorePath } from './config/loader.js';
import { ChecklistRunner } from './checklist/checklist-runner.js';
import { checkKinds } from './checklist/kinds/index.js';
import { configuredIn, loadTemplate, type ResolvedItem, resolveItems } from './checklist/template.js';
import type { Config } from './config/schema.js';
import { Engine } from './engine/engine.js';
import { createMigrator } from './app-database/create-migrator.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { Lease } from './engine/lease.js';
import { Notifier } from './notify/notifier.js';
import { ProviderError } from './errors.js';
import { HooksFleet } from './providers/fleet/hooks/hooks-fleet.js';
import type { Fleet } from './providers/fleet/types.js';
import { LocalFleet } from './providers/fleet/local/local-fleet.js';
import { BuiltinMetricSource } from './providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from './providers/metrics/builtin/request-metrics.js';
import { NginxLogMetricSource } from './providers/metrics/nginx-log/nginx-log-source.js';
import { PrometheusMetricSource } from './providers/metrics/prometheus/prometheus-metric-source.js';
import type { MetricSource } from './providers/metrics/types.js';
import { NginxTrafficRouter } from './providers/traffic/nginx/nginx-router.js';
import { ProxyRouter, VERSION_HEADER } from './providers/traffic/proxy/proxy-router.js';
import type { TrafficRouter } from './providers/traffic/types.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/types.js';
import { type Clock, systemClock } from './util/clock.js';
import { parseHostPort } from './util/net.js';
import { unitName } from './domain/release.js';

/** Releases of another environment a promotion check looks through. */
const HISTORY_RELEASES = 200;

/** One deployable target: the service, or one of its environments, with its own fleet, proxy and engine. */
export interface Unit {
  /** The name releases are stored and addressed under: `web`, or `web@staging`. */
  name: string;
  environment: string | undefined;
  engine: Engine;
  fleet: Fleet;
  router: TrafficRouter;
  /** The built-in proxy, when `traffic.kind` is proxy. */
  proxy: ProxyRouter | undefined;
  metricSource: MetricSource;
  /** Base URL of this unit's built-in proxy; empty with nginx. */
  proxyUrl: string;
}

/** A running control plane: the store and API, and a unit per environment (or one for the service). */
export interface ControlPlane {
  units: Unit[];
  /** The first unit's engine, fleet and router: the only ones when the config has no environments. */
  engine: Engine;
  fleet: Fleet;
  router: TrafficRouter;
  store: Store;
  api: FastifyInstance;
  /** Base URL of the API, e.g. http://127.0.0.1:7070. */
  apiUrl: string;
  /** Base URL of the first unit's traffic proxy. */
  proxyUrl: string;
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
  dir: string;
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

/** Builds (but does not start) one unit. */
async function createUnit(
  config: Config,
  environment: string | undefined,
  previous: string | undefined,
  shared: Shared,
): Promise<Unit> {
  const { store, kinds, logger, dir, clock, options } = shared;
  const name = unitName(config.service, environment);
  const log = environment ? logger.child({ environment }) : logger;
  // The template is checked before anything starts, so a bad one fails fast with file:line:col.
  const template = await loadTemplate(config.checklist.template, { configDir: dir, kinds });
  const items = [
    ...(previous ? promotionItems(previous) : []),
    ...resolveItems(template, { vars: config.checklist.vars, configured: configuredIn(config) }),
  ];
  const requestMetrics = new RequestMetrics(options.clock ? { clock: options.clock } : {});
  // The router asks the fleet for ready instances on each request; the fleet asks the router to drain.
  // Only the built-in proxy can wait for requests in flight; nginx drops a server from its upstream
  // block on reload and lets its open requests finish, and the app finishes them on SIGTERM.
  const drainer = { drain: async (address: string, timeoutMs: number) => proxy?.drain(address, timeoutMs) };
  const health = {
    path: config.fleet.health.path,
    intervalMs: config.fleet.health.interval,
    timeoutMs: config.fleet.health.timeout,
    unhealthyAfter: config.fleet.health.unhealthyAfter,
  };
  const fleetLogger = log.child({ component: 'fleet' });
  const cwd = path.resolve(dir, config.fleet.cwd ?? '.');
  const fleet: Fleet =
    config.fleet.kind === 'local'
      ? new LocalFleet({
          service: name,
          command: config.fleet.command,
          cwd,
          env: config.fleet.env,
          stopTimeoutMs: config.fleet.stopTimeout,
          health,
          logDir: path.join(dir, '.shipcheck', 'logs'),
          records: store,
          drainer,
          logger: fleetLogger,
        })
      : new HooksFleet({
          service: config.service,
          ...(environment ? { environment } : {}),
          hooks: {
            start: config.fleet.hooks.start,
            stop: config.fleet.hooks.stop,
            list: config.fleet.hooks.list,
            timeoutMs: config.fleet.hooks.timeout,
          },
          cwd,
          env: config.fleet.env,
          stopTimeoutMs: config.fleet.stopTimeout,
          health,
          drainer,
          logger: fleetLogger,
        });
  const upstreams = (version: string): readonly string[] => fleet.readyAddresses(version);
  const traffic = config.traffic;
  const proxy =
    traffic.kind === 'proxy'
      ? new ProxyRouter({
          listen: traffic.listen,
          upstreams,
          metrics: requestMetrics,
          logger: log.child({ component: 'proxy' }),
        })
      : undefined;
  const router: TrafficRouter =
    proxy ??
    new NginxTrafficRouter({
      upstream: traffic.kind === 'nginx' ? traffic.upstream : '',
      upstreamFile: traffic.kind === 'nginx' ? path.resolve(dir, traffic.upstreamFile) : '',
      nginxConfig: traffic.kind === 'nginx' ? path.resolve(dir, traffic.nginxConfig) : '',
      nginxBinary: traffic.kind === 'nginx' ? traffic.nginxBinary : 'nginx',
      upstreams,
      logger: log.child({ component: 'nginx' }),
    });
  const metricsConfig = config.metrics;
  const metricSource: MetricSource =
    metricsConfig.kind === 'prometheus'
      ? new PrometheusMetricSource({
          url: metricsConfig.url,
          service: config.service,
          queries: metricsConfig.queries,
          timeoutMs: metricsConfig.timeout,
        })
      : metricsConfig.kind === 'nginx-log'
        ? new NginxLogMetricSource({
            accessLog: path.resolve(dir, metricsConfig.accessLog),
            versionOf: (address) => fleet.instances().find((i) => i.address === address)?.version,
            logger: log.child({ component: 'metrics' }),
          })
        : new BuiltinMetricSource(requestMetrics);
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
        ttlMs: config.server.leaseTtl,
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
  return { name, environment, engine, fleet, router, proxy, metricSource, proxyUrl: '' };
}

/** Starts what `shipcheck up` runs, in this process. */
export async function startControlPlane(
  loaded: LoadedConfig,
  logger: Logger,
  options: { clock?: Clock; tickMs?: number } = {},
): Promise<ControlPlane> {
  const { config } = loaded;
  const targets: { config: Config; environment: string | undefined; previous: string | undefined }[] =
    loaded.environments.length === 0
      ? [{ config, environment: undefined, previous: undefined }]
      : loaded.environments.map((env, i) => ({
          config: env.config,
          environment: env.name,
          previous: loaded.environments[i - 1]?.name,
        }));
  const kinds = checkKinds();
  // Templates load (and fail) before the store opens, so a bad one leaves nothing half-started.
  for (const target of targets) {
    await loadTemplate(target.config.checklist.template, { configDir: loaded.dir, kinds });
  }
  // Alertmanager webhook targets (rollback.alerts): a tokenEnv naming an unset variable fails here, early.
  const alerts = targets.flatMap((target) => alertTargetOf(target.config, target.environment) ?? []);
  const store = await openStore(
    config.store.startsWith('sqlite:') ? `sqlite:${resolveStorePath(loaded)}` : config.store,
  );
  const registry = createRegistry();
  const shared: Shared = {
    store,
    kinds,
    logger,
    registry,
    ownMetrics: new EngineMetrics(registry),
    dir: loaded.dir,
    clock: options.clock ?? systemClock,
    options,
    // SQLite lives on one machine with one control plane; PostgreSQL may be shared by several.
    replica: config.store.startsWith('sqlite:') ? undefined : replicaId(),
  };
  const units: Unit[] = [];
  for (const target of targets)
    units.push(await createUnit(target.config, target.environment, target.previous, shared));
  const api = buildApi({
    engines: new Map(units.map((u) => [u.name, u.engine])),
    store,
    logger,
    registry,
    alerts,
  });

  const started: (() => Promise<void>)[] = [() => store.close()];
  const unwind = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  try {
    for (const unit of units) {
      await unit.router.start();
      started.push(() => unit.router.close());
      if (unit.metricSource.start) {
        await unit.metricSource.start();
        started.push(async () => unit.metricSource.close?.());
      }
      if (unit.proxy) unit.proxyUrl = `http://${unit.proxy.address()}`;
    }
    const { host, port } = parseHostPort(config.server.listen);
    try {
      await api.listen({ host, port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message;
      throw new ProviderError(`server.listen ${config.server.listen}: ${why}`, { cause: err });
    }
    started.push(() => api.close());
    for (const unit of units) await unit.engine.start();
  } catch (err) {
    await unwind();
    throw err;
  }
  const apiAddress = api.server.address();
  const apiPort = typeof apiAddress === 'object' && apiAddress ? apiAddress.port : 0;
  const apiHost = parseHostPort(config.server.listen).host;
  const first = units[0];
  if (!first) throw new Error('no unit to run');
  return {
    units,
    engine: first.engine,
    fleet: first.fleet,
    router: first.router,
    store,
    api,
    apiUrl: `http://${apiHost}:${apiPort}`,
    proxyUrl: first.proxyUrl,
    async close({ stopInstances }) {
      for (const unit of units) await unit.engine.stop();
      await api.close();
      for (const unit of units) {
        // A hooks fleet's instances belong to the platform, not to this replica: they outlive it.
        await unit.fleet.close({ stopInstances: stopInstances && unit.fleet.type === 'local' });
        await unit.router.close();
        await unit.metricSource.close?.();
      }
      await store.close();
    },
  };
}
