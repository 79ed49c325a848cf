/**
 * What the API and the CLI read about one unit: its status with live figures, its releases with their
 * step, and a release's checklist. Reads only; every replica serves them from the shared store.
 */
import { shownParams } from '../security/sealed-params.js';
import { gateOf } from '../checklist/checklist-runner.js';
import type { Config } from '../config/schema.js';
import type { Gate } from '../domain/checklist.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { tailLog } from '../providers/fleet/local/instance-log.js';
import type { Fleet } from '../providers/fleet/types.js';
import type { MetricSource, WindowStats } from '../providers/metrics/types.js';
import type { ChecklistItemRow, ReleaseRow, SampleFigures, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import type { Lease } from './lease.js';
import { describeStep } from './plan.js';
import type { UnitRecords } from './unit-records.js';

/** Lookback for the live figures shown by `status` and `deploy --wait`. */
const STATUS_WINDOW_MS = 10_000;

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
  /** Every strategy step as written (`setWeight 10`, `pause 30s`), in order: the plan `step` indexes. */
  plan: string[];
}

/** A release's checklist and the gate the release is at. */
export interface ChecklistView {
  release: ReleaseView;
  gate: Gate | null;
  items: ChecklistItemRow[];
  /**
   * The audit log's newest entry when the checklist was read: a report that carries it proves what
   * the log said then (`shipcheck audit verify --anchor SEQ:HASH`).
   */
  auditHead: { seq: number; hash: string } | null;
}

/** The tail of one instance's log (`GET /api/v1/services/:service/instances/:instance/log`). */
export interface InstanceLogView {
  instance: string;
  version: string;
  /** The current run's last lines, oldest first, secrets redacted. */
  lines: string[];
  /** Whether the run wrote more before these lines. */
  truncated: boolean;
}

/** What the views of one unit read. */
export interface ViewsOptions {
  config: Config;
  store: Store;
  records: UnitRecords;
  fleet: Fleet;
  metrics: MetricSource;
  clock: Clock;
  /** The environment the unit deploys to, when the config has environments. */
  environment: string | undefined;
  lease: Lease | undefined;
}

/** The read views of one unit. */
export class Views {
  constructor(private readonly options: ViewsOptions) {}

  /** The service's stable version, its active (or else last) release, and live figures. */
  async status(leading: boolean): Promise<StatusView> {
    const { config, store, records, lease } = this.options;
    const service = await records.service();
    const release = await records.latest();
    const active = release && release.phase !== 'completed' ? release : undefined;
    const held = lease ? await store.getLease(records.name) : undefined;
    return {
      service: config.service,
      environment: this.options.environment ?? null,
      stable: service.stableVersion,
      previous: service.previousVersion,
      release: release ? this.view(release) : null,
      versions: {
        stable: service.stableVersion ? await this.figures(service.stableVersion) : null,
        canary:
          active && active.version !== service.stableVersion ? await this.figures(active.version) : null,
      },
      replica: lease
        ? {
            id: lease.holder,
            leading,
            holder: held && held.expiresAt > this.options.clock.now() ? held.holder : null,
          }
        : null,
    };
  }

  /** A release by id, with its step count. */
  async release(id: number): Promise<ReleaseView> {
    const release = await this.options.store.getRelease(id);
    if (!release || release.service !== this.options.records.name)
      throw new NotFoundError(`release ${id} not found`);
    return this.view(release);
  }

  /** Releases of the unit, newest first. */
  async releases(limit: number): Promise<ReleaseView[]> {
    return (await this.options.store.listReleases(this.options.records.name, limit)).map((r) => this.view(r));
  }

  /** A release's checklist (default: the active, else the last release) and the gate it is at. */
  async checklist(releaseId?: number): Promise<ChecklistView> {
    const release =
      releaseId === undefined ? await this.options.records.current() : await this.release(releaseId);
    return {
      release: this.view(release),
      gate: gateOf(release) ?? null,
      // The sealed copy of params that hold a secret stays in the store.
      items: (await this.options.store.listChecklist(release.id)).map((item) => ({
        ...item,
        params: shownParams(item.params),
      })),
      auditHead: (await this.options.store.security.auditHead()) ?? null,
    };
  }

  /**
   * The last `lines` lines of an instance's current run. NotFoundError for an instance the fleet does
   * not know or that has no log file; ConflictError on a replica that does not drive the unit, naming
   * the one that does (only it runs the instances).
   */
  async instanceLog(instanceId: string, lines: number, leading: boolean): Promise<InstanceLogView> {
    const { fleet, lease, records, store, clock } = this.options;
    if (lease && !leading) {
      const held = await store.getLease(records.name);
      const holder = held && held.expiresAt > clock.now() ? held.holder : undefined;
      throw new ConflictError(
        `replica ${lease.holder} does not run the instances of ${records.name}; ` +
          (holder ? `replica ${holder} does: ask it` : 'no replica drives it now; try again shortly'),
      );
    }
    const instance = fleet.instances().find((i) => i.id === instanceId);
    if (!instance) {
      const known = fleet.instances().map((i) => i.id);
      throw new NotFoundError(
        `no instance "${instanceId}" of ${records.name}` +
          (known.length > 0 ? `; its instances are ${known.join(', ')}` : '; it runs none now'),
      );
    }
    if (instance.logFile === undefined)
      throw new NotFoundError(
        `instance ${instanceId} has no log file shipcheck can read: the ${fleet.type} fleet runs it ` +
          `through its own commands, so read its log where those commands send it`,
      );
    const tail = tailLog(instance.logFile, lines);
    if (!tail)
      throw new NotFoundError(`the log file of instance ${instanceId} cannot be read (${instance.logFile})`);
    return { instance: instance.id, version: instance.version, ...tail };
  }

  private view(release: ReleaseRow): ReleaseView {
    const steps = this.options.config.strategy.steps;
    const step = release.phase === 'canary' ? steps[release.step] : undefined;
    return {
      ...release,
      steps: steps.length,
      stepName: step ? describeStep(step) : null,
      plan: steps.map(describeStep),
    };
  }

  private async figures(version: string): Promise<VersionFigures> {
    const { errors: _errors, ...figures } =
      (await readFigures(this.options.metrics, version, STATUS_WINDOW_MS)) ?? noFigures(version);
    return {
      ...figures,
      instances: this.options.fleet.instances(version).map((i) => ({
        id: i.id,
        address: i.address,
        state: i.state,
        restarts: i.restarts,
        lastError: i.lastError ?? null,
      })),
    };
  }
}

/**
 * The live figures of `version` over the last `windowMs`, read from `metrics`: what `status` shows
 * and what a release sample keeps. Undefined when the source cannot be read (it threw), never a throw.
 */
export async function readFigures(
  metrics: MetricSource,
  version: string,
  windowMs: number,
): Promise<SampleFigures | undefined> {
  let stats: WindowStats;
  try {
    stats = await metrics.window(version, windowMs);
  } catch {
    return undefined;
  }
  return {
    version,
    rps: stats.rps,
    requests: stats.requests,
    errors: stats.errors,
    errorRate: stats.requests > 0 ? stats.errors / stats.requests : null,
    p50: stats.p50 ?? null,
    p99: stats.p99 ?? null,
  };
}

/** Figures of a version nothing could be read of: no traffic seen. */
function noFigures(version: string): SampleFigures {
  return { version, rps: 0, requests: 0, errors: 0, errorRate: null, p50: null, p99: null };
}
