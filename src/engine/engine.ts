/**
 * The release state machine: the reconcile loop and each phase of a release's life, from the
 * pre-deploy gate through its canary steps, verification and final gates to `completed`, or through
 * `rolling-back`; and the commands that start, move, hold and end a release. It persists a
 * transition, then acts. What it works with lives beside it: the unit's rows and events
 * (`unit-records.ts`), the read views (`views.ts`), what runs and takes traffic (`serving.ts`),
 * effects under idempotency keys (`effects.ts`), the migration step (`migration-step.ts`), the
 * checklist's gates (`gates.ts`), the commands' rules (`command-rules.ts`), and the analysis policy
 * (`../analysis/analysis-policy.ts`), whose decisions the engine acts on.
 *
 * It is longer than 600 lines because it is one job: the phases hand a release to each other and to
 * the rollback path within one pass, and reading them in one place is how the state machine is checked.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AnalysisPolicy } from '../analysis/analysis-policy.js';
import type { SyntheticLoad } from '../analysis/synthetic-load.js';
import type { ChecklistRunner, GateSignature, Signer } from '../checklist/checklist-runner.js';
import type { Config } from '../config/schema.js';
import type { Gate } from '../domain/checklist.js';
import { type ReleaseState, unitName } from '../domain/release.js';
import { checkVersion } from '../domain/version.js';
import { ConflictError, InputError } from '../errors.js';
import type { Migrator } from '../app-database/migrator.js';
import type { Notifier } from '../notify/notifier.js';
import type { Fleet } from '../providers/fleet/types.js';
import type { MetricSource } from '../providers/metrics/types.js';
import type { TrafficRouter } from '../providers/traffic/types.js';
import type { ChecklistItemRow, ReleasePatch, ReleaseRow, ServiceRow, Store } from '../store/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import { formatDuration } from '../util/duration.js';
import {
  type ReleaseStart,
  requireActive,
  checkNoActiveRelease,
  checkNotRollingBack,
  deployStart,
  promotion,
  resumption,
  rollbackStart,
} from './command-rules.js';
import { Effects } from './effects.js';
import type { EngineMetrics } from './engine-metrics.js';
import { Gates, type ReleaseChecklist } from './gates.js';
import { type Lease, LeaseLostError } from './lease.js';
import { MigrationStep, describeDown, describeUp } from './migration-step.js';
import { canaryCount, describeStep } from './plan.js';
import { promoteHold } from './promote-hold.js';
import { ReleaseSampler } from './release-sampler.js';
import { BaselineRecorder } from '../baseline/recorder.js';
import { Reasons, analysisReason, describeNotReady } from './reasons.js';
import { Serving, routeFor } from './serving.js';
import { UnitRecords } from './unit-records.js';
import type { Registry } from 'prom-client';
import { UnitScaling } from '../scaling/unit-scaling.js';
import {
  type ChecklistView,
  type InstanceLogView,
  type ReleaseView,
  type StatusView,
  Views,
} from './views.js';

/** How often the reconciler looks at every release; analysis runs on its own `analysis.interval`. */
export const DEFAULT_TICK_MS = 200;
/** A version's weight when it takes all traffic. */
const FULL_WEIGHT = 100;

/** Everything the engine drives; providers are created by the caller. */
export interface EngineOptions {
  config: Config;
  store: Store;
  fleet: Fleet;
  router: TrafficRouter;
  metrics: MetricSource;
  logger: Logger;
  clock?: Clock;
  tickMs?: number;
  /** Where the engine's own metrics are registered; none when omitted. */
  ownMetrics?: EngineMetrics;
  /** Database migrations run after the pre-deploy gate and, with rollback.migrations: down, undone on rollback. */
  migrator?: Migrator;
  /** The environment this engine deploys to, when the config has environments. */
  environment?: string;
  /** The release checklist: its runner and the resolved template items each release gets. */
  checklist?: ReleaseChecklist;
  /**
   * With several replicas on one store: only the lease's holder reconciles. Without a lease this
   * engine is the only one and always acts.
   */
  lease?: Lease;
  /** Sends the unit's events to webhooks; run by the replica that drives the unit. */
  notifier?: Notifier;
  /** analysis.syntheticLoad: traffic for the version under analysis, so that little traffic still gets a verdict. */
  syntheticLoad?: SyntheticLoad;
  /** Where the per-instance CPU and memory gauges are registered (docs/capacity.md); none when omitted. */
  registry?: Registry;
}

/**
 * The reconcile loop. Every change of intent is written to the store before it is acted on, and every
 * action is idempotent, so a controller killed at any moment resumes from the store alone.
 */
