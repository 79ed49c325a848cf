import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { BuiltinMetricSource } from './builtin/builtin-metric-source.js';
import type { RequestMetrics } from './builtin/request-metrics.js';
import { NginxLogMetricSource } from './nginx-log/nginx-log-source.js';
import { PrometheusMetricSource } from './prometheus/prometheus-metric-source.js';
import type { MetricSource } from './types.js';

/** What a metric source needs besides its own config section. */
export interface MetricSourceContext {
  service: string;
  /** The service file's folder; the access log path resolves here. */
  dir: string;
  /** What the built-in proxy recorded. */
  requestMetrics: RequestMetrics;
  /**
   * Brings `requestMetrics` up to date before a read, when the proxy records in another process (see
   * ProcessProxyRouter.refreshMetrics); absent, they are always current.
   */
  refreshRequestMetrics?: () => Promise<void>;
  /** The version an instance address runs, for sources that see addresses only (nginx's log). */
  versionOf: (address: string) => string | undefined;
  logger: Logger;
}

/** The source `metrics.kind` names. */
export function createMetricSource(metrics: Config['metrics'], context: MetricSourceContext): MetricSource {
  switch (metrics.kind) {
    case 'prometheus':
      return new PrometheusMetricSource({
        url: metrics.url,
        service: context.service,
        queries: metrics.queries,
        timeoutMs: metrics.timeout,
      });
    case 'nginx-log':
      return new NginxLogMetricSource({
        accessLog: path.resolve(context.dir, metrics.accessLog),
        versionOf: context.versionOf,
        logger: context.logger.child({ component: 'metrics' }),
      });
    case 'builtin':
      return new BuiltinMetricSource(context.requestMetrics, context.refreshRequestMetrics);
  }
}
