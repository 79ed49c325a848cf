import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { registerSecret } from '../../util/secrets.js';
import type { RequestMetrics } from '../metrics/builtin/request-metrics.js';
import { NginxTrafficRouter } from './nginx/nginx-router.js';
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
}

/**
 * The router `traffic.kind` names; `proxy` is set when it is the built-in proxy. The proxy always
 * gets a force token: `traffic.forceToken`, or a random one only this process knows, so that
 * shipcheck's own synthetic load and checks can force a version (ProxyRouter.forceHeaders) and
 * nobody else can.
 */
export function createRouter(
  traffic: Config['traffic'],
  context: RouterContext,
): { router: TrafficRouter; proxy: ProxyRouter | undefined } {
  const { dir, upstreams, logger } = context;
  switch (traffic.kind) {
    case 'proxy': {
      const forceToken = traffic.forceToken ?? randomForceToken();
      registerSecret(forceToken);
      const proxy = new ProxyRouter({
        listen: traffic.listen,
        timeouts: {
          keepAliveTimeout: traffic.keepAliveTimeout,
          headersTimeout: traffic.headersTimeout,
          requestTimeout: traffic.requestTimeout,
        },
        upstreams,
        metrics: context.requestMetrics,
        logger: logger.child({ component: 'proxy' }),
        forceToken,
        forceFrom: traffic.forceFrom,
      });
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
