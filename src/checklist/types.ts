import type { z } from 'zod';
import type { SyntheticCounts } from '../analysis/synthetic-load.js';
import type { Config } from '../config/schema.js';
import type { ChecklistItemRow, ReleaseRow, Store } from '../store/types.js';
import type { Instance } from '../providers/fleet/types.js';
import type { MetricSource } from '../providers/metrics/types.js';
import type { Clock } from '../util/clock.js';
import type { ScalingReader } from '../scaling/unit-scaling.js';

/** The outcome of running a check once. Checks report failure as data; they throw only on bugs. */
export interface CheckResult {
  ok: boolean;
  /**
   * The check could not judge: no data, too few samples, a source that did not answer. `ok` is then
   * false, and the item is `inconclusive`, not `failed`: only a measured breach fails an item.
   */
  inconclusive?: boolean;
  summary: string;
  output?: string;
  value?: number;
  data?: Record<string, unknown>;
}

/** What a check may use while it runs. */
export interface CheckContext {
  service: string;
  /** The unit the release is of: the service, or `service@environment`; the service when absent. */
  unit?: string;
  /** The version being released, and the stable one it replaces (null for a first release). */
  version: string;
  fromVersion: string | null;
  /** Base URL of the built-in proxy, e.g. http://127.0.0.1:8080; `params.target` goes through it. */
  proxyUrl: string;
  /**
   * The headers that make the built-in proxy send a request to `target` whatever the weight (the
   * version header and the force token); absent without the built-in proxy.
   */
  proxyForceHeaders?: (target: 'stable' | 'canary') => Record<string, string>;
  /** Folder of the config file; relative paths in params resolve against it. */
  configDir: string;
  metrics: MetricSource;
  /** Instances of a version (for env, logs and health). */
  instances(version: string): Instance[];
  /** Environment a version's instances get (fleet.env merged with shipcheck's own variables). */
  envOf(version: string): Record<string, string>;
  /** Other environments' releases, for promotion checks; absent when the config has no environments. */
  history?: ReleaseHistory;
  /**
   * Requests that analysis.syntheticLoad sent to a version over a window, so evidence can say how many
   * of the counted requests were synthetic; absent when no synthetic load is configured.
   */
  synthetic?: (version: string, windowMs: number) => SyntheticCounts | undefined;
  /** The master key that seals secrets: its id, where it comes from and its age (unknown for SHIPCHECK_MASTER_KEY). */
  masterKey?: () => { id: string; origin: string; ageMs: number | undefined };
  /** The installation's notification channels (the `notify` kind); absent when nothing sends notifications. */
  notify?: ChannelTester;
  /**
   * The store parts the on-call checks use: stored overrides, users (names must exist and be
   * enabled), and the notification outbox (a notice to the secondary on-call); the snapshots the
   * `queries` check compares with. Absent in tests of kinds that need no store.
   */
  store?: Pick<
    Store,
    'oncall' | 'security' | 'notifications' | 'statusPage' | 'querySnapshots' | 'baselines'
  >;
  /**
   * The unit's checklist items with vars filled in, for kinds that read what the others probe (the
   * `catalog` kind's dependencies check); absent where no template was resolved.
   */
  checklistItems?: readonly {
    id: string;
    kind: string;
    automated: boolean;
    params: Record<string, unknown>;
  }[];
  /** The validated config, for kinds that read a block of it (cdn, backup, migrations, triggers). */
  config: Config;
  clock: Clock;
  /** Aborted when the release moves on or the control plane stops; long checks must honour it. */
  signal: AbortSignal;
  /** The unit's stable count, autoscaler and load samples (the `capacity` kind); absent in tests of other kinds. */
  scaling?: ScalingReader;
}

/** Sends a test notice through a named channel (comms/notification-dispatcher.ts implements it). */
export interface ChannelTester {
  /** The configured channels, in config order. */
  readonly channels: readonly { name: string; type: string }[];
  /** Sends a test notice now and records it; NotFoundError for an unknown name, ConflictError for a disabled one. */
  sendTest(name: string): Promise<{ delivered: boolean; error?: string; notification: { id: number } }>;
}

/** Read access to the releases of the service's other environments. */
export interface ReleaseHistory {
  /** Releases of the service in `environment`, newest first. */
  releases(environment: string): Promise<ReleaseRow[]>;
  /** The checklist of a release, in template order. */
  checklist(releaseId: number): Promise<ChecklistItemRow[]>;
}

/** One kind of automated (or manual) check; one module per kind under checklist/kinds/. */
export interface CheckKind<P = unknown> {
  /** The name used in templates: `http`, `command`, ... */
  readonly kind: string;
  /** Validates and normalises `params` (durations to ms, defaults filled in). */
  readonly params: z.ZodType<P>;
  /** Runs the check. Idempotent: it may run again after a controller restart. */
  run(params: P, context: CheckContext): Promise<CheckResult>;
}
