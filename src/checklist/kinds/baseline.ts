import { z } from 'zod';
import { BASELINE_METRIC_GROUPS, type BaselineMetricGroup } from '../../baseline/compare.js';
import { judgeBaseline } from '../../baseline/judge.js';
import type { CheckKind } from '../types.js';

const baselineParams = z
  .strictObject({
    metric: z
      .enum(BASELINE_METRIC_GROUPS as [BaselineMetricGroup, ...BaselineMetricGroup[]])
      .describe(
        'The figures judged: latency (p50/p95/p99), throughput, errors (error rate) or resources (CPU, RSS).',
      ),
  })
  .describe(
    'Compares the release’s performance baseline with the previous succeeded release’s (docs/baselines.md).',
  );

/**
 * `baseline`: the release's recorded baseline against the previous succeeded release's, under the
 * service's `baseline` settings. A regression beyond tolerance fails with both figures and sample
 * sizes; no baseline yet, no previous one, too few requests or incomparable load is inconclusive.
 */
export const baselineCheck: CheckKind<z.output<typeof baselineParams>> = {
  kind: 'baseline',
  params: baselineParams,
  async run(params, context) {
    const store = context.store?.baselines;
    if (!store) return { ok: false, inconclusive: true, summary: 'no store to read baselines from' };
    const unit = context.unit ?? context.service;
    // The newest baseline of the version under check: its release's.
    const baseline = (await store.list(unit, 50)).find((b) => b.version === context.version);
    return judgeBaseline(store, baseline, params.metric, context.config.baseline);
  },
};
