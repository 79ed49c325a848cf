import { errorMessage, InputError, ProviderError } from '../../../errors.js';
import { systemClock, type Clock } from '../../../util/clock.js';
import { formatDuration } from '../../../util/duration.js';
import { parseHostPort } from '../../../util/net.js';
import { HealthChecker, type FleetLogger, type HealthOptions, type HealthTarget } from '../health-checker.js';
import { Slots } from '../slots.js';
import type { Drainer, EnsureOptions, Fleet, Instance, InstanceState } from '../types.js';
import { parseListOutput, parseStartOutput, type ListedInstance } from './hook-output.js';
import { runHook, type HookOutput } from './run-hook.js';
import { unitName } from '../../../domain/release.js';

/** The three commands of `fleet.hooks`: each a shell string (run with `/bin/sh -c`) or an argv array. */
export interface HookCommands {
  /** Starts one instance and prints `{"address": "host:port"}`. */
  start: string | string[];
  /** Stops the instance at SHIPCHECK_ADDRESS. */
  stop: string | string[];
  /** Prints a JSON array of `{"address", "version"}`: every instance of the service that runs. */
  list: string | string[];
  /** Longest one run of a hook may take before it counts as failed. */
  timeoutMs: number;
}

/** How a `HooksFleet` runs one service's instances; durations in milliseconds. */
export interface HooksFleetOptions {
  /** The value of SHIPCHECK_SERVICE. */
  service: string;
  /** When set, passed as SHIPCHECK_ENVIRONMENT and part of instance ids (`web@staging-2.0.0-0`). */
  environment?: string;
  hooks: HookCommands;
  /** Absolute folder the hooks run in. */
  cwd: string;
  /** Extra environment for every hook on top of the controller's; the SHIPCHECK_* variables win over it. */
  env: Record<string, string>;
  /** Longest wait for an instance's requests in flight to finish before its stop hook runs. */
  stopTimeoutMs: number;
  health: HealthOptions;
  drainer?: Drainer;
  logger?: FleetLogger;
  /** Delay before retrying a failed start or stop hook: `initialMs`, doubling per failure up to `maxMs`. */
  retryBackoff?: { initialMs: number; maxMs: number };
  /** Time source for the retry backoff; tests may inject one. */
  clock?: Clock;
}

const DEFAULT_RETRY_BACKOFF = { initialMs: 1_000, maxMs: 30_000 };
const NOOP_LOGGER: FleetLogger = { info: () => {}, warn: () => {} };

/** The object callers see; the fleet updates it in place, so a held reference stays current. */
class HookInstance implements Instance {
  state: InstanceState = 'starting';
  healthFailures = 0;
  failedChecks = 0;
  restarts = 0;
  lastError: string | undefined = undefined;
  /** There is no process to watch: an instance of this fleet never reports an exit code or a pid. */
  readonly exitCode = undefined;
  readonly pid = undefined;
  readonly logFile = undefined;

  constructor(
    readonly id: string,
    readonly version: string,
    readonly index: number,
    /** '' until the start hook has reported where the instance listens. */
    public address: string,
  ) {}
}

/** The fleet's private bookkeeping for one instance. */
interface Slot {
  readonly instance: HookInstance;
  /** The slot's hook runs, one after another: a stop queued behind a start sees the address it reported. */
  queue: Promise<void>;
  /** Hook runs queued or under way. */
  pending: number;
  /** The stop queued or under way; another stop request joins it. */
  stopping: Promise<void> | undefined;
  /** The index is the SHIPCHECK_INSTANCE it was started with, not one assigned on adoption. */
  indexKnown: boolean;
  drained: boolean;
  /** A failed hook is not run again before this time (clock ms). */
  retryAt: number;
  backoffMs: number;
}

/**
 * Runs instances anywhere through three user commands (start, stop, list) and checks their health over
 * HTTP itself. `list` lets a restarted controller, or another replica taking over, find what runs.
 */
export class HooksFleet implements Fleet {
  readonly type = 'hooks';

  private readonly logger: FleetLogger;
  private readonly clock: Clock;
  private readonly backoff: { initialMs: number; maxMs: number };
  /** `service` or `service@environment`: the start of instance ids and of hook labels. */
  private readonly name: string;
  private readonly slots = new Slots<Slot>();
  private readonly versionOptions = new Map<string, EnsureOptions>();
  private readonly health: HealthChecker;
  /** The `start()` under way or done; cleared by `close()`, so that a later `start()` adopts afresh. */
  private startTask: Promise<void> | undefined;
  private closeTask: Promise<void> | undefined;
  /** The last failed `list`: a `start()` before `retryAt` fails with its error instead of running it again. */
  private listFailure: { error: unknown; retryAt: number } | undefined;
  private listBackoffMs: number;

