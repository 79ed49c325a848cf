/**
 * The addresses an adopted proxy process was serving when a control plane started: each stays in the
 * pushed table until the fleet has checked the instance behind it once, so that adopted instances keep
 * their traffic while they are checked again. A failed first check, or no instance there, drops it.
 */
import type { Instance } from '../../fleet/types.js';
import type { UpstreamTable } from './control-protocol.js';

/** Held addresses by version; each is let go for good once its instance has been checked. */
export class HeldUpstreams {
  private readonly held = new Map<string, Set<string>>();

  /** Holds every address of `table` (the adopted process's table). */
  constructor(table: UpstreamTable = {}) {
    for (const [version, addresses] of Object.entries(table)) {
      if (addresses.length > 0) this.held.set(version, new Set(addresses));
    }
  }

  /** True while some address is still held. */
  get size(): number {
    let count = 0;
    for (const addresses of this.held.values()) count += addresses.size;
    return count;
  }

  /**
   * `ready` plus the held addresses of `version` whose instance (in `instances`, the fleet's) is still
   * `starting` with no failed check: adopted, first check pending. The others are let go.
   */
  addTo(version: string, ready: readonly string[], instances: readonly Instance[]): string[] {
    const held = this.held.get(version);
    const addresses = [...ready];
    if (!held) return addresses;
    for (const address of [...held]) {
      const pending = instances.some(
        (instance) =>
          instance.address === address &&
          instance.version === version &&
          instance.state === 'starting' &&
          instance.healthFailures === 0,
      );
      if (!pending) held.delete(address);
      else if (!addresses.includes(address)) addresses.push(address);
    }
    if (held.size === 0) this.held.delete(version);
    return addresses;
  }
}
