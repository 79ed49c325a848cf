/**
 * A unit's stable instance count and what moves it (docs/capacity.md, docs/decisions/018):
 * - the count in force: `fleet.instances`, unless `shipcheck scale` or the autoscaler stored another
 *   one since the config last changed it (a row per unit, shared by the replicas);
 * - on the replica that drives the unit, beside its reconcile loop: CPU and RSS per instance every few
 *   seconds (gauges on /metrics), a load sample every {@link LOAD_SAMPLE_MS}, and the autoscaler's
 *   decision every `scaling.interval`, each an event with its inputs;
 * - the capacity report from the load samples.
 * A pass of the loop only compares the clock; reads, writes and scalings run beside it, one at a time.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Fleet } from '../providers/fleet/types.js';
import type { MetricSource } from '../providers/metrics/types.js';
import type { LoadSampleRow, ScaleSettingRow, ScaleSource } from '../store/scaling-store.js';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { AutoscaleDecider, type Decision, describeDecision } from './autoscale-decision.js';
import { type CapacityReport, capacityReport } from './capacity.js';
import { InstanceUsageSampler } from './instance-usage.js';

/** Time between two load samples of the stable version. */
export const LOAD_SAMPLE_MS = 10_000;
/** Time between two CPU/RSS readings of the instances (shorter when the autoscaler decides more often). */
export const USAGE_SAMPLE_MS = 3_000;
/** Load samples older than this are pruned by the replica that writes them. */
export const LOAD_SAMPLE_MAX_AGE_MS = 30 * 86_400_000;
/** Time between two prunes of old load samples. */
const PRUNE_EVERY_MS = 3_600_000;
/** A stored count read by another replica is seen by the driving one within this time. */
const REFRESH_MS = 1_000;
/** The window the autoscaler reads the request rate over, at least. */
const MIN_RATE_WINDOW_MS = 5_000;
/** The most instances `scale` sets. */
export const MAX_INSTANCES = 1_000;
/** How far back the capacity report reads load samples, by default. */
export const CAPACITY_PERIOD_MS = 14 * 86_400_000;

/** What a unit's scaling works with. */
export interface UnitScalingOptions {
  unit: string;
  config: Config;
  store: Store;
  fleet: Fleet;
  metrics: MetricSource;
  clock: Clock;
  logger: Logger;
  /** Stores an event of the unit (not of a release). */
  emit: (type: string, message: string, data: Record<string, unknown>) => Promise<void>;
  /** Runs a reconcile pass after a change of count, so it is acted on now. */
  reconcile: () => Promise<void>;
  /** Where the per-instance gauges are registered; none when omitted. */
  registry?: Registry;
  /** Shorter sampling for tests. */
  loadSampleMs?: number;
  usageSampleMs?: number;
}

/** The count in force and where it comes from; what `scale` and the API answer. */
export interface ScaleView {
  unit: string;
  instances: number;
  /** fleet.instances as configured. */
  configInstances: number;
  /** `config`, or who set it: `user` (shipcheck scale) or `autoscaler`. */
  source: 'config' | ScaleSource;
  setBy: string | null;
  setAt: number | null;
  reason: string | null;
  /** The count before this change, on a scale answer. */
  previous?: number;
  autoscaling: { min: number; max: number; target: Record<string, number>; cooldownMs: number } | null;
}

/** The autoscaler's state for the capacity check: whether it has data and the count is within bounds. */
export interface AutoscaleStatus {
  configured: boolean;
  instances: number;
  min: number | null;
  max: number | null;
  /** The newest load sample, if any. */
  latest: LoadSampleRow | undefined;
  /** The unit's samples over a window, oldest first, for checks that look at a stretch. */
  samples: (windowMs: number) => Promise<LoadSampleRow[]>;
}

/** The parts of a unit's scaling the checklist's capacity kind reads. */
export interface ScalingReader {
  capacity(rate?: number): Promise<CapacityReport>;
  autoscaleStatus(): Promise<AutoscaleStatus>;
}

/** One unit's stable count, its sampling and its autoscaler. */
export class UnitScaling implements ScalingReader {
  private setting: ScaleSettingRow | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private readonly usage: InstanceUsageSampler;
  private decider: AutoscaleDecider | undefined;
  private nextUsageAt = 0;
  private nextLoadAt = 0;
  private nextDecisionAt = 0;
  private nextPruneAt = 0;
  /** What the last hold event said, so a hold is logged when it changes, not on every decision. */
  private lastHold: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private closed = false;

  constructor(private readonly options: UnitScalingOptions) {
    this.usage = new InstanceUsageSampler(options.unit, options.registry);
  }

  private get config(): Config {
    return this.options.config;
  }

  /** The stable instance count in force: the stored one while the config's count is unchanged, within the scaling bounds. */
  count(): number {
    const configured = this.config.fleet.instances;
    const stored = this.setting;
    const base = stored && stored.configInstances === configured ? stored.instances : configured;
    const bounds = this.config.scaling;
    return bounds ? Math.min(bounds.max, Math.max(bounds.min, base)) : base;
  }