  /** Validates the hooks; nothing runs until `start()` and `ensure()`. */
  constructor(private readonly options: HooksFleetOptions) {
    for (const hook of ['start', 'stop', 'list'] as const) {
      const command = options.hooks[hook];
      const empty = typeof command === 'string' ? command.trim() === '' : !command[0];
      if (empty) throw new InputError(`fleet.hooks.${hook} for service ${options.service} is empty`);
    }
    this.logger = options.logger ?? NOOP_LOGGER;
    this.clock = options.clock ?? systemClock;
    this.backoff = options.retryBackoff ?? DEFAULT_RETRY_BACKOFF;
    this.listBackoffMs = this.backoff.initialMs;
    this.name = unitName(options.service, options.environment);
    this.health = new HealthChecker({
      health: options.health,
      logger: this.logger,
      targets: () => this.healthTargets(),
      onChange: () => this.slots.changed(),
    });
  }

  /**
   * Runs `list` and adopts every instance it reports (its version's count is the engine's business), then
   * starts health checking. A failing or unreadable `list` rejects, and a later call tries again. After
   * `close()` (a replica that lost its lease and won it back) it forgets everything and adopts afresh.
   */
  start(): Promise<void> {
    this.startTask ??= this.open().catch((err: unknown) => {
      this.startTask = undefined;
      throw err;
    });
    return this.startTask;
  }

  /**
   * Starts the missing indexes below `count` and stops those at or above it, in the background: it returns
   * at once, so it is cheap on every reconcile. A failed start is retried with a backoff when the version
   * restarts on exit; otherwise (a canary) the instance shows as `exited` with the hook's error.
   */
  async ensure(version: string, count: number, options: EnsureOptions): Promise<void> {
    if (!Number.isInteger(count) || count < 0) {
      throw new InputError(`instance count must be a whole number >= 0, got ${count}`);
    }
    this.assertOpen();
    this.versionOptions.set(version, { ...options });
    const now = this.clock.now();
    const existing = this.slots.of(version);
    const byIndex = new Map(existing.map((slot) => [slot.instance.index, slot]));
    for (let index = 0; index < count; index++) {
      const slot = byIndex.get(index);
      if (!slot) {
        this.launch(this.newSlot(version, index, true));
        continue;
      }
      if (slot.pending > 0 || now < slot.retryAt) continue;
      const { state, address } = slot.instance;
      // An index is free again only once its stop succeeded; until then its failed stop is retried.
      if (state === 'stopping') void this.stopSlot(slot);
      else if (address === '' && (state === 'starting' || options.restartOnExit)) this.launch(slot);
    }
    for (const slot of existing) {
      if (slot.instance.index >= count && this.stopDue(slot, now)) void this.stopSlot(slot);
    }
  }

  /**
   * Marks the version's instances stopping, drains them, runs the stop hook for each (in parallel) and
   * forgets them. A failed stop hook leaves its instance `stopping` with the error; a later call retries it
   * once the backoff has passed. Never rejects.
   */
  async stop(version: string): Promise<void> {
    await this.stopVersion(version, false);
  }

  /** Known instances, sorted by version then index, including ones whose start hook has not reported yet. */
  instances(version?: string): Instance[] {
    return this.slots.instances(version);
  }

  /** Addresses of the version's `ready` instances: where a router may send new requests right now. */
  readyAddresses(version: string): readonly string[] {
    return this.slots.readyAddresses(version);
  }

  /** Versions with at least one instance, exited and stopping ones included. */
  versions(): string[] {
    return this.slots.versions();
  }

  /**
   * Stops health checking; `stopInstances` also stops every instance (failed stops are tried once more at
   * once). Hooks under way are awaited, so an instance being started is not left half-known. A later
   * `start()` opens the fleet again.
   */
  close(options: { stopInstances: boolean }): Promise<void> {
    this.startTask = undefined;
    this.closeTask ??= this.shutDown(options);
    return this.closeTask;
  }

  private get closing(): boolean {
    return this.closeTask !== undefined;
  }

  private assertOpen(): void {
    if (this.closing) throw new ProviderError(`the hooks fleet of ${this.name} is closed`);
  }

