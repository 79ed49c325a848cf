import type { Config } from '../config/schema.js';
import { systemClock } from '../util/clock.js';
import { rolloutStepCheck } from './kinds/rollout-step.js';
import { triggerCheck } from './kinds/trigger.js';
import type { ResolvedItem } from './template.js';
import type { CheckKind } from './types.js';

/**
 * Kinds that judge the plan as written (the strategy's weights, the rollback triggers) and read
 * nothing else, so they can run before anything starts: in `shipcheck validate` and at pre-deploy.
 */
const PLAN_KINDS: Readonly<Record<string, readonly string[]>> = {
  [rolloutStepCheck.kind]: ['strategy', 'steps'],
  [triggerCheck.kind]: ['rollback', 'triggers'],
};

/** A plan item that would fail, and the config key it is about. */
export interface PlanProblem {
  item: ResolvedItem;
  summary: string;
  /** The config path the problem is about, e.g. ['strategy', 'steps']. */
  path: readonly string[];
}

/** Runs the checklist's plan items against the config alone; returns those that would fail. */
export async function checkPlan(
  config: Config,
  items: readonly ResolvedItem[],
  kinds: ReadonlyMap<string, CheckKind<unknown>>,
): Promise<PlanProblem[]> {
  const problems: PlanProblem[] = [];
  for (const item of items) {
    const path = PLAN_KINDS[item.kind];
    const kind = kinds.get(item.kind);
    if (!path || !kind || !item.automated) continue;
    const params = kind.params.safeParse(item.params);
    if (!params.success) continue; // the template check reports bad params itself
    const result = await kind.run(params.data, {
      service: config.service,
      version: 'next',
      fromVersion: 'current',
      proxyUrl: '',
      configDir: '.',
      metrics: {
        type: 'none',
        window: () => Promise.reject(new Error('plan checks read no metrics')),
      },
      instances: () => [],
      envOf: () => ({}),
      config,
      clock: systemClock,
      signal: AbortSignal.timeout(PLAN_CHECK_TIMEOUT_MS),
    });
    if (!result.ok) problems.push({ item, summary: result.summary, path });
  }
  return problems;
}

/** Plan checks read the config only; this bounds a bug, not real work. */
const PLAN_CHECK_TIMEOUT_MS = 5000;
