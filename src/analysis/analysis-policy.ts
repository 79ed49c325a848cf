/**
 * The analysis policy of a release (docs/decisions/005-no-data-is-inconclusive.md): when its triggers
 * are evaluated, how long a failing condition has held (`for`), how many inconclusive evaluations came
 * in a row while the version had exposure, and what the release should do about it. It decides; the
 * engine stores the measurements and acts on the decision. Nothing here imports the engine.
 */
import type { Config } from '../config/schema.js';
import type { Fleet } from '../providers/fleet/types.js';
import type { MetricSource } from '../providers/metrics/types.js';
import type { ChecklistItemRow, ReleaseRow } from '../store/types.js';
import type { SyntheticLoad } from './synthetic-load.js';
import { ForTracker, type Measurement, measureHealth, measureMetric, sharedWindows } from './triggers.js';

/** One evaluation of every trigger of a release. */
export interface Evaluation {
  measurements: Measurement[];
  /** Whether to store them: once per interval, plus any quick re-check that reached a verdict. */
  store: boolean;
  /** The first trigger whose condition held for its `for`, and how long it held. */
  fired: { measurement: Measurement; heldMs: number } | undefined;
}

/** What a release should do after an evaluation. */
export type Decision =
  /** No trigger fired and every metric trigger reached a verdict: the release goes on. */
  | { action: 'proceed' }
  /**
   * A metric trigger could not judge (`measurement` says why); the release goes on while `streak`,
   * the inconclusive evaluations in a row with exposure, stays under analysis.inconclusiveLimit.
   */
  | { action: 'inconclusive'; measurement: Measurement; streak: number }
  /** The streak reached analysis.inconclusiveLimit with `onInconclusive: pause`: pause the release. */
  | { action: 'hold'; cause: 'inconclusive'; measurement: Measurement; streak: number }
  /** The streak reached analysis.inconclusiveLimit with `onInconclusive: rollback`: roll the release back. */
  | { action: 'rollback'; cause: 'inconclusive'; measurement: Measurement; streak: number }
  /** A trigger fired: its condition held `heldMs` (0 for a trigger without `for`); roll the release back. */
  | { action: 'rollback'; cause: 'fired'; measurement: Measurement; heldMs: number };

/** What the policy reads. */
export interface AnalysisPolicyOptions {
  config: Pick<Config, 'analysis' | 'rollback'>;
  metrics: MetricSource;
  /** The instances of a version, for `{health: failed}`. */
  fleet: Pick<Fleet, 'instances'>;
  /** Counts of the synthetic requests in a window, for the evidence, when synthetic load runs. */
  syntheticLoad: SyntheticLoad | undefined;
  /** How soon a trigger still waiting for its first requests is evaluated again (the reconcile tick). */
  recheckMs: number;
}

/** Where one release's analysis stands between evaluations. */
interface ReleaseAnalysis {
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

/** The analysis of one unit's releases, kept in memory by the replica that drives the unit. */
export class AnalysisPolicy {
  private readonly releases = new Map<number, ReleaseAnalysis>();

  constructor(private readonly options: AnalysisPolicyOptions) {}

  /**
   * Evaluates every trigger of `release` when due, tracking each one's `for`; undefined when nothing
   * was due (or there are no triggers). Follow it with `decide()`, once the measurements are stored.
   */
  async evaluate(release: ReleaseRow, now: number): Promise<Evaluation | undefined> {
    const triggers = this.options.config.rollback.triggers;
    if (triggers.length === 0) return undefined;
    const state = this.stateOf(release.id);
    if (release.state === 'paused') {
      state.pausedSeen = true;
    } else if (state.pausedSeen) {
      state.pausedSeen = false;
      state.tracker.reset();
      state.inconclusiveStreak = 0;
    }
    if (now < state.nextAt) return undefined;
    const measurements: Measurement[] = [];
    let fired: Evaluation['fired'];
    const source = sharedWindows(this.options.metrics);
    const synthetic = this.options.syntheticLoad;
    const syntheticOf = synthetic
      ? (windowMs: number) => synthetic.window(release.version, windowMs)
      : undefined;
    for (const trigger of triggers) {
      const measurement =
        'health' in trigger
          ? measureHealth(release.version, this.options.fleet.instances(release.version))
          : await measureMetric(trigger, source, release.version, syntheticOf);
      measurements.push(measurement);
      const held = state.tracker.observe(measurement.trigger, measurement.verdict, now);
      const needed = 'health' in trigger ? 0 : trigger.for;
      if (!fired && held !== undefined && held >= needed) fired = { measurement, heldMs: held };
    }
    // Quick re-checks while a canary waits for traffic are stored only once a metric reaches a verdict.
    const verdict = measurements.some((m) => m.metric !== 'health' && m.verdict !== 'inconclusive');
    const store = now - state.storedAt >= this.options.config.analysis.interval || verdict || !!fired;
    if (store) state.storedAt = now;
    return { measurements, store, fired };
  }