  private async open(): Promise<void> {
    if (this.closeTask) {
      await this.closeTask;
      // Whatever this fleet knew may have changed under another replica; list tells what runs now.
      this.slots.clear();
      this.versionOptions.clear();
      this.slots.changed();
      this.closeTask = undefined;
    }
    const listed = await this.list();
    // close() while list ran: this start is void, and a later one lists again.
    if (this.closing) return;
    this.adoptAll(listed);
    this.health.start();
    // A replica taking over must not route before it knows which adopted instances answer: one
    // round of checks first, or a half-checked fleet would shift traffic for a moment.
    await this.health.checkNow();
  }

  /** Runs `list`; after a failure, calls within the retry backoff fail at once with the same error. */
  private async list(): Promise<ListedInstance[]> {
    if (this.listFailure && this.clock.now() < this.listFailure.retryAt) throw this.listFailure.error;
    const label = `fleet.hooks.list (${this.name})`;
    try {
      const listed = parseListOutput(label, await this.run(label, this.options.hooks.list, {}));
      this.listFailure = undefined;
      this.listBackoffMs = this.backoff.initialMs;
      return listed;
    } catch (err) {
      this.listFailure = { error: err, retryAt: this.clock.now() + this.listBackoffMs };
      this.listBackoffMs = Math.min(this.listBackoffMs * 2, this.backoff.maxMs);
      throw err;
    }
  }

  private async shutDown(options: { stopInstances: boolean }): Promise<void> {
    this.health.stop();
    if (options.stopInstances) {
      await Promise.all(this.versions().map((version) => this.stopVersion(version, true)));
    }
    await Promise.all([...this.slots.values()].map((slot) => slot.queue));
  }

  private async stopVersion(version: string, force: boolean): Promise<void> {
    this.versionOptions.delete(version);
    const now = this.clock.now();
    const slots = this.slots.of(version).filter((slot) => force || this.stopDue(slot, now));
    await Promise.all(slots.map((slot) => this.stopSlot(slot)));
  }

  /** False only for an instance whose stop hook failed and whose retry backoff has not passed. */
  private stopDue(slot: Slot, now: number): boolean {
    return slot.instance.state !== 'stopping' || slot.stopping !== undefined || now >= slot.retryAt;
  }

  private newSlot(version: string, index: number, indexKnown: boolean, address = ''): Slot {
    const id = `${this.name}-${version}-${index}`;
    return {
      instance: new HookInstance(id, version, index, address),
      queue: Promise.resolve(),
      pending: 0,
      stopping: undefined,
      indexKnown,
      drained: false,
      retryAt: 0,
      backoffMs: this.backoff.initialMs,
    };
  }

  /** Adopts listed instances not known yet: one naming a free index keeps it, others take the lowest free. */
  private adoptAll(listed: ListedInstance[]): void {
    const seen = new Set([...this.slots.values()].map((slot) => slot.instance.address));
    const fresh = listed.filter((entry) => {
      if (seen.has(entry.address)) return false;
      seen.add(entry.address);
      return true;
    });
    const later: ListedInstance[] = [];
    for (const entry of fresh) {
      if (entry.instance !== undefined && !this.indexTaken(entry.version, entry.instance)) {
        this.adopt(entry, entry.instance, true);
      } else {
        later.push(entry);
      }
    }
    for (const entry of later) {
      let index = 0;
      while (this.indexTaken(entry.version, index)) index++;
      this.adopt(entry, index, false);
    }
  }

  private indexTaken(version: string, index: number): boolean {
    return this.slots.has(`${this.name}-${version}-${index}`);
  }

  private adopt(entry: ListedInstance, index: number, indexKnown: boolean): void {
    const slot = this.newSlot(entry.version, index, indexKnown, entry.address);
    this.slots.set(slot.instance.id, slot);
    this.logger.info({ instance: slot.instance.id, address: entry.address }, 'adopted instance');
  }

  /** Queues a run of the start hook for the slot, which shows as `starting` meanwhile. */
  private launch(slot: Slot): void {
    const { instance } = slot;
    instance.state = 'starting';
    this.slots.set(instance.id, slot);
    void this.enqueue(slot, () => this.runStart(slot));
  }

  private async runStart(slot: Slot): Promise<void> {
    const { instance } = slot;
    // A stop, or a shutdown, that came while this start waited for its turn wins.
    if (instance.state === 'stopping' || this.closing || this.slots.get(instance.id) !== slot) return;
    const label = `fleet.hooks.start (${this.name} ${instance.version} #${instance.index})`;
    try {
      const output = await this.run(label, this.options.hooks.start, {
        SHIPCHECK_VERSION: instance.version,
        SHIPCHECK_INSTANCE: String(instance.index),
      });
      instance.address = parseStartOutput(label, output);
    } catch (err) {
      this.startFailed(slot, err);
      return;
    }
    slot.indexKnown = true;
    slot.retryAt = 0;
    slot.backoffMs = this.backoff.initialMs;
    instance.lastError = undefined;
    instance.healthFailures = 0;
    this.slots.changed();
    this.logger.info({ instance: instance.id, address: instance.address }, 'started instance');
  }

