/**
 * The reconcile loop and the release state machine. It is long because it still holds, besides the
 * state machine, its commands, read views, effects with their idempotency keys, the migration step and
 * the analysis policy; issue 9 moves each of those to its own file, leaving the release's life here.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  ForTracker,
  type Measurement,
  measureHealth,
  measureMetric,
  sharedWindows,
} from '../analysis/triggers.js';
import type { SyntheticLoad } from '../analysis/synthetic-load.js';
import type { Config } from '../config/schema.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Fleet, Instance } from '../providers/fleet/types.js';
import type { MetricSource, WindowStats } from '../providers/metrics/types.js';
import type { Route, TrafficRouter } from '../providers/traffic/types.js';
import type {
  EffectKind,
  EffectRow,
  EventRow,
  ReleasePatch,
  ReleaseRow,
  ServiceRow,
  Store,
} from '../store/types.js';
import type { ReleaseState } from '../domain/release.js';
import { type Clock, systemClock } from '../util/clock.js';
import { formatDuration } from '../util/duration.js';
import { checkVersion } from '../domain/version.js';
import {
  type ChecklistRunner,
  type GateOutcome,
  type GateSignature,
  gateOf,
} from '../checklist/checklist-runner.js';
import type { ResolvedItem } from '../checklist/template.js';
import type { Gate } from '../domain/checklist.js';
import type { ChecklistItemRow } from '../store/types.js';
import type { Migrator } from '../app-database/migrator.js';
import type { EngineMetrics } from './engine-metrics.js';
import type { Lease } from './lease.js';
import type { Notifier } from '../notify/notifier.js';
import { canaryCount, describeStep, isIndefinitePause } from './plan.js';
import { promoteHold } from './promote-hold.js';
import { Reasons } from './reasons.js';
import { unitName } from '../domain/release.js';

/** How often the reconciler looks at every release; analysis runs on its own `analysis.interval`. */
export const DEFAULT_TICK_MS = 200;
/** Phases in which a release's version is under analysis and may need synthetic traffic. */
const ANALYSED_PHASES: ReadonlySet<ReleaseRow['phase']> = new Set([
  'canary',
  'verifying',
  'verify',
  'post-deploy',
]);
/** A version's weight when it takes all traffic. */
const FULL_WEIGHT = 100;
/** Lookback for the live figures shown by `status` and `deploy --wait`. */
const STATUS_WINDOW_MS = 10_000;

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
  checklist?: { runner: ChecklistRunner; items: () => readonly ResolvedItem[] };
  /**
   * With several replicas on one store: only the lease's holder reconciles. Without a lease this
   * engine is the only one and always acts.
   */
  lease?: Lease;
  /** Sends the unit's events to webhooks; run by the replica that drives the unit. */
  notifier?: Notifier;
  /** analysis.syntheticLoad: traffic for the version under analysis, so that little traffic still gets a verdict. */
  syntheticLoad?: SyntheticLoad;
}

/** Live figures of one version over the last few seconds. */
export interface VersionFigures {
  version: string;
  rps: number;
  requests: number;
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
  instances: { id: string; address: string; state: string; restarts: number; lastError: string | null }[];
}

/** What `status` shows: the contract fields plus live figures. */
export interface StatusView {
  service: string;
  /** The environment this engine deploys to; null without environments. */
  environment: string | null;
  stable: string | null;
  previous: string | null;
  release: ReleaseView | null;
  versions: { stable: VersionFigures | null; canary: VersionFigures | null };
  /**
   * With several replicas: this one, and the one holding the service's lease. Instances and their
   * health are known to the holder; another replica shows the figures its own sources have.
   */
  replica: { id: string; leading: boolean; holder: string | null } | null;
}

/** A release as the API shows it. */
export interface ReleaseView extends ReleaseRow {
  steps: number;
  stepName: string | null;
}

interface AnalysisState {
  /** When the triggers are evaluated next. */
  nextAt: number;
  /** When measurements were last stored: once per interval, plus any quick re-check with a verdict. */
  storedAt: number;
  /** When an inconclusive evaluation last counted toward the streak; quick re-checks do not count. */
  countedAt: number;
  tracker: ForTracker;
  /**
   * Inconclusive evaluations in a row, one per interval, while the version takes traffic and the
   * release is progressing. Time at weight 0 or held at a gate is no exposure, and does not count.
   */
  inconclusiveStreak: number;
  latest: Measurement[];
  /** The release was seen paused; a resume (possibly through another replica) starts the counts afresh. */
  pausedSeen: boolean;
}

/**
 * The reconcile loop. Every change of intent is written to the store before it is acted on, and every
 * action is idempotent, so a controller killed at any moment resumes from the store alone.
 */