  /** Reads the stored count again when it may have changed (another replica's `scale`). */
  async refresh(force = false): Promise<void> {
    const now = this.options.clock.now();
    if (!force && now - this.readAt < REFRESH_MS && now >= this.readAt) return;
    this.setting = await this.options.store.scaling.getScale(this.options.unit);
    this.readAt = now;
  }

  /** The count in force and where it comes from. */
  async view(): Promise<ScaleView> {
    await this.refresh(true);
    const stored = this.setting;
    const applies = stored !== undefined && stored.configInstances === this.config.fleet.instances;
    const scaling = this.config.scaling;
    return {
      unit: this.options.unit,
      instances: this.count(),
      configInstances: this.config.fleet.instances,
      source: applies ? stored.source : 'config',
      setBy: applies ? stored.setBy : null,
      setAt: applies ? stored.setAt : null,
      reason: applies ? stored.reason : null,
      autoscaling: scaling
        ? {
            min: scaling.min,
            max: scaling.max,
            target: Object.fromEntries(
              Object.entries(scaling.target).filter(([, v]) => v !== undefined),
            ) as Record<string, number>,
            cooldownMs: scaling.cooldown,
          }
        : null,
    };
  }

  /**
   * Sets the stable instance count, durably, with an event on the unit, then reconciles so the
   * driving replica acts now (scaling down drains the highest indexes). Out of the scaling bounds is
   * an InputError.
   */
  async scale(
    instances: number,
    by: { name: string; source: ScaleSource; reason?: string; data?: Record<string, unknown> },
  ): Promise<ScaleView> {
    if (!Number.isInteger(instances) || instances < 1 || instances > MAX_INSTANCES)
      throw new InputError(`instances ${String(instances)} is not a whole number from 1 to ${MAX_INSTANCES}`);
    const scaling = this.config.scaling;
    if (scaling && (instances < scaling.min || instances > scaling.max))
      throw new InputError(
        `instances ${instances} is outside scaling.min..max (${scaling.min}..${scaling.max}) of ${this.options.unit}; scale within them or change the scaling block`,
      );
    await this.refresh(true);
    const previous = this.count();
    const now = this.options.clock.now();
    const row: ScaleSettingRow = {
      unit: this.options.unit,
      instances,
      configInstances: this.config.fleet.instances,
      source: by.source,
      setBy: by.name,
      reason: by.reason ?? null,
      setAt: now,
    };
    await this.options.store.scaling.setScale(row);
    this.setting = row;
    this.readAt = now;
    const type = by.source === 'autoscaler' ? 'autoscale.scaled' : 'fleet.scaled';
    const message =
      by.source === 'autoscaler' && by.reason
        ? by.reason
        : `stable instances ${previous} -> ${instances} (by ${by.name}${by.reason ? `: ${by.reason}` : ''})`;
    await this.options.emit(type, message, {
      instances,
      previous,
      by: by.name,
      source: by.source,
      ...by.data,
    });
    if (!this.closed) await this.options.reconcile();
    return { ...(await this.view()), previous };
  }

  /**
   * Called at the end of each pass of the driving replica, with the stable version: samples and
   * decides when their intervals are due, beside the loop. Never waits and never throws.
   */
  observe(stable: string | null): void {
    if (!stable || this.busy || this.closed) return;
    const now = this.options.clock.now();
    const usageMs = Math.min(
      this.options.usageSampleMs ?? USAGE_SAMPLE_MS,
      this.config.scaling?.interval ?? Number.POSITIVE_INFINITY,
    );
    const work: (() => Promise<void>)[] = [];
    if (now >= this.nextUsageAt) {
      this.nextUsageAt = now + usageMs;
      const { fleet } = this.options;
      // Reading /proc walks every process on the host: beside the loop, not in its pass.
      if (fleet.type === 'local') work.push(async () => this.usage.sample(fleet.instances()));
    }
    if (now >= this.nextLoadAt) {
      const loadMs = this.options.loadSampleMs ?? LOAD_SAMPLE_MS;
      // The first sample waits a full interval, so it covers one.
      const first = this.nextLoadAt === 0;
      this.nextLoadAt = now + loadMs;
      if (!first) work.push(() => this.recordLoad(stable, now, loadMs));
    }
    const scaling = this.config.scaling;
    if (scaling && now >= this.nextDecisionAt) {
      this.nextDecisionAt = now + scaling.interval;
      this.decider ??= new AutoscaleDecider(
        { min: scaling.min, max: scaling.max, target: scaling.target, cooldownMs: scaling.cooldown },
        now,
      );
      work.push(() => this.autoscale(stable, now));
    }
    if (work.length === 0) return;
    this.busy = true;
    const run = this.queue
      .then(async () => {
        for (const step of work) await step();
      })
      .catch((err: unknown) => this.options.logger.warn({ err }, 'scaling work failed'))
      .finally(() => (this.busy = false));
    this.queue = run;
  }

