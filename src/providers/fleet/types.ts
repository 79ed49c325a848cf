/**
 * Lifecycle of one app instance as the fleet sees it: `starting` until its first passed health check,
 * then `ready`; `unhealthy` after `unhealthyAfter` failed checks in a row and `ready` again after a pass;
 * `exited` once the fleet sees its process end; `stopping` from the moment it is scaled away or its
 * version stopped. Only `ready` instances are in `readyAddresses`.
 */
export type InstanceState = 'starting' | 'ready' | 'unhealthy' | 'exited' | 'stopping';

/** One running (or recently running) instance of a version. */
export interface Instance {
  /** Unique and stable across controller restarts, e.g. `web-2.0.0-1`. */
  readonly id: string;
  readonly version: string;
  /** The value of SHIPCHECK_INSTANCE: 0, 1, 2, ... within the version. */
  readonly index: number;
  /** `host:port` the instance listens on. */
  readonly address: string;
  readonly pid: number | undefined;
  state: InstanceState;
  /** Consecutive failed health checks. */
  healthFailures: number;
  /** Total failed health checks since start; the health trigger reads it. */
  failedChecks: number;
  /** Times the fleet restarted this instance after it exited. */
  restarts: number;
  /** Last health error or exit description, for reasons and status. */
  lastError: string | undefined;
  /** Exit code or signal once `state` is `exited`. */
  exitCode: number | string | undefined;
  /** Path of the file holding the instance's stdout and stderr. */
  readonly logFile: string | undefined;
}

/** How a version's instances are run. */
export interface EnsureOptions {
  /** Restart an instance that exits (stable versions); a canary that exits stays exited. */
  restartOnExit: boolean;
}

/**
 * Runs instances of a service's versions and knows their health. Every implementation passes the
 * contract suite in `fleet.case.ts`, against real app processes: the promises below are what it checks.
 */
export interface Fleet {
  /** Stable id used in config and logs, e.g. 'local'. */
  readonly type: string;
  /**
   * Make exactly `count` instances of `version` exist, starting or stopping the difference. Idempotent:
   * safe on every reconcile, also concurrently; each missing index (0..count-1) is started once, with the
   * id `<service>-<version>-<index>`. Scaling down takes the highest indexes out of `readyAddresses` before
   * it returns, then drains and stops them; the others keep running. Returns without waiting for health;
   * read `instances()` for readiness. Rejects a count that is not a whole number >= 0 with InputError, and
   * any call after `close()` with ProviderError.
   */
  ensure(version: string, count: number, options: EnsureOptions): Promise<void>;
  /**
   * Marks every instance of `version` `stopping` (out of `readyAddresses` at once), drains each through
   * the Drainer with the stop timeout, then stops its process and forgets it. Idempotent: a version with
   * nothing left is not drained again. A fleet whose stop can fail (a stop hook) leaves the instance
   * `stopping` with the error, for a later call to retry.
   */
  stop(version: string): Promise<void>;
  /** Instances known to the fleet, optionally of one version. */
  instances(version?: string): Instance[];
  /**
   * Addresses of the version's `ready` instances: where a router may send new requests right now.
   * Called on every proxied request, so it must answer from memory.
   */
  readyAddresses(version: string): readonly string[];
  /** Versions that have at least one instance. */
  versions(): string[];
  /**
   * Finds the instances an earlier fleet object left running (a controller restarted or killed) and
   * adopts them with the same ids and addresses, then starts health checking: they become `ready`
   * without being started again, and `ensure` of the same count starts nothing. A process that dies
   * later is noticed: `exited` when the fleet watches the process, `unhealthy` when it can only check
   * its health; either way it leaves `readyAddresses`, and a canary's (no `restartOnExit`) stays so.
   */
  start(): Promise<void>;
  /**
   * Stop health checking. With `stopInstances`, also stop every instance (graceful shutdown); without,
   * the instances keep running for the next fleet object to adopt. `ensure` rejects until `start()`.
   */
  close(options: { stopInstances: boolean }): Promise<void>;
}

/** Lets the fleet wait for in-flight requests to an address to finish before stopping it. */
export interface Drainer {
  /** Resolves when no request to `address` is in flight, or after `timeoutMs`. */
  drain(address: string, timeoutMs: number): Promise<void>;
}