export class Engine {
  /** Emits `event` with each EventRow this replica stores. */
  readonly events = new EventEmitter();
  private readonly config: Config;
  private readonly store: Store;
  private readonly fleet: Fleet;
  private readonly router: TrafficRouter;
  private readonly metrics: MetricSource;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly ownMetrics: EngineMetrics | undefined;
  private readonly checklist: EngineOptions['checklist'];
  private readonly migrator: Migrator | undefined;
  private readonly environment: string | undefined;
  /** Migration runs in progress or finished, by release and direction; they run off the reconcile loop. */
  private readonly migrationRuns = new Map<string, MigrationRun>();
  private readonly analysis = new Map<number, AnalysisState>();
  private readonly stopping = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private lastRouteError: string | undefined;
  private readonly lease: Lease | undefined;
  private readonly notifier: Notifier | undefined;
  private readonly syntheticLoad: SyntheticLoad | undefined;
  /** Whether this replica drives the unit: always without a lease, else while it holds the lease. */
  private leading: boolean;
  /** The traffic effect last recorded as done, so a steady route costs no store round trip. */
  private appliedEffect: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.store = options.store;
    this.fleet = options.fleet;
    this.router = options.router;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    this.ownMetrics = options.ownMetrics;
    this.checklist = options.checklist;
    this.migrator = options.migrator;
    this.environment = options.environment;
    this.lease = options.lease;
    this.notifier = options.notifier;
    this.syntheticLoad = options.syntheticLoad;
    this.leading = options.lease === undefined;
    this.events.setMaxListeners(0);
  }

  /** The name releases are stored under: `web`, or `web@staging` for an environment. */
  private get service(): string {
    return unitName(this.config.service, this.environment);
  }

  /**
   * Adopts surviving instances, applies the stored route, and starts the loop (tests drive `tick()`
   * with `loop: false`). With a lease, adoption waits until this replica holds it.
   */
  async start(options: { loop?: boolean } = {}): Promise<void> {
    if (!this.lease) await this.fleet.start();
    await this.tick();
    if (options.loop === false) return;
    this.timer = setInterval(() => {
      this.tick().catch((err: unknown) => this.logger.error({ err }, 'reconcile failed'));
    }, this.tickMs);
  }

  /** Stops the loop and waits for the tick in progress and for instances being stopped. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.exclusive(async () => undefined);
    this.syntheticLoad?.close();
    await this.checklist?.runner.close();
    await Promise.allSettled(this.stopping.values());
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
      this.appliedEffect = undefined;
      this.notifier?.reset();
      await this.emitService(
        'replica.leading',
        `${this.lease.holder} drives ${this.service} (lease epoch ${this.lease.epoch})`,
        { holder: this.lease.holder, epoch: this.lease.epoch },
      );
    } else if (!held && this.leading) {
      this.leading = false;
      this.syntheticLoad?.stop();
      this.analysis.clear();
      this.migrationRuns.clear();
      this.checklist?.runner.abort();
      await this.notifier?.idle();
      this.notifier?.reset();
      await this.fleet.close({ stopInstances: false });
      this.logger.warn({ service: this.service }, 'another replica drives this service now');
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

  /** Starts a release of `version`; ConflictError when one is already active. */
  deploy(version: string): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const problem = checkVersion(version);
      if (problem) throw new InputError(problem);
      const service = await this.serviceRow();
      const active = await this.store.activeRelease(this.service);
      if (active) {
        throw new ConflictError(
          `service ${this.service} already has an active release: #${active.id} of ${active.version} (${active.state}); ` +
            'wait for it, or run "shipcheck abort"',
        );
      }
      if (service.stableVersion === version) {
        throw new ConflictError(`${version} is already the stable version of ${this.service}`);
      }
      if (service.previousVersion === version) {
        // The warm previous pool becomes this release's canary pool; the release scales it.
        await this.store.saveService({
          ...service,
          previousVersion: null,
          previousRetireAt: null,
          updatedAt: this.now(),
        });
      }
      return this.startRelease({
        version,
        fromVersion: service.stableVersion,
        kind: 'deploy',
        phase: 'pre-deploy',
        reason: null,
        message: `release #{id}: ${service.stableVersion ?? '(none)'} -> ${version}`,
      });
    });
  }

  /** Rolls a succeeded release back to the previous version, itself a release. */
  rollback(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const active = await this.store.activeRelease(this.service);
      if (active) {
        throw new ConflictError(
          `release #${active.id} of ${active.version} is still ${active.state}; use "shipcheck abort" to roll it back`,
        );
      }
      const service = await this.serviceRow();
      const target = service.previousVersion ?? (await this.lastSucceededBefore(service.stableVersion));
      if (!target || !service.stableVersion) {
        throw new NotFoundError(`service ${this.service} has no previous version to roll back to`);
      }
      const now = this.now();
      await this.store.saveService({
        ...service,
        previousVersion: null,
        previousRetireAt: null,
        updatedAt: now,
      });
      return this.startRelease({
        version: target,
        fromVersion: service.stableVersion,
        kind: 'rollback',
        // A rollback skips the canary steps: the previous version is usually still warm.
        phase: 'verifying',
        reason: `rollback from ${service.stableVersion}`,
        message: `rollback #{id}: ${service.stableVersion} -> ${target}`,
      });
    });
  }

  /** Moves the active release to its next step now, or to 100% with `full`. */
  promote(full: boolean): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = await this.requireActive('promote');
      if (release.phase === 'rolling-back') throw new ConflictError(`release #${release.id} is rolling back`);
      const held = promoteHold(release, this.checklist ? await this.store.listChecklist(release.id) : []);
      if (held) throw new ConflictError(held);
      const now = this.now();
      let patch: ReleasePatch = { state: 'progressing', reason: null };
      if (full || release.phase === 'verifying') {
        patch = {
          ...patch,
          phase: 'verifying',
          weight: release.weight,
          stepStartedAt: now,
          phaseStartedAt: now,
        };
      } else if (release.phase === 'canary') {
        patch = { ...patch, step: this.nextStepAfter(release), stepStartedAt: now };
      }
      const updated = await this.update(release, patch);
      await this.emit(updated, 'release.promoted', `promoted${full ? ' to 100%' : ''} by user`);
      await this.reconcile();
      return (await this.store.getRelease(release.id)) ?? updated;
    });
  }

  /** Holds the active release at its current step; analysis and rollback triggers keep running. */
  pause(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = await this.requireActive('pause');
      if (release.phase === 'rolling-back') throw new ConflictError(`release #${release.id} is rolling back`);
      const updated = await this.update(release, { state: 'paused', reason: Reasons.pausedByUser });
      await this.emit(updated, 'release.paused', Reasons.pausedByUser);
      return updated;
    });
  }

  /** Lets a paused release continue; at an indefinite pause it moves past it. */
  resume(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = await this.requireActive('resume');
      if (release.state !== 'paused')
        throw new ConflictError(`release #${release.id} is ${release.state}, not paused`);
      const steps = this.config.strategy.steps;
      const atIndefinite = release.phase === 'canary' && isIndefinitePause(steps[release.step]);
      const patch: ReleasePatch = { state: 'progressing', reason: null };
      if (atIndefinite) Object.assign(patch, { step: release.step + 1, stepStartedAt: this.now() });
      this.analysis.get(release.id)?.tracker.reset();
      const state = this.analysis.get(release.id);
      if (state) state.inconclusiveStreak = 0;
      const updated = await this.update(release, patch);
      await this.emit(updated, 'release.resumed', 'resumed by user');
      await this.reconcile();
      return (await this.store.getRelease(release.id)) ?? updated;
    });
  }

  /** Rolls the active release back now; it ends `aborted`. */
  abort(): Promise<ReleaseRow> {
    return this.exclusive(async () => {
      const release = await this.requireActive('abort');
      if (release.phase === 'rolling-back') return release;
      const updated = await this.beginRollback(release, Reasons.abortedByUser, 'aborted');
      await this.reconcile();
      return (await this.store.getRelease(release.id)) ?? updated;
    });
  }

  /**
   * A firing alert that matched this service rolls its active release back, with the alert as the
   * reason. Returns the release, or undefined when none was active (the alert is recorded either way).
   */
  alertFired(reason: string, data: Record<string, unknown>): Promise<ReleaseRow | undefined> {
    return this.exclusive(async () => {
      const release = await this.store.activeRelease(this.service);
      if (!release || release.phase === 'rolling-back') {
        await this.emitService('alert.firing', `${reason}; no release to roll back`, data);
        return release;
      }
      await this.emit(release, 'alert.firing', reason, data);
      const updated = await this.beginRollback(release, Reasons.alertFired(reason), 'rolled_back');
      await this.reconcile();
      return (await this.store.getRelease(release.id)) ?? updated;
    });
  }

  /** Records an alert that changes nothing, such as a resolved one. */
  alertRecorded(type: string, message: string, data: Record<string, unknown>): Promise<void> {
    return this.exclusive(async () => {
      const release = await this.store.activeRelease(this.service);
      if (release) await this.emit(release, type, message, data);
      else await this.emitService(type, message, data);
    });
  }

  /** Creates a release (the message's `{id}` becomes its id), records the event, and reconciles once. */
  private async startRelease(input: {
    version: string;
    fromVersion: string | null;
    kind: ReleaseRow['kind'];
    phase: ReleaseRow['phase'];
    reason: string | null;
    message: string;
  }): Promise<ReleaseRow> {
    const now = this.now();
    const release = await this.store.createRelease({
      service: this.service,
      version: input.version,
      fromVersion: input.fromVersion,
      kind: input.kind,
      state: 'progressing',
      phase: input.phase,
      step: 0,
      weight: 0,
      reason: input.reason,
      outcome: null,
      stepStartedAt: now,
      phaseStartedAt: now,
      createdAt: now,
    });
    await this.emit(release, 'release.created', input.message.replace('{id}', String(release.id)));
    // A rollback release restores a known version in a hurry: it carries the rollback gate's items
    // (previous version serving, down migrations, CDN, rollback verified), checked once traffic is back.
    if (this.checklist) {
      const items = this.checklist.items();
      await this.checklist.runner.create(
        release,
        input.kind === 'deploy' ? items : items.filter((item) => item.gate === 'rollback'),
      );
    }
    await this.reconcile();
    return (await this.store.getRelease(release.id)) ?? release;
  }

  /** Publishes a checklist item's change as an event (the checklist runner calls it). */
  async itemChanged(release: ReleaseRow, item: ChecklistItemRow): Promise<void> {
    if (item.state === 'running' || item.state === 'pending') return;
    const last = item.evidence[item.evidence.length - 1];
    await this.emit(
      release,
      'checklist.item',
      `${item.id}: ${item.state}${last ? ` (${last.summary})` : ''}`,
      {
        item: item.id,
        itemState: item.state,
        gate: item.gate,
      },
    );
  }

  /** Signs a manual item of the active release's current gate (or of a finished rollback). */
  signItem(itemId: string, by: string, note: string | undefined): Promise<ChecklistItemRow> {
    return this.checklistCommand(async (runner, release) => runner.sign(release, itemId, by, note));
  }

  /** Signs every pending manual item of the gate the active (or last) release is at, with one note. */
  signGate(by: string, note: string | undefined): Promise<GateSignature> {
    return this.checklistCommand(async (runner, release) => runner.signGate(release, by, note));
  }

  /** Waives an item of the active (or last) release, with a reason kept as evidence. */
  waiveItem(itemId: string, by: string, reason: string): Promise<ChecklistItemRow> {
    return this.checklistCommand(async (runner, release) => runner.waive(release, itemId, by, reason));
  }

  /** Runs a failed automated item again. */
  rerunItem(itemId: string, by: string): Promise<ChecklistItemRow> {
    return this.checklistCommand(async (runner, release) => runner.rerun(release, itemId, by));
  }

  /** A release's checklist (default: the active, else the last release) and the gate it is at. */
  async checklistOf(
    releaseId?: number,
  ): Promise<{ release: ReleaseView; gate: Gate | null; items: ChecklistItemRow[] }> {
    const release = releaseId === undefined ? await this.currentRelease() : await this.release(releaseId);
    return {
      release: this.view(release),
      gate: gateOf(release) ?? null,
      items: await this.store.listChecklist(release.id),
    };
  }

  private checklistCommand<T>(
    work: (runner: ChecklistRunner, release: ReleaseRow) => Promise<T>,
  ): Promise<T> {
    return this.exclusive(async () => {
      if (!this.checklist)
        throw new ConflictError(`service ${this.service} has no checklist (checklist.template: none)`);
      const release = await this.currentRelease();
      const item = await work(this.checklist.runner, release);
      await this.reconcile();
      return item;
    });
  }

  private async currentRelease(): Promise<ReleaseRow> {
    const release =
      (await this.store.activeRelease(this.service)) ?? (await this.store.listReleases(this.service, 1))[0];
    if (!release) throw new NotFoundError(`service ${this.service} has no release yet`);
    return release;
  }

  // ---- queries --------------------------------------------------------------------------------

  /** The service's stable version, its active (or else last) release, and live figures. */
  async status(): Promise<StatusView> {
    const service = await this.serviceRow();
    const release =
      (await this.store.activeRelease(this.service)) ?? (await this.store.listReleases(this.service, 1))[0];
    const active = release && release.phase !== 'completed' ? release : undefined;
    const lease = this.lease ? await this.store.getLease(this.service) : undefined;
    return {
      service: this.config.service,
      environment: this.environment ?? null,
      stable: service.stableVersion,
      previous: service.previousVersion,
      release: release ? this.view(release) : null,
      versions: {
        stable: service.stableVersion ? await this.figures(service.stableVersion) : null,
        canary:
          active && active.version !== service.stableVersion ? await this.figures(active.version) : null,
      },
      replica: this.lease
        ? {
            id: this.lease.holder,
            leading: this.leading,
            holder: lease && lease.expiresAt > this.now() ? lease.holder : null,
          }
        : null,
    };
  }

  /** A release by id, with its step count. */
  async release(id: number): Promise<ReleaseView> {
    const release = await this.store.getRelease(id);
    if (!release || release.service !== this.service) throw new NotFoundError(`release ${id} not found`);
    return this.view(release);
  }

  /** Releases of the service, newest first. */
  async releases(limit: number): Promise<ReleaseView[]> {
    return (await this.store.listReleases(this.service, limit)).map((r) => this.view(r));
  }

  private view(release: ReleaseRow): ReleaseView {
    const steps = this.config.strategy.steps;
    const step = release.phase === 'canary' ? steps[release.step] : undefined;
    return { ...release, steps: steps.length, stepName: step ? describeStep(step) : null };
  }

  private async figures(version: string): Promise<VersionFigures> {
    let stats: WindowStats | undefined;
    try {
      stats = await this.metrics.window(version, STATUS_WINDOW_MS);
    } catch {
      stats = undefined;
    }
    return {
      version,
      rps: stats?.rps ?? 0,
      requests: stats?.requests ?? 0,
      errorRate: stats && stats.requests > 0 ? stats.errors / stats.requests : null,
      p50: stats?.p50 ?? null,
      p99: stats?.p99 ?? null,
      instances: this.fleet.instances(version).map((i) => ({
        id: i.id,
        address: i.address,
        state: i.state,
        restarts: i.restarts,
        lastError: i.lastError ?? null,
      })),
    };
  }

  // ---- reconcile ------------------------------------------------------------------------------

  private async reconcile(): Promise<void> {
    // A replica without the lease only records intent (a deploy, a pause, a sign-off); the holder acts on it.
    if (!(await this.lead())) return;
    const done = this.ownMetrics?.startReconcile();
    try {
      await this.reconcileOnce();
    } finally {
      done?.();
    }
  }

  private async reconcileOnce(): Promise<void> {
    let service = await this.serviceRow();
    const release = await this.store.activeRelease(this.service);
    const { instances } = this.config.fleet;

    if (service.stableVersion && service.stableVersion !== release?.version) {
      await this.fleet.ensure(service.stableVersion, instances, { restartOnExit: true });
    }
    if (service.previousVersion) {
      if (service.previousRetireAt !== null && service.previousRetireAt <= this.now()) {
        const retired = service.previousVersion;
        service = { ...service, previousVersion: null, previousRetireAt: null, updatedAt: this.now() };
        await this.store.saveService(service);
        await this.emitService(
          'version.retired',
          `${retired} drained and stopped after rollback.keepPreviousFor`,
        );
      } else if (service.previousVersion !== release?.version) {
        await this.fleet.ensure(service.previousVersion, instances, { restartOnExit: true });
      }
    }

    if (release) await this.reconcileRelease(release, service);

    const current = await this.store.activeRelease(this.service);
    this.driveSyntheticLoad(current);
    service = await this.serviceRow();
    const route = this.routeFor(service, current);
    await this.applyRoute(route, current);
    this.ownMetrics?.setWeight(this.service, route.canary ? route.weight : 0);
    this.stopOrphans(service, current);
    this.notifier?.kick();
  }

  /** Synthetic load goes to a deploy's version from its canary gate through its post-deploy gate. */
  private driveSyntheticLoad(release: ReleaseRow | undefined): void {
    if (!this.syntheticLoad) return;
    if (release && release.kind === 'deploy' && ANALYSED_PHASES.has(release.phase)) {
      // A first release is the route's stable version; any later one is its canary.
      const first = release.fromVersion === null;
      this.syntheticLoad.run(release.version, first ? 'stable' : 'canary');
    } else {
      this.syntheticLoad.stop();
    }
  }

  private routeFor(service: ServiceRow, release: ReleaseRow | undefined): Route {
    if (!release) return { stable: service.stableVersion ?? undefined, canary: undefined, weight: 0 };
    // A first release has nothing to protect: its instances take traffic as soon as they are ready.
    if (!service.stableVersion) return { stable: release.version, canary: undefined, weight: 0 };
    if (service.stableVersion === release.version)
      return { stable: release.version, canary: undefined, weight: 0 };
    return { stable: service.stableVersion, canary: release.version, weight: release.weight };
  }

  /** Stops versions nobody needs any more: a finished canary, a retired previous version. */
  private stopOrphans(service: ServiceRow, release: ReleaseRow | undefined): void {
    const keep = new Set([service.stableVersion, service.previousVersion, release?.version]);
    for (const version of this.fleet.versions()) {
      if (!keep.has(version)) this.stopInBackground(version);
    }
  }

  private stopInBackground(version: string): void {
    if (this.stopping.has(version)) return;
    const done = this.fleet
      .stop(version)
      .catch((err: unknown) => this.logger.error({ err, version }, 'stopping instances failed'))
      .finally(() => this.stopping.delete(version));
    this.stopping.set(version, done);
  }

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

  private async reconcileStarting(release: ReleaseRow, service: ServiceRow): Promise<void> {
    const first = !service.stableVersion;
    const count = first ? this.config.fleet.instances : canaryCount(this.config, 0);
    if (!(await this.scaled(release, count, release.phaseStartedAt))) return;
    if (first) {
      // The version takes its traffic before its gates judge it: a router that could not apply the
      // route (nginx refused, no ready instance yet) is retried on the next pass.
      if (!(await this.applyRoute(this.routeFor(service, release), release))) return;
      // Nothing to compare a first release with: no canary steps, straight to the verify gate.
      await this.checklist?.runner.skip(release, 'canary', 'not applicable: a first release has no canary');
      const verifying = await this.update(release, {
        phase: 'verify',
        weight: FULL_WEIGHT,
        phaseStartedAt: this.now(),
      });
      await this.emit(verifying, 'release.weight', `${release.version} takes all traffic (first release)`, {
        weight: FULL_WEIGHT,
      });
      return this.reconcileFinalGates(verifying);
    }
    const updated = await this.update(release, { phase: 'canary', step: 0, stepStartedAt: this.now() });
    await this.emit(
      updated,
      'release.canary',
      `${release.version} canary ready (${count} instance${count > 1 ? 's' : ''})`,
    );
    return this.reconcileCanary(updated);
  }

  /** Ensures `count` instances of the release's version; true once all are ready, rolls back on timeout. */
  private async scaled(release: ReleaseRow, count: number, since: number): Promise<boolean> {
    await this.fleet.ensure(release.version, count, { restartOnExit: false });
    const instances = this.fleet.instances(release.version);
    const ready = instances.filter((i) => i.state === 'ready');
    if (ready.length >= count) return true;
    const timeout = this.config.fleet.startTimeout;
    if (this.now() - since > timeout) {
      const waiting = instances.filter((i) => i.state !== 'ready');
      const detail = waiting
        .map((i) => `${i.id} ${i.state}${i.lastError ? ` (${i.lastError})` : ''}`)
        .join(', ');
      const reason = Reasons.notHealthyInTime(
        release.version,
        formatDuration(timeout),
        detail || 'no instance',
      );
      await this.beginRollback(release, reason, 'rolled_back');
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
      const updated = await this.update(current, {
        phase: 'verifying',
        phaseStartedAt: now,
        stepStartedAt: now,
      });
      await this.emit(
        updated,
        'release.verifying',
        `${current.version}: canary steps done, verifying at 100%`,
      );
      return this.reconcileVerifying(updated, await this.serviceRow());
    }
    if ('setWeight' in step) {
      const count = canaryCount(this.config, step.setWeight);
      if (!(await this.scaled(current, count, current.stepStartedAt))) return;
      const updated = await this.update(current, {
        weight: step.setWeight,
        step: current.step + 1,
        stepStartedAt: now,
      });
      await this.applyRoute(this.routeFor(await this.serviceRow(), updated), updated);
      await this.emit(updated, 'release.weight', `${current.version} weight ${step.setWeight}%`, {
        weight: step.setWeight,
      });
      return this.reconcileCanary(updated);
    }
    if (typeof step.pause !== 'number') {
      const reason = Reasons.waitingForPromote(current.step + 1, steps.length);
      const updated = await this.update(current, { state: 'paused', reason });
      await this.emit(updated, 'release.paused', reason);
      return;
    }
    if (now - current.stepStartedAt < step.pause) return;
    if (!this.analysisPasses(current)) return;
    const updated = await this.update(current, { step: current.step + 1, stepStartedAt: now });
    await this.emit(updated, 'release.step', `${current.version}: ${describeStep(step)} done`);
    return this.reconcileCanary(updated);
  }

  private async reconcileVerifying(release: ReleaseRow, service: ServiceRow): Promise<void> {
    if (!(await this.scaled(release, this.config.fleet.instances, release.phaseStartedAt))) return;
    const now = this.now();
    if (release.weight < 100) {
      const updated = await this.update(release, { weight: 100, stepStartedAt: now });
      await this.applyRoute(this.routeFor(service, updated), updated);
      await this.emit(updated, 'release.weight', `${release.version} weight 100%`, { weight: 100 });
      return;
    }
    if (release.kind === 'rollback') return this.finishRollbackRelease(release);
    if (await this.analyse(release)) return;
    const current = (await this.store.getRelease(release.id)) ?? release;
    if (current.state !== 'progressing') return;
    const bake = this.config.strategy.bakeTime;
    if (now - current.stepStartedAt < bake) return;
    if (bake > 0 && !this.analysisPasses(current)) return;
    const updated = await this.update(current, { phase: 'verify', phaseStartedAt: now });
    return this.reconcileFinalGates(updated);
  }

  /** Holds the release at its pre-deploy gate; a failed check blocks it until fixed and re-run, or waived. */
  private async reconcilePreDeploy(release: ReleaseRow): Promise<void> {
    if (release.state === 'paused') return;
    if (!(await this.passGate(release, 'pre-deploy'))) return;
    const next = this.migrator ? 'migrating' : 'starting';
    const updated = await this.update(release, { phase: next, phaseStartedAt: this.now() });
    if (next === 'migrating') return this.reconcileMigrating(updated);
    return this.reconcileStarting(updated, await this.serviceRow());
  }

  /** Applies the release's migrations (idempotent, so a crash mid-way simply runs `up` again). */
  private async reconcileMigrating(release: ReleaseRow): Promise<void> {
    const run = this.migrationRun(release, 'up');
    if (run.state === 'running') return;
    if (run.state === 'failed') {
      this.migrationRuns.delete(runKey(release, 'up'));
      const reason = `migration failed: ${run.error}`;
      if (this.config.rollback.migrations === 'down') {
        const down = this.migrationRun(release, 'down');
        if (down.state === 'running') return;
      }
      const now = this.now();
      const updated = await this.update(release, {
        state: 'failed',
        phase: 'completed',
        reason,
        outcome: 'failed',
        endedAt: now,
      });
      this.ownMetrics?.ended(this.service, 'failed');
      await this.emit(updated, 'release.failed', `${release.version} failed: ${reason}`);
      return;
    }
    const applied = run.applied;
    await this.emit(
      release,
      'release.migrated',
      applied.length > 0
        ? `applied ${applied.length} migration(s): ${applied.join(', ')}`
        : 'no pending migrations',
      { migrations: applied },
    );
    const updated = await this.update(release, { phase: 'starting', phaseStartedAt: this.now() });
    return this.reconcileStarting(updated, await this.serviceRow());
  }

  /**
   * Starts (once) or reads a migration run for a release. The run is recorded under an idempotency
   * key: a replica that takes over reuses a finished run, and runs again one that never finished (SQL
   * migrations skip what the history table shows applied; migration commands must be idempotent).
   */
  private migrationRun(release: ReleaseRow, direction: 'up' | 'down'): MigrationRun {
    const k = runKey(release, direction);
    const existing = this.migrationRuns.get(k);
    if (existing) return existing;
    const run: MigrationRun = { state: 'running', applied: [], error: '' };
    this.migrationRuns.set(k, run);
    const migrator = this.migrator;
    if (!migrator) {
      run.state = 'done';
      return run;
    }
    const key = `${this.service}#${release.id}:migrations:${direction}`;
    const work = async (): Promise<string[]> => {
      const recorded = await this.store.getEffect(key);
      if (recorded?.state === 'done') return (recorded.data.applied as string[] | undefined) ?? [];
      const effect = this.effect(key, release, 'migration', { direction });
      await this.store.saveEffect(effect);
      try {
        const applied = (
          direction === 'up' ? await migrator.up(release.id) : await migrator.down(release.id)
        ).map((m) => m.id);
        await this.store.saveEffect({
          ...effect,
          state: 'done',
          at: this.now(),
          data: { direction, applied },
        });
        return applied;
      } catch (err) {
        await this.store
          .saveEffect({
            ...effect,
            state: 'failed',
            at: this.now(),
            data: { direction, error: (err as Error).message },
          })
          .catch(() => undefined);
        throw err;
      }
    };
    work().then(
      (applied) => {
        run.state = 'done';
        run.applied = applied;
      },
      (err: unknown) => {
        run.state = 'failed';
        run.error = (err as Error).message;
        this.logger.error({ err, release: release.id, direction }, 'migrations failed');
      },
    );
    return run;
  }

  /** The verify gate at 100%, then the post-deploy gate; analysis keeps running through both. */
  private async reconcileFinalGates(release: ReleaseRow): Promise<void> {
    if (await this.analyse(release)) return;
    const current = (await this.store.getRelease(release.id)) ?? release;
    if (current.state === 'paused') return;
    const gate: Gate = current.phase === 'verify' ? 'verify' : 'post-deploy';
    if (!(await this.passGate(current, gate))) return;
    if (gate === 'verify') {
      const updated = await this.update(current, { phase: 'post-deploy', phaseStartedAt: this.now() });
      return this.reconcileFinalGates(updated);
    }
    return this.finish(current);
  }

  /**
   * Evaluates a gate. True when the release may go on. Otherwise the release waits (manual items,
   * checks still running), is blocked (a failed pre-deploy check), or is rolled back (a failed check
   * at a later gate).
   */
  private async passGate(release: ReleaseRow, gate: Gate): Promise<boolean> {
    if (!this.checklist) return true;
    const outcome = await this.checklist.runner.gate(release, gate);
    if (outcome.status === 'passed') {
      if (release.state === 'waiting') {
        const updated = await this.update(release, { state: 'progressing', reason: null });
        await this.emit(updated, 'release.gate_passed', `${gate} gate passed`, { gate });
      }
      return true;
    }
    if (outcome.status === 'failed' && outcome.failed && gate !== 'pre-deploy') {
      await this.beginRollback(
        release,
        Reasons.checkFailed(gate, describeItem(outcome.failed)),
        'rolled_back',
      );
      return false;
    }
    const stale = this.inconclusiveTooLong(outcome.inconclusive);
    if (stale && gate !== 'pre-deploy' && gate !== 'rollback') {
      // analysis.onInconclusive: rollback also covers items that stay unable to judge for the same grace.
      await this.beginRollback(release, Reasons.itemInconclusive(gate, describeItem(stale)), 'rolled_back');
      return false;
    }
    const reason = waitingReason(gate, outcome);
    if (release.state !== 'waiting' || release.reason !== reason) {
      const updated = await this.update(release, { state: 'waiting', reason });
      // One event when the release starts waiting or becomes blocked, not one per signature.
      const newlyBlocked = outcome.failed !== undefined && !release.reason?.startsWith('blocked');
      if (release.state !== 'waiting' || newlyBlocked)
        await this.emit(updated, 'release.waiting', reason, { gate });
    }
    return false;
  }

  /**
   * With `analysis.onInconclusive: rollback`, the first item that has been inconclusive for
   * inconclusiveLimit x interval; with `pause` (the default) an inconclusive item holds the release.
   */
  private inconclusiveTooLong(items: readonly ChecklistItemRow[]): ChecklistItemRow | undefined {
    const { onInconclusive, inconclusiveLimit, interval } = this.config.analysis;
    if (onInconclusive !== 'rollback') return undefined;
    const grace = inconclusiveLimit * interval;
    return items.find((item) => {
      const last = item.evidence[item.evidence.length - 1];
      return last !== undefined && this.now() - (last.since ?? last.at) >= grace;
    });
  }

  /**
   * A rollback release at 100%: its version becomes stable at once, then the rollback gate's automated
   * items check it (they address `stable`); manual ones can be signed afterwards.
   */
  private async finishRollbackRelease(release: ReleaseRow): Promise<void> {
    const service = await this.serviceRow();
    if (service.stableVersion !== release.version) await this.makeStable(release);
    if (this.checklist) {
      const gate = await this.checklist.runner.gate(release, 'rollback');
      if (gate.running.length > 0) return;
    }
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
    const updated = await this.update(release, {
      state: 'succeeded',
      phase: 'completed',
      weight: 100,
      endedAt: now,
    });
    this.ownMetrics?.ended(this.service, 'succeeded');
    this.analysis.delete(release.id);
    const warm = previous ? `; ${previous} stays warm for ${formatDuration(keep)}` : '';
    await this.emit(updated, 'release.succeeded', `${release.version} is now stable${warm}`);
  }

  /** Sets the weight to 0 at once and starts draining the canary; the release ends in `outcome`. */
  private async beginRollback(
    release: ReleaseRow,
    reason: string,
    outcome: ReleaseState,
  ): Promise<ReleaseRow> {
    const service = await this.serviceRow();
    const first = !service.stableVersion || service.stableVersion === release.version;
    const end: ReleaseState = first && outcome === 'rolled_back' ? 'failed' : outcome;
    const why = first && outcome === 'rolled_back' ? Reasons.firstReleaseFailed(reason) : reason;
    const updated = await this.update(release, {
      phase: 'rolling-back',
      weight: 0,
      reason: why,
      outcome: end,
    });
    // Another replica's alert or abort only records the rollback; the lease holder acts on it at once.
    if (this.leading) await this.applyRoute(this.routeFor(service, updated), updated);
    await this.emit(updated, 'release.rolling_back', why);
    this.logger.warn({ release: release.id, version: release.version, reason: why }, 'rolling back');
    if (!first && this.leading) this.stopInBackground(release.version);
    return updated;
  }

  private async continueRollback(release: ReleaseRow): Promise<void> {
    const service = await this.serviceRow();
    const first = !service.stableVersion || service.stableVersion === release.version;
    // A failed first release that serves keeps serving: there is nothing to fall back to, and a version
    // that answers beats a proxy that answers 503. One that never served, or was aborted, is stopped.
    const keepServing = first && release.outcome === 'failed' && this.serving(release.version);
    if (first && !keepServing) {
      this.stopInBackground(release.version);
    } else if (!first && this.fleet.instances(release.version).length > 0) {
      this.stopInBackground(release.version);
      return;
    }
    if (this.migrator && this.config.rollback.migrations === 'down' && release.outcome !== 'failed') {
      // Traffic is back on the previous version before its schema is restored.
      const down = this.migrationRun(release, 'down');
      if (down.state === 'running') return;
      const message =
        down.state === 'failed'
          ? `down migrations failed: ${down.error}`
          : down.applied.length > 0
            ? `undid ${down.applied.length} migration(s): ${down.applied.join(', ')}`
            : 'no migrations to undo';
      if (!down.reported) {
        await this.emit(release, 'release.migrations_down', message, { migrations: down.applied });
        down.reported = true;
      }
    }
    if (this.checklist) {
      // Automated rollback items (a CDN purge, down migrations) finish first; manual ones are signed after.
      const gate = await this.checklist.runner.gate(release, 'rollback');
      if (gate.running.length > 0) return;
    }
    const outcome = release.outcome ?? 'rolled_back';
    this.checklist?.runner.abort(release.id);
    if (keepServing && !service.stableVersion) {
      await this.store.saveService({ ...service, stableVersion: release.version, updatedAt: this.now() });
      await this.emit(
        release,
        'release.kept_serving',
        `${release.version} keeps serving: it is the only version; deploy a fixed one`,
      );
    }
    const updated = await this.update(release, { state: outcome, phase: 'completed', endedAt: this.now() });
    this.ownMetrics?.ended(this.service, outcome);
    this.analysis.delete(release.id);
    await this.emit(
      updated,
      `release.${outcome}`,
      `${release.version} ${outcome.replace('_', ' ')}: ${release.reason ?? ''}`,
    );
  }

  // ---- analysis -------------------------------------------------------------------------------

  /** Evaluates the triggers when due; true when the release was rolled back or paused as a result. */
  private async analyse(release: ReleaseRow): Promise<boolean> {
    const triggers = this.config.rollback.triggers;
    if (triggers.length === 0) return false;
    const now = this.now();
    let state = this.analysis.get(release.id);
    if (!state) {
      state = {
        nextAt: Number.NEGATIVE_INFINITY,
        storedAt: Number.NEGATIVE_INFINITY,
        countedAt: Number.NEGATIVE_INFINITY,
        tracker: new ForTracker(),
        inconclusiveStreak: 0,
        latest: [],
        pausedSeen: false,
      };
      this.analysis.set(release.id, state);
    }
    if (release.state === 'paused') {
      state.pausedSeen = true;
    } else if (state.pausedSeen) {
      state.pausedSeen = false;
      state.tracker.reset();
      state.inconclusiveStreak = 0;
    }
    if (now < state.nextAt) return false;
    const interval = this.config.analysis.interval;
    const measurements: Measurement[] = [];
    let fired: { measurement: Measurement; heldMs: number } | undefined;
    const source = sharedWindows(this.metrics);
    const synthetic = this.syntheticLoad;
    const syntheticOf = synthetic
      ? (windowMs: number) => synthetic.window(release.version, windowMs)
      : undefined;
    for (const trigger of triggers) {
      const measurement =
        'health' in trigger
          ? measureHealth(release.version, this.fleet.instances(release.version))
          : await measureMetric(trigger, source, release.version, syntheticOf);
      measurements.push(measurement);
      const held = state.tracker.observe(measurement.trigger, measurement.verdict, now);
      const needed = 'health' in trigger ? 0 : trigger.for;
      if (!fired && held !== undefined && held >= needed) fired = { measurement, heldMs: held };
    }
    // Quick re-checks while a canary waits for traffic are stored only once a metric reaches a verdict.
    const verdict = measurements.some((m) => m.metric !== 'health' && m.verdict !== 'inconclusive');
    if (now - state.storedAt >= interval || verdict || fired) {
      state.storedAt = now;
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
    state.latest = measurements;
    this.events.emit('measurements', { releaseId: release.id, at: now, measurements });
    if (fired) {
      const { measurement, heldMs } = fired;
      const held = heldMs > 0 ? ` for ${formatDuration(heldMs)}` : '';
      await this.beginRollback(
        release,
        Reasons.triggerFired(measurement.trigger, measurement.message + held),
        'rolled_back',
      );
      return true;
    }
    const inconclusive = measurements.find((m) => m.verdict === 'inconclusive' && m.metric !== 'health');
    // A source that answered with too few requests is re-checked on the next tick, so a new canary's
    // first verdict comes as soon as it has enough traffic rather than up to an interval later.
    const awaitingTraffic = inconclusive !== undefined && inconclusive.inputs.requests !== undefined;
    state.nextAt = now + (awaitingTraffic ? Math.min(this.tickMs, interval) : interval);
    if (!inconclusive || !this.exposed(release) || release.state !== 'progressing') {
      // Only exposure counts: at weight 0 no verdict could be had, and a held release has a person on it.
      state.inconclusiveStreak = 0;
      state.countedAt = Number.NEGATIVE_INFINITY;
    } else if (now - state.countedAt >= interval) {
      state.countedAt = now;
      state.inconclusiveStreak += 1;
    }
    const limit = this.config.analysis.inconclusiveLimit;
    if (inconclusive && state.inconclusiveStreak >= limit && release.state === 'progressing') {
      const reason = Reasons.inconclusive(state.inconclusiveStreak, inconclusive.message);
      if (this.config.analysis.onInconclusive === 'rollback') {
        await this.beginRollback(release, reason, 'rolled_back');
      } else {
        const updated = await this.update(release, { state: 'paused', reason });
        await this.emit(updated, 'release.paused', reason);
      }
      return true;
    }
    return false;
  }

  /** Whether a version has a ready instance taking requests. */
  private serving(version: string): boolean {
    return this.fleet.instances(version).some((i) => i.state === 'ready');
  }

  /** Whether the release's version takes user traffic (a first release takes all of it once ready). */
  private exposed(release: ReleaseRow): boolean {
    return release.weight > 0;
  }

  /** A release moves past a timed pause only on a fresh pass of every metric trigger: no data is not good data. */
  private analysisPasses(release: ReleaseRow): boolean {
    const metricTriggers = this.config.rollback.triggers.filter((t) => !('health' in t));
    if (metricTriggers.length === 0) return true;
    const latest = this.analysis.get(release.id)?.latest ?? [];
    const metric = latest.filter((m) => m.metric !== 'health');
    return metric.length === metricTriggers.length && metric.every((m) => m.verdict === 'pass');
  }

  // ---- helpers --------------------------------------------------------------------------------

  private now(): number {
    return this.clock.now();
  }

  /**
   * Applies a route. A router that cannot (nginx refusing a config, no ready server yet) is logged
   * once per distinct problem and retried on the next pass; the stored intent is already durable.
   */
  private async applyRoute(route: Route, release?: ReleaseRow): Promise<boolean> {
    // Nothing deployed yet: nothing to route, and no router to bother.
    if (route.stable === undefined && route.canary === undefined) return true;
    const key = release ? this.trafficKey(release, route) : undefined;
    try {
      let effect: EffectRow | undefined;
      if (key && key !== this.appliedEffect) {
        effect = (await this.store.getEffect(key)) ?? this.effect(key, release, 'traffic', route);
        if (effect.state === 'done') this.appliedEffect = key;
        else await this.store.saveEffect(effect);
      }
      // Routers compare what they would write with what is in place, so a repeat changes nothing.
      await this.router.setRoute(route);
      if (key && effect && effect.state !== 'done') {
        await this.store.saveEffect({ ...effect, state: 'done', at: this.now() });
        this.appliedEffect = key;
      }
      this.lastRouteError = undefined;
      return true;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastRouteError)
        this.logger.warn({ err, route }, `applying the route failed: ${message}`);
      this.lastRouteError = message;
      return false;
    }
  }

  /**
   * The idempotency key of a weight change: one per release and weight, and one for its rollback.
   * A replica that takes over finds the change done and neither repeats nor counts it again.
   */
  private trafficKey(release: ReleaseRow, route: Route): string | undefined {
    if (release.phase === 'rolling-back') return `${this.service}#${release.id}:traffic:rollback`;
    if (!route.canary || route.weight === 0) return undefined;
    return `${this.service}#${release.id}:traffic:${route.weight}`;
  }

  private effect(key: string, release: ReleaseRow | undefined, kind: EffectKind, data: object): EffectRow {
    return {
      key,
      service: this.service,
      releaseId: release?.id ?? null,
      kind,
      state: 'started',
      holder: this.lease?.holder ?? 'local',
      at: this.now(),
      data: { ...data },
    };
  }

  private nextStepAfter(release: ReleaseRow): number {
    const steps = this.config.strategy.steps;
    const step = steps[release.step];
    // Promoting during a pause skips it; promoting before a setWeight applies that weight now.
    return step && 'pause' in step ? release.step + 1 : release.step;
  }

  private async serviceRow(): Promise<ServiceRow> {
    return (
      (await this.store.getService(this.service)) ?? {
        name: this.service,
        stableVersion: null,
        previousVersion: null,
        previousRetireAt: null,
        updatedAt: this.now(),
      }
    );
  }

  /** The active release; ConflictError naming `action` when there is none (the service exists, so not a 404). */
  private async requireActive(action: string): Promise<ReleaseRow> {
    const release = await this.store.activeRelease(this.service);
    if (!release) throw new ConflictError(`service ${this.service} has no active release to ${action}`);
    return release;
  }

  private async lastSucceededBefore(stable: string | null): Promise<string | undefined> {
    const releases = await this.store.listReleases(this.service, 50);
    return releases.find((r) => r.state === 'succeeded' && r.version !== stable)?.version;
  }

  private update(release: ReleaseRow, patch: ReleasePatch): Promise<ReleaseRow> {
    return this.store.updateRelease(release.id, patch, this.now());
  }

  private async emit(
    release: ReleaseRow,
    type: string,
    message: string,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    const row = await this.store.addEvent({
      service: this.service,
      releaseId: release.id,
      at: this.now(),
      type,
      message,
      data: {
        state: release.state,
        phase: release.phase,
        weight: release.weight,
        version: release.version,
        ...data,
      },
    });
    this.logger.info({ release: release.id, event: type }, message);
    this.events.emit('event', row);
  }

  private async emitService(
    type: string,
    message: string,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    const row: EventRow = await this.store.addEvent({
      service: this.service,
      releaseId: null,
      at: this.now(),
      type,
      message,
      data,
    });
    this.logger.info({ event: type }, message);
    this.events.emit('event', row);
  }
}