  /** Forgets what only the driving replica keeps: readings, the recommendations, the last hold. */
  clear(): void {
    this.usage.clear();
    this.decider = undefined;
    this.lastHold = undefined;
    this.nextUsageAt = 0;
    this.nextLoadAt = 0;
    this.nextDecisionAt = 0;
  }

  /** Waits for the work in progress. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** Starts no more work and waits for what is in progress (the engine is stopping). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  /** The latest CPU/RSS readings of a version's instances. */
  instanceUsage(version: string): ReturnType<InstanceUsageSampler['of']> {
    return this.usage.of(version);
  }

  private async recordLoad(version: string, at: number, windowMs: number): Promise<void> {
    const { store, metrics, fleet, unit } = this.options;
    let stats;
    try {
      stats = await metrics.window(version, windowMs);
    } catch (err) {
      this.options.logger.debug({ err }, 'load sample skipped: the metric source did not answer');
      return;
    }
    const ready = fleet.instances(version).filter((i) => i.state === 'ready').length;
    const mean = this.usage.mean(version);
    await store.scaling.addLoadSample({
      unit,
      at,
      version,
      instances: ready,
      rps: stats.rps,
      requests: stats.requests,
      p99: stats.p99 ?? null,
      errorRate: stats.requests > 0 ? stats.errors / stats.requests : null,
      cpu: mean.cpu ?? null,
      rss: mean.rss ?? null,
    });
    if (at >= this.nextPruneAt) {
      this.nextPruneAt = at + PRUNE_EVERY_MS;
      await store.scaling.pruneLoadSamples(at - LOAD_SAMPLE_MAX_AGE_MS);
    }
  }

  private async autoscale(version: string, now: number): Promise<void> {
    const scaling = this.config.scaling;
    const decider = this.decider;
    if (!scaling || !decider) return;
    await this.refresh(true);
    let rps: number | undefined;
    try {
      const stats = await this.options.metrics.window(
        version,
        Math.max(scaling.interval, MIN_RATE_WINDOW_MS),
      );
      rps = stats.rps;
    } catch {
      rps = undefined;
    }
    const cpu = this.options.fleet.type === 'local' ? this.usage.mean(version).cpu : undefined;
    const current = this.count();
    const stored = this.setting;
    const lastScaleAt =
      stored && stored.configInstances === this.config.fleet.instances ? stored.setAt : undefined;
    const decision = decider.decide(
      { rps, cpuPercent: cpu === undefined ? undefined : cpu * 100, current },
      now,
      lastScaleAt,
    );
    const data = decisionData(decision);
    if (decision.action === 'scale') {
      this.lastHold = undefined;
      await this.scale(decision.desired, {
        name: 'autoscaler',
        source: 'autoscaler',
        reason: describeDecision(decision),
        data,
      });
      return;
    }
    // Keyed on the reason and the count, not on the recommendation, which noisy load moves every interval.
    const key = `${decision.reason}:${decision.current}`;
    if (key === this.lastHold) return;
    this.lastHold = key;
    await this.options.emit('autoscale.held', describeDecision(decision), data);
  }

  /** The capacity report over the last `periodMs` of samples. */
  async capacity(rate?: number, periodMs = CAPACITY_PERIOD_MS): Promise<CapacityReport> {
    if (rate !== undefined && !(Number.isFinite(rate) && rate > 0))
      throw new InputError(`rate ${String(rate)} is not a positive number of requests per second`);
    await this.refresh(true);
    const now = this.options.clock.now();
    const samples = await this.options.store.scaling.loadSamples(this.options.unit, now - periodMs);
    const stable = (await this.options.store.getService(this.options.unit))?.stableVersion ?? null;
    let rps: number | undefined;
    if (stable) {
      try {
        rps = (await this.options.metrics.window(stable, 30_000)).rps;
      } catch {
        rps = samples[samples.length - 1]?.rps;
      }
    }
    const trigger = this.config.rollback.triggers.find((t) => 'metric' in t && t.metric === 'latency_p99') as
      { above: number } | undefined;
    const scaling = this.config.scaling;
    return capacityReport({
      samples,
      p99LimitMs: trigger?.above,
      instances: this.count(),
      rps,
      bounds: scaling ? { min: scaling.min, max: scaling.max } : undefined,
      rate,
    });
  }

  /** What the autoscaling check reads. */
  async autoscaleStatus(): Promise<AutoscaleStatus> {
    await this.refresh(true);
    const scaling = this.config.scaling;
    const now = this.options.clock.now();
    const { store, unit } = this.options;
    return {
      configured: scaling !== undefined,
      instances: this.count(),
      min: scaling?.min ?? null,
      max: scaling?.max ?? null,
      latest: await store.scaling.latestLoadSample(unit),
      samples: (windowMs) => store.scaling.loadSamples(unit, now - windowMs),
    };
  }
}

/** A decision's inputs for its event. */
function decisionData(d: Decision): Record<string, unknown> {
  return {
    action: d.action,
    reason: d.reason,
    rps: d.rps,
    cpuPercent: d.cpuPercent,
    ratio: d.ratio,
    current: d.current,
    desired: d.desired,
    recommended: d.recommended,
    min: d.min,
    max: d.max,
  };
}
