import type { MetricSource, WindowStats } from '../types.js';
import type { RequestMetrics } from './request-metrics.js';

/**
 * The metric source fed by the built-in proxy: reads the in-memory RequestMetrics, first brought up to
 * date when the proxy records them in its own process; never throws.
 */
export class BuiltinMetricSource implements MetricSource {
  readonly type = 'builtin';

  constructor(
    private readonly metrics: RequestMetrics,
    private readonly refresh?: () => Promise<void>,
  ) {}

  /** Stats for `version` over the last `windowMs`; zero requests for a version never seen. */
  async window(version: string, windowMs: number): Promise<WindowStats> {
    // A failed refresh is logged where it happens; the last pulled figures are the best there are.
    await this.refresh?.().catch(() => undefined);
    return this.metrics.window(version, windowMs);
  }
}