  private startFailed(slot: Slot, err: unknown): void {
    const { instance } = slot;
    instance.lastError = errorMessage(err);
    const delayMs = this.scheduleRetry(slot);
    if (instance.state === 'stopping') return;
    // A canary must not wait for a start that may never work: `exited` makes the engine roll it back.
    const retry = this.versionOptions.get(instance.version)?.restartOnExit === true;
    instance.state = retry ? 'starting' : 'exited';
    this.slots.changed();
    this.logger.warn(
      {
        instance: instance.id,
        lastError: instance.lastError,
        ...(retry ? { retryIn: formatDuration(delayMs) } : {}),
      },
      retry ? 'start hook failed; retrying' : 'start hook failed',
    );
  }

  /** Queues a stop of the slot, or joins the one queued; resolves once it has run, never rejects. */
  private stopSlot(slot: Slot): Promise<void> {
    if (slot.stopping) return slot.stopping;
    const { instance } = slot;
    instance.state = 'stopping';
    this.slots.changed();
    const done = this.enqueue(slot, () => this.runStop(slot)).finally(() => {
      slot.stopping = undefined;
    });
    slot.stopping = done;
    return done;
  }

  private async runStop(slot: Slot): Promise<void> {
    const { instance } = slot;
    if (this.slots.get(instance.id) !== slot) return;
    // Without an address the start hook never reported one: there is nothing shipcheck could stop.
    if (instance.address !== '') {
      const { drainer, stopTimeoutMs } = this.options;
      if (drainer && !slot.drained) {
        await drainer.drain(instance.address, stopTimeoutMs).catch((err: unknown) => {
          this.logger.warn(
            { instance: instance.id, err: errorMessage(err) },
            'draining failed; stopping anyway',
          );
        });
        slot.drained = true;
      }
      const label = `fleet.hooks.stop (${this.name} ${instance.version} #${instance.index} ${instance.address})`;
      try {
        await this.run(label, this.options.hooks.stop, {
          SHIPCHECK_VERSION: instance.version,
          SHIPCHECK_ADDRESS: instance.address,
          ...(slot.indexKnown ? { SHIPCHECK_INSTANCE: String(instance.index) } : {}),
        });
      } catch (err) {
        instance.lastError = errorMessage(err);
        const delayMs = this.scheduleRetry(slot);
        this.logger.warn(
          { instance: instance.id, lastError: instance.lastError, retryIn: formatDuration(delayMs) },
          'stop hook failed; retrying on a later stop',
        );
        return;
      }
    }
    this.slots.delete(instance.id);
    this.logger.info({ instance: instance.id, address: instance.address }, 'stopped instance');
  }

  /** Sets when the slot's failed hook may run again; returns the delay. */
  private scheduleRetry(slot: Slot): number {
    const delayMs = slot.backoffMs;
    slot.retryAt = this.clock.now() + delayMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, this.backoff.maxMs);
    return delayMs;
  }

  /** Runs `task` after the slot's earlier hook runs; a rejection is logged, never passed on. */
  private enqueue(slot: Slot, task: () => Promise<void>): Promise<void> {
    slot.pending += 1;
    const next = slot.queue
      .then(task)
      .catch((err: unknown) => {
        this.logger.warn(
          { instance: slot.instance.id, err: errorMessage(err) },
          'fleet hook bookkeeping failed',
        );
      })
      .finally(() => {
        slot.pending -= 1;
      });
    slot.queue = next;
    return next;
  }

  private run(label: string, command: string | string[], vars: Record<string, string>): Promise<HookOutput> {
    const { service, environment, cwd, env, hooks } = this.options;
    return runHook(label, command, {
      cwd,
      env: {
        ...process.env,
        ...env,
        SHIPCHECK_SERVICE: service,
        ...(environment ? { SHIPCHECK_ENVIRONMENT: environment } : {}),
        ...vars,
      },
      timeoutMs: hooks.timeoutMs,
    });
  }

  private healthTargets(): HealthTarget[] {
    const targets: HealthTarget[] = [];
    for (const slot of this.slots.values()) {
      const { instance } = slot;
      const address = instance.address;
      if (address === '') continue;
      const { host, port } = parseHostPort(address);
      const current = (): boolean =>
        !this.closing && this.slots.get(instance.id) === slot && instance.address === address;
      targets.push({ instance, host, port, current });
    }
    return targets;
  }
}