/** A migration run in the background, read by later reconcile passes. */
interface MigrationRun {
  state: 'running' | 'done' | 'failed';
  applied: string[];
  error: string;
  reported?: boolean;
}

function runKey(release: ReleaseRow, direction: 'up' | 'down'): string {
  return `${release.id}:${direction}`;
}

/** `"Run full test suite" (pre-deployment/testing/run-full-test-suite): npm test: exit 1 in 3.2s` */
function describeItem(item: ChecklistItemRow): string {
  const last = item.evidence[item.evidence.length - 1];
  return `"${item.title}" (${item.id})${last ? `: ${last.summary}` : ''}`;
}

/** Why a release waits at a gate, in words that say what to do. */
function waitingReason(gate: Gate, outcome: GateOutcome): string {
  if (outcome.failed) {
    return Reasons.blockedAtGate(gate, describeItem(outcome.failed));
  }
  const parts: string[] = [];
  if (outcome.toSign.length > 0) {
    parts.push(
      `${outcome.toSign.length} item${outcome.toSign.length > 1 ? 's' : ''} to sign: ${outcome.toSign.map((i) => i.id).join(', ')}`,
    );
  }
  if (outcome.inconclusive.length > 0) {
    const n = outcome.inconclusive.length;
    parts.push(
      `${n} item${n > 1 ? 's' : ''} inconclusive (checked again each analysis.interval; rerun, sign or waive): ` +
        outcome.inconclusive.map(describeItem).join('; '),
    );
  }
  if (outcome.running.length > 0) {
    parts.push(
      `${outcome.running.length} check${outcome.running.length > 1 ? 's' : ''} running: ${outcome.running.map((i) => i.id).join(', ')}`,
    );
  }
  return `waiting at the ${gate} gate: ${parts.join('; ')}`;
}

/** Instances that count as serving for a version: ready ones. */
export function readyAddresses(instances: readonly Instance[]): string[] {
  return instances.filter((i) => i.state === 'ready').map((i) => i.address);
}
