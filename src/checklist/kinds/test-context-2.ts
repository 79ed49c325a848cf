import os from 'node:os';
import { BuiltinMetricSource } from '../../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../../providers/metrics/builtin/request-metrics.js';
import { ManualClock } from '../../util/clock.js';
import type { CheckContext } from '../types.js';
import { TEST_CONFIG } from './test-context.js';

/**
 * A CheckContext for tests of check kinds: service `web` releasing `v2` over `v1`, a ManualClock, a
 * live AbortSignal, and empty built-in metrics on the same clock; `overrides` replace any field.
 */
export function contextFor(overrides: Partial<CheckContext> = {}): CheckContext {
  const clock = overrides.clock ?? new ManualClock();
  return {
    service: 'web',
    version: 'v2',
    fromVersion: 'v1',
    proxyUrl: 'http://127.0.0.1:8080',
    configDir: os.tmpdir(),
    metrics: new BuiltinMetricSource(new RequestMetrics({ clock })),
    instances: () => [],
    envOf: () => ({}),
    config: TEST_CONFIG,
    signal: new AbortController().signal,
    ...overrides,
    clock,
  };
}