export class Engine {
  /** Emits `event` with each EventRow this replica stores, and `sample` with each ReleaseSampleRow. */
  readonly events: EventEmitter;
  private readonly config: Config;
  private readonly store: Store;
  private readonly fleet: Fleet;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly ownMetrics: EngineMetrics | undefined;
  private readonly lease: Lease | undefined;
  private readonly notifier: Notifier | undefined;
  private readonly syntheticLoad: SyntheticLoad | undefined;
  /** The name releases are stored under: `web`, or `web@staging` for an environment. */
  private readonly service: string;
  private readonly records: UnitRecords;
  private readonly views: Views;
  private readonly effects: Effects;
  private readonly migrations: MigrationStep;
  private readonly serving: Serving;
  private readonly gates: Gates;
  private readonly analysis: AnalysisPolicy;
  private readonly sampler: ReleaseSampler;
  /** The stable instance count, its sampling and autoscaler, and the capacity report. */
  readonly scaling: UnitScaling;
  /** Records this unit's performance baselines (docs/baselines.md). */
  readonly baselines: BaselineRecorder;
  private timer: NodeJS.Timeout | undefined;
  /** Whether the loop's last pass is still queued or running: the loop's next tick is skipped, not queued. */
  private looping = false;
  /** Whether this replica drives the unit: always without a lease, else while it holds the lease. */
  private leading: boolean;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: EngineOptions) {
    const { config, store, fleet, router, metrics, logger, lease, syntheticLoad, environment } = options;
    const clock = options.clock ?? systemClock;
    const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    const unit = unitName(config.service, environment);
    const records = new UnitRecords({ store, name: unit, clock, logger });
    const effects = new Effects({ store, unit, holder: lease?.holder ?? 'local', clock });
    const analysis = new AnalysisPolicy({ config, metrics, fleet, syntheticLoad, recheckMs: tickMs });
    this.config = config;
    this.store = store;
    this.fleet = fleet;
    this.logger = logger;
    this.clock = clock;
    this.tickMs = tickMs;
    this.ownMetrics = options.ownMetrics;
    this.lease = lease;
    this.notifier = options.notifier;
    this.syntheticLoad = syntheticLoad;
    this.leading = lease === undefined;
    this.service = unit;
    this.records = records;
    this.events = records.events;
    this.effects = effects;
    this.analysis = analysis;
    this.views = new Views({ config, store, records, fleet, metrics, clock, environment, lease });
    this.sampler = new ReleaseSampler({ store, metrics, clock, logger, events: records.events });
    const onItem = (release: ReleaseRow, item: ChecklistItemRow): void =>
      void this.itemChanged(release, item).catch((err: unknown) =>
        logger.warn({ err }, 'item event not stored'),
      );
    this.baselines = new BaselineRecorder({ store, metrics, fleet, config, clock, logger, unit, onItem });
    const acting = (): void => this.acting();
    const holds = async (): Promise<boolean> => (lease ? lease.confirm() : true);
    this.migrations = new MigrationStep({ migrator: options.migrator, effects, unit, logger, acting, holds });
    this.scaling = new UnitScaling({
      unit,
      config,
      store,
      fleet,
      metrics,
      clock,
      logger: logger.child({ component: 'scaling' }),
      emit: (type, message, data) => records.emitService(type, message, data),
      reconcile: () => this.tick(),
      ...(options.registry ? { registry: options.registry } : {}),
    });
    const scaling = this.scaling;
    this.serving = new Serving({
      instances: () => scaling.count(),
      fleet,
      router,
      effects,
      syntheticLoad,
      records,
      clock,
      logger,
      acting,
    });
    this.gates = new Gates({ checklist: options.checklist, store, analysis, unit, clock });
  }

  /**
   * Adopts surviving instances, applies the stored route, and starts the loop (tests drive `tick()`
   * with `loop: false`). With a lease, adoption waits until this replica holds it.
   */
  async start(options: { loop?: boolean } = {}): Promise<void> {
    if (!this.lease) await this.fleet.start();
    await this.tick();
    if (options.loop === false) return;
    this.timer = setInterval(() => this.loopTick(), this.tickMs);
  }

  /**
   * One tick of the loop. A pass that outlasts the interval (a held-up store, a slow router) makes the
   * loop skip its ticks until it ends: queued ones would run back to back once the store answers, and
   * pile up without bound while it does not.
   */
  private loopTick(): void {
    if (this.looping) {
      this.ownMetrics?.skippedTick(this.service);
      this.logger.debug({ service: this.service }, 'the last reconcile pass is still running; tick skipped');
      return;
    }
    this.looping = true;
    this.tick()
      .catch((err: unknown) => this.logger.error({ err }, 'reconcile failed'))
      .finally(() => (this.looping = false));
  }

  /** Stops the loop and waits for the tick in progress and for instances being stopped. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.scaling.close();
    await this.exclusive(async () => undefined);
    this.syntheticLoad?.close();
    await this.gates.close();
    await this.serving.idle();
    await this.sampler.idle();
    await this.baselines.idle();
    await this.notifier?.idle();
    // Another replica takes over at once instead of waiting for the lease to expire.
    await this.lease
      ?.release()
      .catch((err: unknown) => this.logger.warn({ err }, 'releasing the lease failed'));
  }

  /**
   * Checks the lease. On gaining it, adopts the instances the last holder left (the fleet lists them)
   * and carries on from the store; on losing it, stops acting and forgets what only the holder needs.
   */
  private async lead(): Promise<boolean> {
    if (!this.lease) return true;
    const held = await this.lease.check();
    if (held && !this.leading) {
      await this.fleet.start();
      this.leading = true;
      this.effects.forget();
      this.notifier?.reset();
      const { holder, epoch } = this.lease;
      const message = `${holder} drives ${this.service} (lease epoch ${epoch})`;
      await this.records.emitService('replica.leading', message, { holder, epoch });
    } else if (!held && this.leading) {
      this.leading = false;
      this.syntheticLoad?.stop();
      this.analysis.clear();
      this.sampler.clear();
      this.scaling.clear();
      this.baselines.clear();
      this.migrations.clear();
      this.gates.abort();
      await this.notifier?.idle();
      this.notifier?.reset();
      await this.fleet.close({ stopInstances: false });
      if (this.lease?.handingOver)
        this.logger.info({ service: this.service }, 'handed over to another replica to spread the work');
      else this.logger.warn({ service: this.service }, 'another replica drives this service now');
    }
    return held;
  }

  /** Runs one reconcile pass; commands and passes never interleave. */
  tick(): Promise<void> {
    return this.exclusive(() => this.reconcile());
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---- commands -------------------------------------------------------------------------------

  /**
   * Starts a release of `version`; ConflictError when one is already active. With `idempotencyKey`
   * (a request's Idempotency-Key), a deploy already started under that key is returned as it stands
   * instead of starting another; InputError when that deploy was of another version.
   */
  deploy(version: string, options: { idempotencyKey?: string } = {}): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const problem = checkVersion(version);
      if (problem) throw new InputError(problem);
      const key = options.idempotencyKey;
      if (key !== undefined) {
        const earlier = await this.records.byKey(key);
        if (earlier) return this.startedBefore(earlier, version, key);
      }
      const service = await this.records.service();
      const start = deployStart(this.service, version, service, await this.records.active());
      // The warm previous pool becomes this release's canary pool; the release scales it.
      if (service.previousVersion === version) await this.records.dropPrevious(service);
      const release = await this.startRelease(start, key);
      // Another replica started a deploy under the same key at the same moment: that one is the answer.
      return key === undefined || release.version === version
        ? release
        : this.startedBefore(release, version, key);
    });
  }

  /** The release an earlier request with the same key started, when it was for the same version. */
  private startedBefore(release: ReleaseRow, version: string, key: string): ReleaseRow {
    if (release.version !== version)
      throw new InputError(
        `Idempotency-Key "${key}" already started release #${release.id} of version ${release.version}; ` +
          `send a new key to deploy ${version}`,
      );
    return release;
  }

  /** Rolls a succeeded release back to the previous version, itself a release. */
  rollback(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      checkNoActiveRelease(await this.records.active());
      const service = await this.records.service();
      const target =
        service.previousVersion ?? (await this.records.lastSucceededBefore(service.stableVersion));
      const start = rollbackStart(this.service, service, target);
      await this.records.dropPrevious(service);
      return this.startRelease(start);
    });
  }

  /** Moves the active release to its next step now, or to 100% with `full`. */
  promote(full: boolean): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = requireActive(this.service, 'promote', await this.records.active());
      checkNotRollingBack(release);
      const held = promoteHold(release, await this.gates.items(release));
      if (held) throw new ConflictError(held);
      const patch = promotion(release, full, this.config.strategy.steps, this.now());
      const promoted = `promoted${full ? ' to 100%' : ''} by user`;
      const updated = await this.records.transition(release, patch, 'release.promoted', promoted);
      return this.settle(updated);
    });
  }

  /** Holds the active release at its current step; analysis and rollback triggers keep running. */
  pause(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = requireActive(this.service, 'pause', await this.records.active());
      checkNotRollingBack(release);
      const paused = { state: 'paused' as const, reason: Reasons.pausedByUser };
      return this.records.transition(release, paused, 'release.paused', Reasons.pausedByUser);
    });
  }

  /** Lets a paused release continue; at an indefinite pause it moves past it. */
  resume(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = requireActive(this.service, 'resume', await this.records.active());
      const patch = resumption(release, this.config.strategy.steps, this.now());
      this.analysis.resumed(release.id);
      const updated = await this.records.transition(release, patch, 'release.resumed', 'resumed by user');
      return this.settle(updated);
    });
  }

  /** Rolls the active release back now; it ends `aborted`. */
  abort(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = requireActive(this.service, 'abort', await this.records.active());
      if (release.phase === 'rolling-back') return release;
      return this.settle(await this.beginRollback(release, Reasons.abortedByUser, 'aborted'));
    });
  }

  /**
   * A firing alert that matched this service rolls its active release back, with the alert as the
   * reason. Returns the release, or undefined when none was active (the alert is recorded either way).
   */
  alertFired(reason: string, data: Record<string, unknown>): Promise<ReleaseRow | undefined> {
    return this.exclusive(async () => {
      const release = await this.records.active();
      if (!release || release.phase === 'rolling-back') {
        await this.records.emitService('alert.firing', `${reason}; no release to roll back`, data);
        return release;
      }
      await this.records.emit(release, 'alert.firing', reason, data);
      return this.settle(await this.beginRollback(release, Reasons.alertFired(reason), 'rolled_back'));
    });
  }

  /** Records an alert that changes nothing, such as a resolved one. */
  alertRecorded(type: string, message: string, data: Record<string, unknown>): Promise<void> {
    return this.exclusive(async () => {
      const release = await this.records.active();
      if (release) await this.records.emit(release, type, message, data);
      else await this.records.emitService(type, message, data);
    });
  }

  /**
   * Creates a release and its event (the message's `{id}` becomes its id) with its checklist, and
   * reconciles once. With `key`, a release already created under it is returned as it is.
   */
  private async startRelease(start: ReleaseStart, key?: string): Promise<ReleaseRow> {
    const release = await this.records.create(start, start.message, key);
    // Idempotent, so a release whose creator stopped before its checklist gets it now.
    await this.gates.create(release);
    return this.settle(release);
  }

  /** Reconciles after a command, then reads the release as the pass left it. */
  private async settle(release: ReleaseRow): Promise<ReleaseRow> {
    await this.reconcile();
    return (await this.store.getRelease(release.id)) ?? release;
  }

  /** Publishes a checklist item's change as an event (the checklist runner calls it). */
  async itemChanged(release: ReleaseRow, item: ChecklistItemRow): Promise<void> {
    if (item.state === 'running' || item.state === 'pending') return;
    const last = item.evidence[item.evidence.length - 1];
    const message = `${item.id}: ${item.state}${last ? ` (${last.summary})` : ''}`;
    await this.records.emit(release, 'checklist.item', message, {
      item: item.id,
      itemState: item.state,
      gate: item.gate,
    });
  }

  /** Signs a manual item of the active release's current gate (or of a finished rollback). */
  signItem(itemId: string, by: Signer, note: string | undefined): Promise<ChecklistItemRow> {
    return this.checklistCommand(async (runner, release) => runner.sign(release, itemId, by, note));
  }

  /** Signs every pending manual item of the gate the active (or last) release is at, with one note. */
  signGate(by: Signer, note: string | undefined): Promise<GateSignature> {
    return this.checklistCommand(async (runner, release) => runner.signGate(release, by, note));
  }

  /** Waives an item of the active (or last) release, with a reason kept as evidence. */
  waiveItem(itemId: string, by: Signer, reason: string): Promise<ChecklistItemRow> {
    return this.checklistCommand(async (runner, release) => runner.waive(release, itemId, by, reason));
  }

  /** Runs a failed automated item again. */
  rerunItem(itemId: string, by: Signer): Promise<ChecklistItemRow> {
    return this.checklistCommand(async (runner, release) => runner.rerun(release, itemId, by));
  }

  private checklistCommand<T>(
    work: (runner: ChecklistRunner, release: ReleaseRow) => Promise<T>,
  ): Promise<T> {
    return this.exclusive(async () => {
      const runner = this.gates.runner();
      const release = await this.records.current();
      const item = await work(runner, release);
      await this.reconcile();
      return item;
    });
  }

  // ---- queries (views.ts builds them) ---------------------------------------------------------

  /** The service's stable version, its active (or else last) release, and live figures. */
  status(): Promise<StatusView> {
    return this.views.status(this.leading);
  }

  /** A release by id, with its step count. */
  release(id: number): Promise<ReleaseView> {
    return this.views.release(id);
  }

  /** Releases of the service, newest first. */
  releases(limit: number): Promise<ReleaseView[]> {
    return this.views.releases(limit);
  }

  /** A release's checklist (default: the active, else the last release) and the gate it is at. */
  checklistOf(releaseId?: number): Promise<ChecklistView> {
    return this.views.checklist(releaseId);
  }

  /** The last `lines` lines of an instance's current run; only the replica that drives the unit has them. */
  instanceLog(instanceId: string, lines: number): Promise<InstanceLogView> {
    return this.views.instanceLog(instanceId, lines, this.leading);
  }

  // ---- reconcile ------------------------------------------------------------------------------

  private async reconcile(): Promise<void> {
    // A replica without the lease only records intent (a deploy, a pause, a sign-off); the holder acts on it.
    if (!(await this.lead())) return;
    const done = this.ownMetrics?.startReconcile(this.service);
    try {
      await this.reconcileOnce();
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
      // The pass stops before acting; the next one checks the lease again and steps down if it is
      // gone (the lease says so when it stops acting), or goes on after a heartbeat that was late.
      this.logger.info({ service: this.service }, err.message);
    } finally {
      done?.();
    }
  }

  /**
   * Acts at once when this replica drives the unit; a lease that lapsed meanwhile leaves the action
   * to the next pass (the intent is stored), so a command that recorded it still succeeds.
   */
  private async whileLeading(act: () => unknown): Promise<void> {
    if (!this.leading) return;
    try {
      await act();
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
    }
  }

  /**
   * Before each action of a pass: throws LeaseLostError unless this replica still surely holds the
   * lease, judged by the time now, after whatever the pass has waited on so far.
   */
  private acting(): void {
    if (this.lease && this.leading && !this.lease.stillHeld()) throw new LeaseLostError(this.service);
  }

  private async reconcileOnce(): Promise<void> {
    await this.scaling.refresh();
    const stored = await this.records.service();
    const release = await this.records.active();
    let service = await this.serving.keepVersions(stored, release);
    if (release) await this.reconcileRelease(release, service);

    const current = await this.records.active();
    this.serving.driveSyntheticLoad(current);
    service = await this.records.service();
    // A clock comparison on most passes; the sample itself is taken beside the loop.
    this.sampler.observe(current, service.stableVersion);
    this.scaling.observe(service.stableVersion);
    this.baselines.observe(current);
    const route = routeFor(service, current);
    await this.serving.apply(route, current);
    this.ownMetrics?.setWeight(this.service, route.canary ? route.weight : 0);
    this.serving.stopOrphans(service, current);
    this.notifier?.kick();
  }

  // ---- a release's life -----------------------------------------------------------------------

  private async reconcileRelease(release: ReleaseRow, service: ServiceRow): Promise<void> {
    if (release.phase === 'rolling-back') return this.continueRollback(release);
    const instances = this.fleet.instances(release.version);
    const exited = instances.find((i) => i.state === 'exited');
    if (exited) {
      const reason = Reasons.canaryExited(exited.id, exited.lastError ?? `exit ${String(exited.exitCode)}`);
      await this.beginRollback(release, reason, 'rolled_back');
      return;
    }
    switch (release.phase) {
      case 'pre-deploy':
        return this.reconcilePreDeploy(release);
      case 'migrating':
        return this.reconcileMigrating(release);
      case 'verify':
      case 'post-deploy':
        return this.reconcileFinalGates(release);
      case 'starting':
        return this.reconcileStarting(release, service);
      case 'canary':
        return this.reconcileCanary(release);
      case 'verifying':
        return this.reconcileVerifying(release, service);
      default:
        return;
    }
  }

  /** Holds the release at its pre-deploy gate; a failed check blocks it until fixed and re-run, or waived. */
  private async reconcilePreDeploy(release: ReleaseRow): Promise<void> {
    if (release.state === 'paused') return;
    if (!(await this.passGate(release, 'pre-deploy'))) return;
    const next = this.migrations.configured ? 'migrating' : 'starting';
    const patch = { phase: next, phaseStartedAt: this.now() } as const;
    if (next === 'migrating') {
      // Announced, so a status page can show the service under maintenance while its schema changes.
      const migrating = await this.records.transition(
        release,
        patch,
        'release.migrating',
        'running migrations',
      );
      return this.reconcileMigrating(migrating);
    }
    const updated = await this.records.update(release, patch);
    return this.reconcileStarting(updated, await this.records.service());
  }

  /** Applies the release's migrations (idempotent, so a crash mid-way simply runs `up` again). */
  private async reconcileMigrating(release: ReleaseRow): Promise<void> {
    const run = this.migrations.run(release, 'up');
    if (run.state === 'running') return;
    if (run.state === 'failed') {
      const reason = `migration failed: ${run.error}`;
      if (this.config.rollback.migrations === 'down') {
        // The failed `up` run is kept until `down` ends, so the passes in between do not start it again.
        const down = this.migrations.run(release, 'down');
        if (down.state === 'running') return;
      }
      this.migrations.forget(release, 'up');
      const failed: ReleasePatch = { state: 'failed', phase: 'completed', reason, outcome: 'failed' };
      const message = `${release.version} failed: ${reason}`;
      await this.records.transition(release, { ...failed, endedAt: this.now() }, 'release.failed', message);
      this.ownMetrics?.ended(this.service, 'failed');
      return;
    }
    const migrated = { migrations: run.applied };
    const starting = { phase: 'starting' as const, phaseStartedAt: this.now() };
    const updated = await this.records.transition(
      release,
      starting,
      'release.migrated',
      describeUp(run.applied),
      migrated,
    );
    return this.reconcileStarting(updated, await this.records.service());
  }

  private async reconcileStarting(release: ReleaseRow, service: ServiceRow): Promise<void> {
    const first = !service.stableVersion;
    const count = first ? this.scaling.count() : canaryCount(this.config, this.scaling.count(), 0);
    if (!(await this.scaled(release, count, release.phaseStartedAt))) return;
    if (first) {
      // The version takes its traffic before its gates judge it: a router that could not apply the
      // route (nginx refused, no ready instance yet) is retried on the next pass.
      if (!(await this.serving.route(service, release))) return;
      // Nothing to compare a first release with: no canary steps, straight to the verify gate.
      await this.gates.skipCanary(release);
      const message = `${release.version} takes all traffic (first release)`;
      const verifying = await this.records.transition(
        release,
        { phase: 'verify', weight: FULL_WEIGHT, phaseStartedAt: this.now() },
        'release.weight',
        message,
        { weight: FULL_WEIGHT },
      );
      return this.reconcileFinalGates(verifying);
    }
    const ready = `${release.version} canary ready (${count} instance${count > 1 ? 's' : ''})`;
    const canary = { phase: 'canary' as const, step: 0, stepStartedAt: this.now() };
    const updated = await this.records.transition(release, canary, 'release.canary', ready);
    return this.reconcileCanary(updated);
  }

  /** Ensures `count` instances of the release's version; true once all are ready, rolls back on timeout. */
  private async scaled(release: ReleaseRow, count: number, since: number): Promise<boolean> {
    this.acting();
    await this.fleet.ensure(release.version, count, { restartOnExit: false });
    const instances = this.fleet.instances(release.version);
    const ready = instances.filter((i) => i.state === 'ready');
    if (ready.length >= count) return true;
    const timeout = this.config.fleet.startTimeout;
    if (this.now() - since > timeout) {
      const detail = describeNotReady(instances);
      const why = Reasons.notHealthyInTime(release.version, formatDuration(timeout), detail);
      await this.beginRollback(release, why, 'rolled_back');
    }
    return false;
  }

  private async reconcileCanary(release: ReleaseRow): Promise<void> {
    if (await this.analyse(release)) return;
    let current = (await this.store.getRelease(release.id)) ?? release;
    if (current.phase !== 'canary') return;
    // The canary gate is passed before the canary gets any user traffic.
    if (current.step === 0 && current.weight === 0 && current.state !== 'paused') {
      const passed = await this.passGate(current, 'canary');
      if (!passed) return;
      current = (await this.store.getRelease(release.id)) ?? current;
    }
    if (current.state !== 'progressing') return;
    const steps = this.config.strategy.steps;
    const step = steps[current.step];
    const now = this.now();
    if (!step) {
      const message = `${current.version}: canary steps done, verifying at 100%`;
      const verifying = { phase: 'verifying' as const, phaseStartedAt: now, stepStartedAt: now };
      const updated = await this.records.transition(current, verifying, 'release.verifying', message);
      return this.reconcileVerifying(updated, await this.records.service());
    }
    if ('setWeight' in step) {
      const count = canaryCount(this.config, this.scaling.count(), step.setWeight);
      if (!(await this.scaled(current, count, current.stepStartedAt))) return;
      // The event is written with the transition it reports: a crash between them loses neither.
      const updated = await this.records.transition(
        current,
        { weight: step.setWeight, step: current.step + 1, stepStartedAt: now },
        'release.weight',
        `${current.version} weight ${step.setWeight}%`,
        { weight: step.setWeight },
      );
      await this.serving.route(await this.records.service(), updated);
      return this.reconcileCanary(updated);
    }
    if (typeof step.pause !== 'number') {
      const reason = Reasons.waitingForPromote(current.step + 1, steps.length);
      await this.records.transition(current, { state: 'paused', reason }, 'release.paused', reason);
      return;
    }
    if (now - current.stepStartedAt < step.pause) return;
    if (!this.analysis.passes(current)) return;
    const updated = await this.records.transition(
      current,
      { step: current.step + 1, stepStartedAt: now },
      'release.step',
      `${current.version}: ${describeStep(step)} done`,
    );
    return this.reconcileCanary(updated);
  }

  private async reconcileVerifying(release: ReleaseRow, service: ServiceRow): Promise<void> {
    if (!(await this.scaled(release, this.scaling.count(), release.phaseStartedAt))) return;
    const now = this.now();
    if (release.weight < 100) {
      const updated = await this.records.transition(
        release,
        { weight: 100, stepStartedAt: now },
        'release.weight',
        `${release.version} weight 100%`,
        { weight: 100 },
      );
      await this.serving.route(service, updated);
      return;
    }
    if (release.kind === 'rollback') return this.finishRollbackRelease(release);
    if (await this.analyse(release)) return;
    const current = (await this.store.getRelease(release.id)) ?? release;
    if (current.state !== 'progressing') return;
    const bake = this.config.strategy.bakeTime;
    if (now - current.stepStartedAt < bake) return;
    if (bake > 0 && !this.analysis.passes(current)) return;
    const updated = await this.records.update(current, { phase: 'verify', phaseStartedAt: now });
    return this.reconcileFinalGates(updated);
  }

  /** The verify gate at 100%, then the post-deploy gate; analysis keeps running through both. */
  private async reconcileFinalGates(release: ReleaseRow): Promise<void> {
    if (await this.analyse(release)) return;
    const current = (await this.store.getRelease(release.id)) ?? release;
    if (current.state === 'paused') return;
    const gate: Gate = current.phase === 'verify' ? 'verify' : 'post-deploy';
    if (!(await this.passGate(current, gate))) return;
    if (gate === 'verify') {
      const updated = await this.records.update(current, {
        phase: 'post-deploy',
        phaseStartedAt: this.now(),
      });
      return this.reconcileFinalGates(updated);
    }
    return this.finish(current);
  }

  /**
   * Moves the release by its gate's judgement. True when the release may go on. Otherwise the release
   * waits (manual items, checks still running), is blocked (a failed pre-deploy check), or is rolled
   * back (a failed check at a later gate).
   */
  private async passGate(release: ReleaseRow, gate: Gate): Promise<boolean> {
    // Judging a gate starts its automated checks (a backup, a CDN purge): only the holder does.
    this.acting();
    const judged = await this.gates.judge(release, gate);
    if (!judged) return true;
    if (judged.action === 'pass') {
      if (release.state === 'waiting') {
        const progressing = { state: 'progressing' as const, reason: null };
        await this.records.transition(release, progressing, 'release.gate_passed', `${gate} gate passed`, {
          gate,
        });
      }
      return true;
    }
    if (judged.action === 'rollback') {
      await this.beginRollback(release, judged.reason, 'rolled_back');
      return false;
    }
    const { reason } = judged;
    if (release.state !== 'waiting' || release.reason !== reason) {
      const waiting = { state: 'waiting' as const, reason };
      // One event when the release starts waiting or becomes blocked, not one per signature.
      const newlyBlocked = judged.blocked && !release.reason?.startsWith('blocked');
      if (release.state !== 'waiting' || newlyBlocked)
        await this.records.transition(release, waiting, 'release.waiting', reason, { gate });
      else await this.records.update(release, waiting);
    }
    return false;
  }

  /**
   * Evaluates the triggers when due and acts on the analysis policy's decision; true when the release
   * was rolled back or paused as a result.
   */
  private async analyse(release: ReleaseRow): Promise<boolean> {
    const now = this.now();
    const evaluation = await this.analysis.evaluate(release, now);
    if (!evaluation) return false;
    const { measurements } = evaluation;
    if (evaluation.store) {
      for (const measurement of measurements) {
        this.ownMetrics?.measured(this.service, measurement.metric, measurement.verdict);
        await this.store.addMeasurement({
          ...measurement,
          releaseId: release.id,
          service: this.service,
          at: now,
        });
      }
    }
    const decision = this.analysis.decide(release, evaluation, now);
    this.events.emit('measurements', { releaseId: release.id, at: now, measurements });
    if (decision.action !== 'rollback' && decision.action !== 'hold') return false;
    const reason = analysisReason(decision);
    if (decision.action === 'rollback') {
      await this.beginRollback(release, reason, 'rolled_back');
    } else {
      await this.records.transition(release, { state: 'paused', reason }, 'release.paused', reason);
    }
    return true;
  }

  /**
   * A rollback release at 100%: its version becomes stable at once, then the rollback gate's automated
   * items check it (they address `stable`); manual ones can be signed afterwards.
   */
  private async finishRollbackRelease(release: ReleaseRow): Promise<void> {
    const service = await this.records.service();
    if (service.stableVersion !== release.version) await this.makeStable(release);
    if (await this.gates.rollbackChecksRunning(release)) return;
    return this.finish(release);
  }

  /** The release's version becomes stable; the one it replaces stays warm for rollback.keepPreviousFor. */
  private async makeStable(release: ReleaseRow): Promise<string | null> {
    const now = this.now();
    const previous =
      release.fromVersion && release.fromVersion !== release.version ? release.fromVersion : null;
    const current = await this.store.getService(this.service);
    // Already switched (a rollback release that waited for its checks): keep the retire time it got.
    const retireAt =
      current?.stableVersion === release.version && current.previousRetireAt !== null
        ? current.previousRetireAt
        : now + this.config.rollback.keepPreviousFor;
    await this.store.saveService({
      name: this.service,
      stableVersion: release.version,
      previousVersion: previous,
      previousRetireAt: previous ? retireAt : null,
      updatedAt: now,
    });
    return previous;
  }

  /** Marks the release succeeded: its version becomes stable, the old one stays warm for a while. */
  private async finish(release: ReleaseRow): Promise<void> {
    const now = this.now();
    const keep = this.config.rollback.keepPreviousFor;
    const previous = await this.makeStable(release);
    const ended: ReleasePatch = { state: 'succeeded', phase: 'completed', weight: 100, endedAt: now };
    const warm = previous ? `; ${previous} stays warm for ${formatDuration(keep)}` : '';
    const message = `${release.version} is now stable${warm}`;
    await this.records.transition(release, ended, 'release.succeeded', message);
    this.ownMetrics?.ended(this.service, 'succeeded');
    this.analysis.forget(release.id);
  }

  /** Sets the weight to 0 at once and starts draining the canary; the release ends in `outcome`. */
  private async beginRollback(
    release: ReleaseRow,
    reason: string,
    outcome: ReleaseState,
  ): Promise<ReleaseRow> {
    const service = await this.records.service();
    const first = !service.stableVersion || service.stableVersion === release.version;
    const end: ReleaseState = first && outcome === 'rolled_back' ? 'failed' : outcome;
    const why = first && outcome === 'rolled_back' ? Reasons.firstReleaseFailed(reason) : reason;
    const rollingBack: ReleasePatch = { phase: 'rolling-back', weight: 0, reason: why, outcome: end };
    const updated = await this.records.transition(release, rollingBack, 'release.rolling_back', why, {
      outcome: end,
    });
    // Another replica's alert or abort only records the rollback; the lease holder acts on it at once.
    await this.whileLeading(() => this.serving.route(service, updated));
    this.logger.warn({ release: release.id, version: release.version, reason: why }, 'rolling back');
    if (!first) await this.whileLeading(() => this.serving.stop(release.version));
    return updated;
  }

  private async continueRollback(release: ReleaseRow): Promise<void> {
    const service = await this.records.service();
    const first = !service.stableVersion || service.stableVersion === release.version;
    // A failed first release that serves keeps serving: there is nothing to fall back to, and a version
    // that answers beats a proxy that answers 503. One that never served, or was aborted, is stopped.
    const keepServing = first && release.outcome === 'failed' && this.serving.answers(release.version);
    if (first && !keepServing) {
      this.serving.stop(release.version);
    } else if (!first && this.fleet.instances(release.version).length > 0) {
      this.serving.stop(release.version);
      return;
    }
    const undo = this.migrations.configured && this.config.rollback.migrations === 'down';
    if (undo && release.outcome !== 'failed') {
      // Traffic is back on the previous version before its schema is restored.
      const down = this.migrations.run(release, 'down');
      if (down.state === 'running') return;
      if (!down.reported) {
        const undone = { migrations: down.applied };
        await this.records.emit(release, 'release.migrations_down', describeDown(down), undone);
        down.reported = true;
      }
    }
    // Automated rollback items (a CDN purge, down migrations) finish first; manual ones are signed after.
    if (await this.gates.rollbackChecksRunning(release)) return;
    const outcome = release.outcome ?? 'rolled_back';
    this.gates.abort(release.id);
    if (keepServing && !service.stableVersion) {
      await this.store.saveService({ ...service, stableVersion: release.version, updatedAt: this.now() });
      const message = `${release.version} keeps serving: it is the only version; deploy a fixed one`;
      await this.records.emit(release, 'release.kept_serving', message);
    }
    const message = `${release.version} ${outcome.replace('_', ' ')}: ${release.reason ?? ''}`;
    const ended = { state: outcome, phase: 'completed' as const, endedAt: this.now() };
    await this.records.transition(release, ended, `release.${outcome}`, message);
    this.ownMetrics?.ended(this.service, outcome);
    this.analysis.forget(release.id);
  }

  private now(): number {
    return this.clock.now();
  }
}
