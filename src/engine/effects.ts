/**
 * Side effects recorded under idempotency keys (docs/decisions/004-leases-and-effects.md).
 * Each weight change and migration run is written `started` before it is attempted and `done` after,
 * so a replica that takes a unit over sees what is done, skips it, and redoes only what never
 * finished. The effects themselves are idempotent; the record is what keeps them from counting twice.
 */
import type { Route } from '../providers/traffic/types.js';
import type { EffectKind, EffectRow, ReleaseRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';

/** Which way a release's migrations run. */
export type MigrationDirection = 'up' | 'down';

/**
 * The key of a weight change, `web#12:traffic:50`: one per release and weight, and one for its
 * rollback (`web#12:traffic:rollback`). Undefined when the route gives the release no weight to record.
 */
export function trafficKey(unit: string, release: ReleaseRow, route: Route): string | undefined {
  if (release.phase === 'rolling-back') return `${unit}#${release.id}:traffic:rollback`;
  if (!route.canary || route.weight === 0) return undefined;
  return `${unit}#${release.id}:traffic:${route.weight}`;
}

/** The key of a release's migration run, `web#12:migrations:up`. */
export function migrationKey(unit: string, release: ReleaseRow, direction: MigrationDirection): string {
  return `${unit}#${release.id}:migrations:${direction}`;
}

/** What the effects of one unit need. */
export interface EffectsOptions {
  store: Store;
  /** The unit the effects belong to: `web` or `web@production`. */
  unit: string;
  /** The replica recording them: the lease holder, or `local` without a lease. */
  holder: string;
  clock: Clock;
}

/** One unit's effect records. */
export class Effects {
  private readonly store: Store;
  private readonly unit: string;
  private readonly holder: string;
  private readonly clock: Clock;
  /** The traffic effect last recorded as done, so a steady route costs no store round trip. */
  private appliedTraffic: string | undefined;

  constructor(options: EffectsOptions) {
    this.store = options.store;
    this.unit = options.unit;
    this.holder = options.holder;
    this.clock = options.clock;
  }

  /**
   * Applies `route` with `apply` (idempotent: routers compare before they write), recording the
   * weight change under its traffic key the first time. Throws what `apply` throws, recorded `started`.
   */
  async traffic(release: ReleaseRow | undefined, route: Route, apply: () => Promise<void>): Promise<void> {
    const key = release ? trafficKey(this.unit, release, route) : undefined;
    let effect: EffectRow | undefined;
    if (key && key !== this.appliedTraffic) {
      effect = (await this.store.getEffect(key)) ?? this.started(key, release, 'traffic', route);
      if (effect.state === 'done') this.appliedTraffic = key;
      else await this.store.saveEffect(effect);
    }
    await apply();
    if (key && effect && effect.state !== 'done') {
      await this.store.saveEffect({ ...effect, state: 'done', at: this.clock.now() });
      this.appliedTraffic = key;
    }
  }

  /**
   * Runs `work` once under `key`: a `done` record returns its data without running it again;
   * otherwise the run is recorded `started`, then `done` with `data` and what `work` returned, or
   * `failed` with the error, which is thrown again.
   */
  async once(
    key: string,
    release: ReleaseRow,
    kind: EffectKind,
    data: Record<string, unknown>,
    work: () => Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    const recorded = await this.store.getEffect(key);
    if (recorded?.state === 'done') return recorded.data;
    const effect = this.started(key, release, kind, data);
    await this.store.saveEffect(effect);
    try {
      const done = { ...data, ...(await work()) };
      await this.store.saveEffect({ ...effect, state: 'done', at: this.clock.now(), data: done });
      return done;
    } catch (err) {
      const failed = { ...data, error: (err as Error).message };
      await this.store
        .saveEffect({ ...effect, state: 'failed', at: this.clock.now(), data: failed })
        .catch(() => undefined);
      throw err;
    }
  }

  /** Forgets which traffic effect was done last: a replica that gains the lease reads the store again. */
  forget(): void {
    this.appliedTraffic = undefined;
  }

  private started(key: string, release: ReleaseRow | undefined, kind: EffectKind, data: object): EffectRow {
    return {
      key,
      service: this.unit,
      releaseId: release?.id ?? null,
      kind,
      state: 'started',
      holder: this.holder,
      at: this.clock.now(),
      data: { ...data },
    };
  }
}
