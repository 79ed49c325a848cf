import type { Instance } from './types.js';

/** What a fleet keeps per instance; each fleet adds its own bookkeeping around the instance. */
export interface SlotOf {
  readonly instance: Instance;
}

/**
 * A fleet's instances by id, with the views every fleet answers: all of them in order, those of one
 * version, and the ready addresses a router asks for on every request, cached until `changed()`.
 */
export class Slots<S extends SlotOf> {
  private readonly byId = new Map<string, S>();
  /** Ready addresses per version; cleared on every state or membership change. */
  private readonly readyCache = new Map<string, readonly string[]>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): S | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  set(id: string, slot: S): void {
    this.byId.set(id, slot);
    this.changed();
  }

  delete(id: string): void {
    this.byId.delete(id);
    this.changed();
  }

  clear(): void {
    this.byId.clear();
    this.changed();
  }

  values(): IterableIterator<S> {
    return this.byId.values();
  }

  /** Every slot, by version, then index. */
  all(): S[] {
    return [...this.byId.values()].sort(
      (a, b) => a.instance.version.localeCompare(b.instance.version) || a.instance.index - b.instance.index,
    );
  }

  /** The slots of one version, by index. */
  of(version: string): S[] {
    return this.all().filter((slot) => slot.instance.version === version);
  }

  instances(version?: string): Instance[] {
    return this.all()
      .filter((slot) => version === undefined || slot.instance.version === version)
      .map((slot) => slot.instance);
  }

  /** Addresses of the version's `ready` instances: where a router may send new requests right now. */
  readyAddresses(version: string): readonly string[] {
    // Called by the proxy on every request: answer from a cache that every state change clears.
    let addresses = this.readyCache.get(version);
    if (!addresses) {
      addresses = this.of(version)
        .filter((slot) => slot.instance.state === 'ready')
        .map((slot) => slot.instance.address);
      this.readyCache.set(version, addresses);
    }
    return addresses;
  }

  /** Versions with at least one instance, exited and stopping ones included. */
  versions(): string[] {
    return [...new Set(this.all().map((slot) => slot.instance.version))];
  }

  /** An instance changed state: the ready addresses are worked out again on the next ask. */
  changed(): void {
    this.readyCache.clear();
  }
}
