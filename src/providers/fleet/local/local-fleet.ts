/**
 * LocalFleet: starts, health-checks, restarts, drains, stops and adopts app processes. One class
 * because each step reads and writes the same per-instance state (pid, start time, health, restarts).
 * Telling a recorded pid from a reused one is process-identity.ts; an instance's log file (the run
 * marker and the last line that explains an exit) is instance-log.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage, InputError, ProviderError } from '../../../errors.js';
import { systemClock, type Clock } from '../../../util/clock.js';
import { formatDuration } from '../../../util/duration.js';
import { freePort } from '../../../util/net.js';
import { HealthChecker, type FleetLogger, type HealthOptions, type HealthTarget } from '../health-checker.js';
import { Slots } from '../slots.js';
import type { Drainer, EnsureOptions, Fleet, Instance, InstanceState } from '../types.js';
import type { InstanceRecord, InstanceRecordStore } from '../../../store/types.js';
import { commandArgv, signalGroup } from '../../../util/process-group.js';
import { runEnd, runMarkerLine, type RunEnd } from './instance-log.js';
import { isSameProcess, processStartTime } from './process-identity.js';

export type { FleetLogger } from '../health-checker.js';

/** The HTTP health check run against every instance; durations in milliseconds. */
export type LocalHealthOptions = HealthOptions;

/** How a `LocalFleet` runs one service's instances; durations in milliseconds. */
export interface LocalFleetOptions {
  service: string;
  /** A shell string (run as `/bin/sh -c 'exec …'`) or an argv array run directly. */
  command: string | string[];
  cwd: string;
  /** Extra environment on top of the controller's; PORT and the SHIPCHECK_* variables win over it. */
  env: Record<string, string>;
  /** Grace for draining and again after SIGTERM, before SIGKILL. */
  stopTimeoutMs: number;
  health: LocalHealthOptions;
  /** Directory for the per-instance log files; created when missing. */
  logDir: string;
  records: InstanceRecordStore;
  drainer?: Drainer;
  logger?: FleetLogger;
  /** Address instances listen on and are checked at; default 127.0.0.1. */
  host?: string;
  /** Delay before restarting an exited instance: `initialMs`, doubling per exit up to `maxMs`. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Time source for the backoff reset; tests may inject one. */
  clock?: Clock;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_RESTART_BACKOFF = { initialMs: 1_000, maxMs: 30_000 };
/** A run that lasted this long was healthy enough that its exit restarts at the initial backoff again. */
const BACKOFF_RESET_AFTER_MS = 60_000;
/** How often a stop looks for the exit of an adopted process, which sends no 'exit' event. */
const EXIT_POLL_MS = 50;
/** How long to wait for the kernel to take a process down after SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** Exit code recorded for an adopted process, whose real code only its old parent could read. */
const UNKNOWN_EXIT = 'unknown';
/**
 * A run that says its port was in use within this long of its start lost a race for the port (it was
 * free when chosen; another process took it before the instance listened): it starts again at once
 * on another port, up to MAX_PORT_RETRIES times in a row, without counting against the version.
 */
const PORT_RACE_MS = 10_000;
const MAX_PORT_RETRIES = 3;
const NOOP_LOGGER: FleetLogger = { info: () => {}, warn: () => {} };

/** The object callers see; the fleet updates it in place, so a held reference stays current. */
class LocalInstance implements Instance {
  state: InstanceState = 'starting';
  healthFailures = 0;
  failedChecks = 0;
  restarts = 0;
  lastError: string | undefined = undefined;
  exitCode: number | string | undefined = undefined;
  pid: number | undefined = undefined;

  constructor(
    readonly id: string,
    readonly version: string,
    readonly index: number,
    public address: string,
    public logFile: string,
  ) {}
}

/** One process run of an instance; events of a run that is no longer current are ignored. */
interface Run {
  /** Undefined for a process adopted from an earlier controller. */
  child: ChildProcess | undefined;
  pid: number | undefined;
  pidStartTime: string;
  startedAt: number;
  done: boolean;
  exited: Promise<void>;
  markExited: () => void;
}

/** The fleet's private bookkeeping for one instance, kept off the public object so it serializes cleanly. */
interface Slot {
  readonly instance: LocalInstance;
  port: number;
  run: Run | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  backoffMs: number;
  /** Record writes of one instance happen in order, so a late save never revives a deleted record. */
  recordOps: Promise<void>;
  /** Runs in a row that found their port taken (see PORT_RACE_MS). */
  portRetries: number;
}

/** Runs each instance as a detached child process on this host, checks its health and restarts it. */
export class LocalFleet implements Fleet {
  readonly type = 'local';

