import os from 'node:os';
import { ProviderError } from '../../errors.js';
import type { MetricSource } from '../../providers/metrics/types.js';
import { systemClock } from '../../util/clock.js';
import type { CheckContext } from '../types.js';
import { configSchema } from '../../config/schema.js';

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
