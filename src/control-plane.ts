import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi, createRegistry } from './api/server.js';
import { type LoadedConfig, resolveStorePath } from './config/loader.js';
import { ChecklistRunner } from './checklist/checklist-runner.js';
import { checkKinds } from './checklist/kinds/index.js';
import { configuredIn, loadTemplate, resolveItems } from './checklist/template.js';
import { Engine } from './engine/engine.js';
import { createMigrator } from './migrations/migrator.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { ProviderError } from './errors.js';
import { LocalFleet } from './providers/fleet/local/local-fleet.js';
import { BuiltinMetricSource } from './providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from './providers/metrics/builtin/request-metrics.js';
import { ProxyRouter } from './providers/traffic/proxy/proxy-router.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/types.js';
import { type Clock, systemClock } from './util/clock.js';
import { parseHostPort } from './util/net.js';

/** A running control plane: store, fleet, proxy, engine and API in one process. */
export interface ControlPlane {
  engine: Engine;
  store: Store;
  fleet: LocalFleet;
  router: ProxyRouter;
  api: FastifyInstance;
  /** Base URL of the API, e.g. http://127.0.0.1:7070. */
  apiUrl: string;
  /** Base URL of the traffic proxy. */
  proxyUrl: string;
  /** Stops everything; with `stopInstances` the app instances are stopped too (graceful shutdown). */
  close(options: { stopInstances: boolean }): Promise<void>;
}

/** Starts what `shipcheck up` runs, in this process. */
export async function startControlPlane(
  loaded: LoadedConfig,
  logger: Logger,
  options: { clock?: Clock; tickMs?: number } = {},
): Promise<ControlPlane> {
  const { config } = loaded;
  // The template is checked before anything starts, so a bad one fails fast with file:line:col.
  const kinds = checkKinds();
  const template = await loadTemplate(config.checklist.template, { configDir: loaded.dir, kinds });
  const items = resolveItems(template, {
    vars: config.checklist.vars,
    configured: configuredIn(config),
  });
  const store = await openStore(`sqlite:${resolveStorePath(loaded)}`);
  const stateDir = path.join(loaded.dir, '.shipcheck');
  const requestMetrics = new RequestMetrics(options.clock ? { clock: options.clock } : {});
  // The router asks the fleet for ready instances on each request; the fleet asks the router to drain.
  const fleet: LocalFleet = new LocalFleet({
    service: config.service,
    command: config.fleet.command,
    cwd: path.resolve(loaded.dir, config.fleet.cwd ?? '.'),
    env: config.fleet.env,
    stopTimeoutMs: config.fleet.stopTimeout,
    health: {
      path: config.fleet.health.path,
      intervalMs: config.fleet.health.interval,
      timeoutMs: config.fleet.health.timeout,
      unhealthyAfter: config.fleet.health.unhealthyAfter,
    },
    logDir: path.join(stateDir, 'logs'),
    records: store,
    drainer: { drain: (address, timeoutMs) => router.drain(address, timeoutMs) },
    logger: logger.child({ component: 'fleet' }),
  });
  const router: ProxyRouter = new ProxyRouter({
    listen: config.traffic.listen,
    upstreams: (version) => fleet.readyAddresses(version),
    metrics: requestMetrics,
    logger: logger.child({ component: 'proxy' }),
  });
  const metricSource = new BuiltinMetricSource(requestMetrics);
  const clock = options.clock ?? systemClock;
  const runner: ChecklistRunner = new ChecklistRunner({
    store,
    kinds,
    clock,
    logger: logger.child({ component: 'checklist' }),
    context: (release) => ({
      service: config.service,
      version: release.version,
      fromVersion: release.fromVersion,
      proxyUrl: `http://${router.address()}`,
      configDir: loaded.dir,
      metrics: metricSource,
      instances: (version) => fleet.instances(version),
      envOf: (version) => ({ ...config.fleet.env, APP_VERSION: version, SHIPCHECK_SERVICE: config.service }),
      config,
      clock,
    }),
    onItem: (release, item) => {
      engine
        .itemChanged(release, item)
        .catch((err: unknown) => logger.error({ err }, 'recording an item event failed'));
    },
  });
  const registry = createRegistry();
  const migrator = createMigrator(config, loaded.dir);
  const engine: Engine = new Engine({
    ...(migrator ? { migrator } : {}),
    checklist: { runner, items: () => items },
    ownMetrics: new EngineMetrics(registry),
    config,
    store,
    fleet,
    router,
    metrics: metricSource,
    logger: logger.child({ component: 'engine' }),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.tickMs ? { tickMs: options.tickMs } : {}),
  });
  const api = buildApi({ engine, store, service: config.service, logger, registry });

  const started: (() => Promise<void>)[] = [() => store.close()];
  const unwind = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  try {
    await router.start();
    started.push(() => router.close());
    const { host, port } = parseHostPort(config.server.listen);
    try {
      await api.listen({ host, port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message;
      throw new ProviderError(`server.listen ${config.server.listen}: ${why}`, { cause: err });
    }
    started.push(() => api.close());
    await engine.start();
  } catch (err) {
    await unwind();
    throw err;
  }
  const apiAddress = api.server.address();
  const apiPort = typeof apiAddress === 'object' && apiAddress ? apiAddress.port : 0;
  const apiHost = parseHostPort(config.server.listen).host;
  return {
    engine,
    store,
    fleet,
    router,
    api,
    apiUrl: `http://${apiHost}:${apiPort}`,
    proxyUrl: `http://${router.address()}`,
    async close({ stopInstances }) {
      await engine.stop();
      await api.close();
      await fleet.close({ stopInstances });
      await router.close();
      await store.close();
    },
  };
}