  private readonly host: string;
  private readonly logger: FleetLogger;
  private readonly clock: Clock;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly slots = new Slots<Slot>();
  private readonly versionOptions = new Map<string, EnsureOptions>();
  /** Operations on one version run one at a time; different versions never wait on each other. */
  private readonly locks = new Map<string, Promise<void>>();
  private readonly health: HealthChecker;
  private started = false;
  private closing = false;
  private closed = false;

  /** Validates the command; nothing is started until `start()` and `ensure()`. */
  constructor(private readonly options: LocalFleetOptions) {
    const { command } = options;
    const empty = typeof command === 'string' ? command.trim() === '' : command.length === 0 || !command[0];
    if (empty) throw new InputError(`fleet.command for service ${options.service} is empty`);
    this.host = options.host ?? DEFAULT_HOST;
    this.logger = options.logger ?? NOOP_LOGGER;
    this.clock = options.clock ?? systemClock;
    this.backoff = options.restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.health = new HealthChecker({
      health: options.health,
      logger: this.logger,
      targets: () => this.healthTargets(),
      onChange: () => this.slots.changed(),
    });
  }

  /** Adopts live processes from the record store, forgets dead ones, then starts health checking. */
  async start(): Promise<void> {
    if (this.closed) {
      // Started again after close(): a replica that won its lease back resumes watching its processes.
      this.closed = false;
      this.closing = false;
      this.started = false;
    }
    if (this.started) return;
    this.started = true;
    let records: InstanceRecord[];
    try {
      records = await this.options.records.listInstances(this.options.service);
    } catch (err) {
      throw new ProviderError(
        `cannot read instance records of ${this.options.service}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    for (const record of records) {
      if (this.slots.has(record.id)) continue;
      if (isSameProcess(record.pid, record.pidStartTime)) {
        this.adopt(record);
      } else {
        this.logger.info(
          { instance: record.id, pid: record.pid },
          'forgetting instance whose process is gone',
        );
        await this.options.records.deleteInstance(record.id).catch((err: unknown) => {
          this.logger.warn({ instance: record.id, err: errorMessage(err) }, 'cannot delete instance record');
        });
      }
    }
    this.health.start();
  }

  /** Starts indexes 0..count-1 that are missing and stops higher ones, highest first; never waits for health. */
  async ensure(version: string, count: number, options: EnsureOptions): Promise<void> {
    if (!Number.isInteger(count) || count < 0) {
      throw new InputError(`instance count must be a whole number >= 0, got ${count}`);
    }
    this.assertOpen();
    await this.withLock(version, async () => {
      // Checked again: close() may have begun while this call waited for the version's lock.
      this.assertOpen();
      this.versionOptions.set(version, { ...options });
      const existing = this.slots.of(version);
      const byIndex = new Map(existing.map((slot) => [slot.instance.index, slot]));
      for (let index = 0; index < count; index++) {
        const slot = byIndex.get(index);
        if (!slot) {
          await this.launch(this.newSlot(version, index));
        } else if (options.restartOnExit && slot.instance.state === 'exited' && !slot.restartTimer) {
          // An instance left exited earlier (e.g. ensured without restarts) now belongs to a version that restarts.
          await this.relaunch(slot);
        }
      }
      const extras = existing
        .filter((slot) => slot.instance.index >= count)
        .sort((a, b) => b.instance.index - a.instance.index);
      for (const slot of extras) await this.stopSlot(slot);
    });
  }

  /** Marks the version's instances stopping, drains them, stops their processes and forgets them. */
  async stop(version: string): Promise<void> {
    await this.withLock(version, async () => {
      this.versionOptions.delete(version);
      // In parallel, so stopping a version takes one stop timeout rather than one per instance.
      await Promise.all(this.slots.of(version).map((slot) => this.stopSlot(slot)));
    });
  }

  /** Live instance objects, sorted by version then index. */
  instances(version?: string): Instance[] {
    return this.slots.instances(version);
  }

  /** Addresses of the version's `ready` instances: where a router may send new requests right now. */
  readyAddresses(version: string): readonly string[] {
    return this.slots.readyAddresses(version);
  }

  /** Versions with at least one instance, exited ones included. */
  versions(): string[] {
    return this.slots.versions();
  }

  /** Stops health checks and restarts; `stopInstances` also stops every process, otherwise they keep running. */
  async close(options: { stopInstances: boolean }): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    this.health.stop();
    for (const slot of this.slots.values()) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    if (options.stopInstances) {
      await Promise.all(this.versions().map((version) => this.stop(version)));
    }
    // Let a launch already under way finish and record its process, so the next start() can adopt it.
    await Promise.all([...this.locks.values()]);
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closing) throw new ProviderError(`the local fleet of ${this.options.service} is closed`);
  }

  private withLock<T>(version: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(version) ?? Promise.resolve();
    const result = previous.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(version, settled);
    void settled.then(() => {
      if (this.locks.get(version) === settled) this.locks.delete(version);
    });
    return result;
  }

  private newSlot(version: string, index: number): Slot {
    const id = `${this.options.service}-${version}-${index}`;
    const logFile = path.join(this.options.logDir, `${id.replace(/[^\w.-]/g, '_')}.log`);
    return {
      instance: new LocalInstance(id, version, index, '', logFile),
      port: 0,
      run: undefined,
      restartTimer: undefined,
      backoffMs: this.backoff.initialMs,
      recordOps: Promise.resolve(),
      portRetries: 0,
    };
  }

  private adopt(record: InstanceRecord): void {
    const slot = this.newSlot(record.version, record.index);
    const { instance } = slot;
    slot.port = record.port;
    instance.address = `${this.host}:${record.port}`;
    instance.logFile = record.logFile;
    instance.pid = record.pid;
    const run = newRun(this.clock.now());
    run.pid = record.pid;
    run.pidStartTime = record.pidStartTime;
    slot.run = run;
    this.slots.set(instance.id, slot);
    this.logger.info(
      { instance: instance.id, pid: record.pid, address: instance.address },
      'adopted instance',
    );
  }

  /** Starts a new process for the slot on a fresh port and records it. */
  private async launch(slot: Slot): Promise<void> {
    const { instance } = slot;
    let port: number;
    try {
      port = await freePort(this.host);
    } catch (err) {
      throw new ProviderError(`no free port on ${this.host} for ${instance.id}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    slot.port = port;
    instance.address = `${this.host}:${port}`;
    instance.state = 'starting';
    this.slots.changed();
    instance.healthFailures = 0;
    instance.exitCode = undefined;
    instance.pid = undefined;
    this.slots.set(instance.id, slot);
    const run = newRun(this.clock.now());
    slot.run = run;
    this.spawnRun(slot, run);
    if (run.pid === undefined) return;
    this.logger.info(
      { instance: instance.id, pid: run.pid, address: instance.address, logFile: instance.logFile },
      'started instance',
    );
    await this.saveRecord(slot, run);
  }

  private async relaunch(slot: Slot): Promise<void> {
    slot.instance.restarts += 1;
    this.logger.info({ instance: slot.instance.id, restarts: slot.instance.restarts }, 'restarting instance');
    await this.launch(slot);
  }

  /** Spawns the run's process; a failure to spawn ends the run (the instance exits), it never throws. */
  private spawnRun(slot: Slot, run: Run): void {
    const { instance } = slot;
    const { service, cwd, command } = this.options;
    const env = {
      ...process.env,
      ...this.options.env,
      PORT: String(slot.port),
      APP_VERSION: instance.version,
      SHIPCHECK_INSTANCE: String(instance.index),
      SHIPCHECK_SERVICE: service,
    };
    const [file, args] = commandArgv(command, { exec: true });
    let fd: number | undefined;
    let child: ChildProcess;
    try {
      fs.mkdirSync(this.options.logDir, { recursive: true });
      fd = fs.openSync(instance.logFile, 'a');
      fs.writeSync(fd, runMarkerLine(instance.id, slot.port));
      // Detached: its own process group, so a Ctrl-C at the controller's terminal does not reach it and
      // it outlives a killed controller. Output goes to the file itself, not through a pipe we would own.
      child = spawn(file, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    } catch (err) {
      this.endRun(slot, run, errorCode(err), `cannot start ${instance.id}: ${errorMessage(err)}`);
      return;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    child.unref();
    run.child = child;
    run.pid = child.pid;
    child.on('error', (err) => {
      if (run.pid === undefined) {
        this.endRun(slot, run, errorCode(err), this.describeSpawnError(err));
      } else {
        this.logger.warn({ instance: instance.id, err: err.message }, 'instance process error');
      }
    });
    if (child.pid === undefined) return;
    run.pidStartTime = processStartTime(child.pid) ?? '';
    instance.pid = child.pid;
    child.once('exit', (code, signal) => this.endRun(slot, run, code ?? signal ?? UNKNOWN_EXIT));
  }

  private describeSpawnError(err: Error): string {
    const { cwd } = this.options;
    if (errorCode(err) === 'ENOENT' && !fs.existsSync(cwd))
      return `cwd ${cwd} does not exist (${err.message})`;
    return err.message;
  }

  /** Handles the end of a run, whatever ended it: exit, failed spawn, or an adopted process found gone. */
  private endRun(slot: Slot, run: Run, exitCode: number | string, reason?: string): void {
    if (run.done) return;
    run.done = true;
    run.markExited();
    // After close() without stopping, the processes belong to whichever controller adopts them next.
    if (this.closed || slot.run !== run) return;
    const { instance } = slot;
    instance.exitCode = exitCode;
    if (instance.state === 'stopping') return;
    const ended = runEnd(instance.logFile);
    if (this.lostPortRace(slot, run, ended)) return;
    instance.state = 'exited';
    this.slots.changed();
    instance.lastError = [reason ?? describeExit(exitCode), ended.line].filter(Boolean).join(': ');
    this.logger.warn({ instance: instance.id, exitCode, lastError: instance.lastError }, 'instance exited');
    if (this.versionOptions.get(instance.version)?.restartOnExit && !this.closing) {
      this.scheduleRestart(slot, run);
    } else {
      void this.deleteRecord(slot);
    }
  }

  /**
   * When the run ended soon after its start because its port was in use, starts the instance again on
   * another port (it stays `starting`) and says true; see PORT_RACE_MS.
   */
  private lostPortRace(slot: Slot, run: Run, ended: RunEnd): boolean {
    const { instance } = slot;
    const early = this.clock.now() - run.startedAt < PORT_RACE_MS;
    if (!early) slot.portRetries = 0;
    if (!ended.portTaken || !early || this.closing || slot.portRetries >= MAX_PORT_RETRIES) return false;
    slot.portRetries += 1;
    instance.exitCode = undefined;
    this.logger.warn(
      { instance: instance.id, port: slot.port, retry: slot.portRetries },
      `port ${slot.port} was taken before ${instance.id} listened on it; starting it on another port`,
    );
    void this.withLock(instance.version, async () => {
      // Stopped or replaced while it waited for the lock: nothing to start.
      if (this.closing || this.slots.get(instance.id) !== slot || slot.run !== run) return;
      if (instance.state === 'stopping') return;
      await this.relaunch(slot);
    }).catch((err: unknown) => {
      this.logger.warn({ instance: instance.id, err: errorMessage(err) }, 'cannot restart instance');
    });
    return true;
  }

  private scheduleRestart(slot: Slot, run: Run): void {
    if (this.clock.now() - run.startedAt >= BACKOFF_RESET_AFTER_MS) slot.backoffMs = this.backoff.initialMs;
    const delayMs = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, this.backoff.maxMs);
    const { instance } = slot;
    this.logger.info(
      { instance: instance.id, delay: formatDuration(delayMs) },
      'scheduling instance restart',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      this.withLock(instance.version, async () => {
        const stillWanted =
          !this.closing &&
          this.slots.get(instance.id) === slot &&
          instance.state === 'exited' &&
          this.versionOptions.get(instance.version)?.restartOnExit === true;
        if (stillWanted) await this.relaunch(slot);
      }).catch((err: unknown) => {
        this.logger.warn({ instance: instance.id, err: errorMessage(err) }, 'cannot restart instance');
      });
    }, delayMs);
    slot.restartTimer.unref();
  }

  private async stopSlot(slot: Slot): Promise<void> {
    const { instance } = slot;
    clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    const run = slot.run;
    const running = run !== undefined && !run.done && run.pid !== undefined;
    instance.state = 'stopping';
    this.slots.changed();
    if (running) {
      const { drainer, stopTimeoutMs } = this.options;
      if (drainer) {
        await drainer.drain(instance.address, stopTimeoutMs).catch((err: unknown) => {
          this.logger.warn(
            { instance: instance.id, err: errorMessage(err) },
            'draining failed; stopping anyway',
          );
        });
      }
      await this.terminate(slot, run);
    }
    await this.deleteRecord(slot);
    if (this.slots.get(instance.id) === slot) this.slots.delete(instance.id);
    this.logger.info({ instance: instance.id }, 'stopped instance');
  }

  /** SIGTERM to the process group, SIGKILL after the stop timeout. */
  private async terminate(slot: Slot, run: Run): Promise<void> {
    const { instance } = slot;
    const { stopTimeoutMs } = this.options;
    signalRun(run, 'SIGTERM');
    if (await this.waitForExit(slot, run, stopTimeoutMs)) return;
    this.logger.warn(
      { instance: instance.id, pid: run.pid },
      `no exit within ${formatDuration(stopTimeoutMs)} of SIGTERM; sending SIGKILL`,
    );
    signalRun(run, 'SIGKILL');
    if (!(await this.waitForExit(slot, run, KILL_GRACE_MS))) {
      this.logger.warn({ instance: instance.id, pid: run.pid }, 'process still running after SIGKILL');
    }
  }

  /** Resolves true once the run's process is gone, false after `timeoutMs`. */
  private async waitForExit(slot: Slot, run: Run, timeoutMs: number): Promise<boolean> {
    if (run.child) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const result = await Promise.race([run.exited.then(() => true), timedOut]);
      clearTimeout(timer);
      return result;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (run.done) return true;
      if (run.pid === undefined || !isSameProcess(run.pid, run.pidStartTime)) {
        this.endRun(slot, run, UNKNOWN_EXIT);
        return true;
      }
      if (Date.now() >= deadline) return false;
      await sleep(EXIT_POLL_MS);
    }
  }

  /** Instances with a live run; an adopted process, which sends no exit event, is looked up first. */
  private healthTargets(): HealthTarget[] {
    const targets: HealthTarget[] = [];
    for (const slot of this.slots.values()) {
      const { run, instance } = slot;
      if (instance.state === 'exited' || instance.state === 'stopping') continue;
      if (!run || run.done || run.pid === undefined) continue;
      if (!run.child && !isSameProcess(run.pid, run.pidStartTime)) {
        this.endRun(slot, run, UNKNOWN_EXIT);
        continue;
      }
      targets.push({
        instance,
        host: this.host,
        port: slot.port,
        current: () => !this.closing && slot.run === run && !run.done,
      });
    }
    return targets;
  }

  private saveRecord(slot: Slot, run: Run): Promise<void> {
    const { instance } = slot;
    const record: InstanceRecord = {
      id: instance.id,
      service: this.options.service,
      version: instance.version,
      index: instance.index,
      port: slot.port,
      pid: run.pid ?? 0,
      pidStartTime: run.pidStartTime,
      logFile: instance.logFile,
    };
    return this.recordOp(slot, 'save', () => this.options.records.saveInstance(record));
  }

  private deleteRecord(slot: Slot): Promise<void> {
    return this.recordOp(slot, 'delete', () => this.options.records.deleteInstance(slot.instance.id));
  }

  /** A failed record write is logged, not thrown: the process runs either way, only adoption suffers. */
  private recordOp(slot: Slot, what: string, op: () => Promise<void>): Promise<void> {
    const next = slot.recordOps.then(op).catch((err: unknown) => {
      this.logger.warn(
        { instance: slot.instance.id, err: errorMessage(err) },
        `cannot ${what} instance record`,
      );
    });
    slot.recordOps = next;
    return next;
  }
}

function newRun(startedAt: number): Run {
  let markExited: () => void = () => {};
  const exited = new Promise<void>((resolve) => {
    markExited = resolve;
  });
  return { child: undefined, pid: undefined, pidStartTime: '', startedAt, done: false, exited, markExited };
}

/** Signals the run's process group; falls back to the pid alone if it is somehow not a group leader. */
function signalRun(run: Run, signal: NodeJS.Signals): void {
  if (run.pid === undefined) return;
  if (!signalGroup(run.pid, signal)) {
    if (!isSameProcess(run.pid, run.pidStartTime)) return;
    try {
      process.kill(run.pid, signal);
    } catch {
      // Exited between the check and the signal: nothing left to stop.
    }
  }
}

function describeExit(exitCode: number | string): string {
  if (typeof exitCode === 'number') return `exited with code ${exitCode}`;
  if (exitCode === UNKNOWN_EXIT) return 'exited (code unknown: started by an earlier controller)';
  return `exited on signal ${exitCode}`;
}

function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'error';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
