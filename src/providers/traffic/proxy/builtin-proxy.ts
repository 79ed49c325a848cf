/** The built-in proxy as the rest of shipcheck sees it, whichever process it runs in. */
import type { Drainer } from '../../fleet/types.js';
import type { TrafficRouter } from '../types.js';

/**
 * The built-in proxy: in its own process under `shipcheck up` (ProcessProxyRouter), or in this one
 * (ProxyRouter, which tests drive directly and which is the engine of that process).
 */
export interface BuiltinProxy extends TrafficRouter, Drainer {
  /** The `host:port` it listens on; throws ProviderError before start(). */
  address(): string;
  /**
   * The headers that send a request to `role`'s version whatever the weight, with the force token: for
   * shipcheck's own synthetic load and checks.
   */
  forceHeaders(role: 'stable' | 'canary'): Record<string, string>;
  /** Brings the RequestMetrics it records into up to date, when it records them in another process. */
  refreshMetrics?(): Promise<void>;
}
