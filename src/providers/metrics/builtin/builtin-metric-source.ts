import type { MetricSource, WindowStats } from '../types.js';
import type { RequestMetrics } from './request-metrics.js';

/** The metric source fed by the built-in proxy: reads the in-memory RequestMetrics; never throws. */
export class BuiltinMetricSource implements MetricSource {
  readonly type = 'builtin';

  constructor(private readonly metrics: RequestMetrics) {}

  /** Stats for `version` over the last `windowMs`; zero requests for a version never seen. */
  async window(version: string, windowMs: number): Promise<WindowStats> {
    return this.metrics.window(version, windowMs);
  }
}
