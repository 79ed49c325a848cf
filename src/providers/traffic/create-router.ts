import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { registerSecret } from '../../util/secrets.js';
import type { RequestMetrics } from '../metrics/builtin/request-metrics.js';
import { NginxTrafficRouter } from './nginx/nginx-router.js';
import type { Instance } from '../fleet/types.js';
import type { BuiltinProxy } from './proxy/builtin-proxy.js';
import { ProcessProxyRouter } from './proxy/process-proxy-router.js';
import { ProxyRouter, randomForceToken } from './proxy/proxy-router.js';
import type { TrafficRouter } from './types.js';

/** What a router needs besides its own config section. */
export interface RouterContext {
  /** The service file's folder; nginx paths resolve here. */
  dir: string;
  /** Addresses of a version's ready instances; asked on every request, so it must be cheap. */
  upstreams: (version: string) => readonly string[];
  /** The built-in proxy records every request here (the builtin metric source reads it). */
  requestMetrics: RequestMetrics;
  logger: Logger;
  /**
   * Runs the built-in proxy in its own process, which outlives this one: the unit it serves, the
   * installation's `.shipcheck` folder, and the fleet's instances. Absent: the proxy runs in this
   * process (a control plane on an injected clock, in tests).
   */
  proxyProcess?: {
    unit: string;
    /** Names its state file, socket and log: the unit, after a prefix for the installation file. */
    name: string;
    shipcheckDir: string;
    instances: () => readonly Instance[];
  };
}

/**
 * The router `traffic.kind` names; `proxy` is set when it is the built-in proxy (in its own process
 * with `proxyProcess`). The proxy always has a force token: `traffic.forceToken`, or a random one only
 * it and this control plane know, so that shipcheck's own synthetic load and checks can force a version
 * (BuiltinProxy.forceHeaders) and nobody else can.
 */
export function createRouter(
  traffic: Config['traffic'],
  context: RouterContext,
): { router: TrafficRouter; proxy: BuiltinProxy | undefined } {
  const { dir, upstreams, logger } = context;
  switch (traffic.kind) {
    case 'proxy': {
      const timeouts = {
        keepAliveTimeout: traffic.keepAliveTimeout,
        headersTimeout: traffic.headersTimeout,
        requestTimeout: traffic.requestTimeout,
      };
      if (traffic.forceToken !== undefined) registerSecret(traffic.forceToken);
      const proxyLogger = logger.child({ component: 'proxy' });
      const own = context.proxyProcess;
      let proxy: BuiltinProxy;
      if (own) {
        // Without a configured token the process draws its own, which survives a control plane restart.
        proxy = new ProcessProxyRouter({
          unit: own.unit,
          name: own.name,
          listen: traffic.listen,
          timeouts,
          forceToken: traffic.forceToken,
          forceFrom: traffic.forceFrom,
          shipcheckDir: own.shipcheckDir,
          upstreams,
          instances: own.instances,
          metrics: context.requestMetrics,
          logger: proxyLogger,
        });
      } else {
        const forceToken = traffic.forceToken ?? randomForceToken();
        registerSecret(forceToken);
        proxy = new ProxyRouter({
          listen: traffic.listen,
          timeouts,
          upstreams,
          metrics: context.requestMetrics,
          logger: proxyLogger,
          forceToken,
          forceFrom: traffic.forceFrom,
        });
      }
      return { router: proxy, proxy };
    }
    case 'nginx':
      return {
        router: new NginxTrafficRouter({
          upstream: traffic.upstream,
          upstreamFile: path.resolve(dir, traffic.upstreamFile),
          nginxConfig: path.resolve(dir, traffic.nginxConfig),
          nginxBinary: traffic.nginxBinary,
          upstreams,
          logger: logger.child({ component: 'nginx' }),
        }),
        proxy: undefined,
      };
  }
}
