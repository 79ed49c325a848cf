/** Lifecycle of one app instance as the fleet sees it. */
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

/** Runs instances of a service's versions and knows their health. */
export interface Fleet {
  /** Stable id used in config and logs, e.g. 'local'. */
  readonly type: string;
  /**
   * Make exactly `count` instances of `version` exist, starting or stopping the difference
   * (highest index stopped first). Idempotent: safe on every reconcile. Returns without waiting
   * for health; read `instances()` for readiness.
   */
  ensure(version: string, count: number, options: EnsureOptions): Promise<void>;
  /** Drain (no new traffic, in-flight requests finish), then stop every instance of `version`. Idempotent. */
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
  /** Find instances left by an earlier run (kill -9) and adopt them; start health checking. */
  start(): Promise<void>;
  /** Stop health checking. With `stopInstances`, also stop every instance (graceful shutdown). */
  close(options: { stopInstances: boolean }): Promise<void>;
}

/** Lets the fleet wait for in-flight requests to an address to finish before stopping it. */
export interface Drainer {
  /** Resolves when no request to `address` is in flight, or after `timeoutMs`. */
  drain(address: string, timeoutMs: number): Promise<void>;
}