  /** What `release` should do after `evaluation`; it also schedules the next evaluation. */
  decide(release: ReleaseRow, evaluation: Evaluation, now: number): Decision {
    const state = this.stateOf(release.id);
    const { measurements, fired } = evaluation;
    state.latest = measurements;
    if (fired) {
      return { action: 'rollback', cause: 'fired', measurement: fired.measurement, heldMs: fired.heldMs };
    }
    const { interval, inconclusiveLimit, onInconclusive } = this.options.config.analysis;
    const inconclusive = measurements.find((m) => m.verdict === 'inconclusive' && m.metric !== 'health');
    // A source that answered with too few requests is re-checked on the next tick, so a new canary's
    // first verdict comes as soon as it has enough traffic rather than up to an interval later.
    const awaitingTraffic = inconclusive !== undefined && inconclusive.inputs.requests !== undefined;
    state.nextAt = now + (awaitingTraffic ? Math.min(this.options.recheckMs, interval) : interval);
    if (!inconclusive || !exposed(release) || release.state !== 'progressing') {
      // Only exposure counts: at weight 0 no verdict could be had, and a held release has a person on it.
      state.inconclusiveStreak = 0;
      state.countedAt = Number.NEGATIVE_INFINITY;
    } else if (now - state.countedAt >= interval) {
      state.countedAt = now;
      state.inconclusiveStreak += 1;
    }
    if (!inconclusive) return { action: 'proceed' };
    const streak = state.inconclusiveStreak;
    if (streak >= inconclusiveLimit && release.state === 'progressing') {
      return onInconclusive === 'rollback'
        ? { action: 'rollback', cause: 'inconclusive', measurement: inconclusive, streak }
        : { action: 'hold', cause: 'inconclusive', measurement: inconclusive, streak };
    }
    return { action: 'inconclusive', measurement: inconclusive, streak };
  }

  /** Whether a timed pause or bake may end: only on a fresh pass of every metric trigger, as no data is not good data. */
  passes(release: ReleaseRow): boolean {
    const metricTriggers = this.options.config.rollback.triggers.filter((t) => !('health' in t));
    if (metricTriggers.length === 0) return true;
    const latest = this.releases.get(release.id)?.latest ?? [];
    const metric = latest.filter((m) => m.metric !== 'health');
    return metric.length === metricTriggers.length && metric.every((m) => m.verdict === 'pass');
  }

  /**
   * With `analysis.onInconclusive: rollback`, the first item that has been inconclusive for
   * inconclusiveLimit x interval; with `pause` (the default) an inconclusive item holds the release.
   */
  inconclusiveTooLong(items: readonly ChecklistItemRow[], now: number): ChecklistItemRow | undefined {
    const { onInconclusive, inconclusiveLimit, interval } = this.options.config.analysis;
    if (onInconclusive !== 'rollback') return undefined;
    const grace = inconclusiveLimit * interval;
    return items.find((item) => {
      const last = item.evidence[item.evidence.length - 1];
      return last !== undefined && now - (last.since ?? last.at) >= grace;
    });
  }

  /** A person resumed the release: `for` and the inconclusive streak start afresh. */
  resumed(releaseId: number): void {
    const state = this.releases.get(releaseId);
    state?.tracker.reset();
    if (state) state.inconclusiveStreak = 0;
  }

  /** Forgets an ended release. */
  forget(releaseId: number): void {
    this.releases.delete(releaseId);
  }

  /** Forgets every release: another replica drives the unit now. */
  clear(): void {
    this.releases.clear();
  }

  private stateOf(releaseId: number): ReleaseAnalysis {
    let state = this.releases.get(releaseId);
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
      this.releases.set(releaseId, state);
    }
    return state;
  }
}

/** Whether the release's version takes user traffic (a first release takes all of it once ready). */
function exposed(release: ReleaseRow): boolean {
  return release.weight > 0;
}
