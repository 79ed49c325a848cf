import { z } from 'zod';
import type { MetricTriggerConfig } from '../../config/schema.js';
import { formatMetricValue } from '../../analysis/triggers.js';
import { formatDuration, parseDuration } from '../../util/duration.js';
import type { CheckKind } from '../types.js';

/** `METRIC > THRESHOLD [for DURATION]`, or `health failed`, as the seed writes its rollback triggers. */
const RULE =
  /^(error_rate|latency_p50|latency_p90|latency_p99) > (\d+(?:\.\d+)?)(%|ms|s|m|h)?(?: for (\S+))?$|^health failed$/;

/** Params of `trigger`: the rule the release must be protected by. */
export interface TriggerParams {
  rule: string;
}

interface ParsedRule {
  metric: MetricTriggerConfig['metric'];
  /** A fraction for error_rate, milliseconds for latency. */
  above: number;
  forMs: number;
}

function parseRule(rule: string): ParsedRule | 'health' | undefined {
  if (rule === 'health failed') return 'health';
  const match = RULE.exec(rule);
  if (!match) return undefined;
  const [, metric, amount, unit, forText] = match;
  const value = Number(amount);
  const above =
    metric === 'error_rate'
      ? value / 100
      : unit && unit !== '%'
        ? (parseDuration(`${amount}${unit}`) ?? value)
        : value;
  const forMs = forText ? parseDuration(forText) : 0;
  if (forMs === undefined) return undefined;
  return { metric: metric as ParsedRule['metric'], above, forMs };
}

/**
 * The release is protected by the rule: `rollback.triggers` holds a trigger on the same metric that is
 * no looser (threshold and `for` no higher). Passing it before deploy means the safety net is armed.
 */
export const triggerCheck: CheckKind<TriggerParams> = {
  kind: 'trigger',
  params: z.strictObject({
    rule: z
      .string()
      .refine((rule) => parseRule(rule) !== undefined, {
        message: 'expected METRIC > THRESHOLD [for DURATION] or "health failed", e.g. error_rate > 5% for 5m',
      })
      .describe('The rollback rule the checklist asks for.'),
  }),
  async run({ rule }, context) {
    const wanted = parseRule(rule);
    const triggers = context.config.rollback.triggers;
    if (wanted === undefined) return { ok: false, summary: `cannot read the rule "${rule}"` };
    if (wanted === 'health') {
      const armed = triggers.some((t) => 'health' in t);
      return armed
        ? { ok: true, summary: 'rollback.triggers has {health: failed}' }
        : {
            ok: false,
            summary: 'rollback.triggers lacks {health: failed}; add it to roll back on failed health checks',
          };
    }
    const metricTriggers = triggers.filter(
      (t): t is MetricTriggerConfig => 'metric' in t && t.metric === wanted.metric,
    );
    const match = metricTriggers.find((t) => t.above <= wanted.above && t.for <= wanted.forMs);
    const written = (t: MetricTriggerConfig): string =>
      `${t.metric} > ${formatMetricValue(t.metric, t.above)}${t.for > 0 ? ` for ${formatDuration(t.for)}` : ''}`;
    if (match)
      return { ok: true, summary: `rollback.triggers has ${written(match)}, no looser than ${rule}` };
    const have = metricTriggers.map(written).join(', ');
    return {
      ok: false,
      summary:
        `rollback.triggers has no ${wanted.metric} trigger as strict as ${rule}` +
        (have ? ` (it has ${have})` : '') +
        '; add one, or drop this item with a reason',
    };
  },
};
