import http from 'node:http';
import { formatDuration } from '../../util/duration.js';
import type { Instance } from './types.js';

/** Where a fleet reports what it does to instances; a pino logger fits. */
export interface FleetLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The HTTP health check a fleet runs against every instance; durations in milliseconds. */
export interface HealthOptions {
  /** Path requested with GET; any 2xx is healthy. */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures after which a ready instance becomes unhealthy. */
  unhealthyAfter: number;
}

/** One instance to check on this tick, and where it listens. */
export interface HealthTarget {
  /** Updated in place: state, healthFailures, failedChecks, lastError. */
  readonly instance: Instance;
  readonly host: string;
  readonly port: number;
  /** False once the check no longer concerns this instance (stopped, replaced): its result is dropped. */
  current(): boolean;
}

/** What a `HealthChecker` checks and whom it tells. */
export interface HealthCheckerOptions {
  health: HealthOptions;
  logger: FleetLogger;
  /** The instances to check, asked on every tick; exited and stopping ones are skipped. */
  targets: () => Iterable<HealthTarget>;
  /** Called after a check moved an instance to `ready` or `unhealthy`, e.g. to clear a cache. */
  onChange: (instance: Instance) => void;
}

const HEALTH_USER_AGENT = 'shipcheck-health';

/**
 * Checks every target each `intervalMs` and moves its state: `starting` → `ready` after a pass, `ready` →
 * `unhealthy` after `unhealthyAfter` failures in a row, `unhealthy` → `ready` after a pass. One check per
 * instance at a time; a slow instance never delays the others.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Instance>();

  constructor(private readonly options: HealthCheckerOptions) {}

  /** Starts ticking; idempotent. The timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.health.intervalMs);
    this.timer.unref();
  }

  /** Stops ticking; a check under way finishes, but its result is applied only if its target is current. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Checks every target once, now, and waits for the answers; after `start()`, so that a fleet that has
   * just adopted instances knows which are ready before anyone routes to them.
   */
  async checkNow(): Promise<void> {
    await Promise.all(this.tick());
  }

  private tick(): Promise<void>[] {
    const checks: Promise<void>[] = [];
    for (const target of this.options.targets()) {
      const { instance } = target;
      if (instance.state === 'exited' || instance.state === 'stopping' || this.inFlight.has(instance))
        continue;
      this.inFlight.add(instance);
      checks.push(
        this.check(target)
          .catch((err: unknown) => {
            this.options.logger.warn(
              { instance: instance.id, err: err instanceof Error ? err.message : String(err) },
              'health check failed to run',
            );
          })
          .finally(() => this.inFlight.delete(instance)),
      );
    }
    return checks;
  }

  private async check(target: HealthTarget): Promise<void> {
    const { health, logger, onChange } = this.options;
    const failure = await probeHealth(target.host, target.port, health.path, health.timeoutMs);
    const { instance } = target;
    if (!this.timer || !target.current()) return;
    if (instance.state === 'exited' || instance.state === 'stopping') return;
    if (failure === undefined) {
      instance.healthFailures = 0;
      if (instance.state !== 'ready') {
        logger.info({ instance: instance.id, address: instance.address }, 'instance ready');
        instance.state = 'ready';
        onChange(instance);
      }
      return;
    }
    instance.healthFailures += 1;
    instance.lastError = `GET ${health.path}: ${failure}`;
    // A starting instance is expected to refuse connections for a while; fleet.startTimeout judges that,
    // so only an instance that has served counts toward failedChecks, which the health trigger reads.
    if (instance.state === 'starting') return;
    instance.failedChecks += 1;
    if (instance.state === 'ready' && instance.healthFailures >= health.unhealthyAfter) {
      instance.state = 'unhealthy';
      logger.warn({ instance: instance.id, lastError: instance.lastError }, 'instance unhealthy');
      onChange(instance);
    }
  }
}

/** One GET of `http://host:port<path>`; resolves undefined on 2xx, else a short account of the failure. */
export function probeHealth(
  host: string,
  port: number,
  healthPath: string,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (failure: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(failure);
    };
    const req = http.request(
      {
        host,
        port,
        path: healthPath,
        method: 'GET',
        agent: false,
        headers: { 'user-agent': HEALTH_USER_AGENT },
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        finish(status >= 200 && status < 300 ? undefined : String(status));
      },
    );
    const timer = setTimeout(() => {
      finish(`timeout after ${formatDuration(timeoutMs)}`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish(err.message));
    req.end();
  });
}
