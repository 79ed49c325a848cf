import os from 'node:os';
import { configSchema } from '../../src/config/schema.js';
import { ProviderError } from '../../src/errors.js';
import type { CheckContext } from '../../src/checklist/types.js';
import { BuiltinMetricSource } from '../../src/providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../../src/providers/metrics/builtin/request-metrics.js';
import type { MetricSource } from '../../src/providers/metrics/types.js';
import { ManualClock, systemClock } from '../../src/util/clock.js';

/** A minimal valid config; kinds that read config blocks get theirs through overrides. */
export const TEST_CONFIG = configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' } });

/** The metrics of a test context: the check kinds tested with it never read metrics, so any call is a bug. */
const unusedMetrics: MetricSource = {
  type: 'unused',
  async window() {
    throw new ProviderError('not used');
  },
};

/** A CheckContext for tests of check kinds: real clock, a live signal, no fleet; `overrides` win. */
export function testContext(overrides: Partial<CheckContext> = {}): CheckContext {
  return {
    service: 'web',
    version: 'v2',
    fromVersion: 'v1',
    // Port 9 (discard) is not listened on here; a test that needs the proxy passes its own URL.
    proxyUrl: 'http://127.0.0.1:9',
    configDir: os.tmpdir(),
    metrics: unusedMetrics,
    instances: () => [],
    envOf: () => ({}),
    config: TEST_CONFIG,
    clock: systemClock,
    signal: new AbortController().signal,
    ...overrides,
  };
}

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
