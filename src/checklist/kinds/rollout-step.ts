import { z } from 'zod';
import type { CheckKind } from '../types.js';

const FULL = 100;

/** Params of `rollout-step`: the weights the rollout must go through. */
export interface RolloutStepParams {
  weights: number[];
}

/**
 * The release's strategy goes through these weights (100% is always reached at the end), so the
 * seed's "10% -> 50% -> full" is what actually runs. Deterministic: it reads the plan, not the clock.
 */
export const rolloutStepCheck: CheckKind<RolloutStepParams> = {
  kind: 'rollout-step',
  params: z.strictObject({
    weights: z
      .array(z.number().int().min(1).max(FULL))
      .min(1)
      .refine(
        (w) => w.every((x, i) => i === 0 || x > (w[i - 1] ?? 0)),
        'weights must go up, e.g. [10, 50, 100]',
      )
      .describe('Weights, in percent, the rollout must set.'),
  }),
  async run({ weights }, context) {
    const planned = context.config.strategy.steps.flatMap((s) => ('setWeight' in s ? [s.setWeight] : []));
    const reached = new Set([...planned, FULL]);
    const missing = weights.filter((w) => !reached.has(w));
    const plan = [...new Set([...planned, FULL])].map((w) => `${w}%`).join(' -> ');
    if (missing.length === 0) {
      return { ok: true, summary: `the strategy goes ${plan}`, data: { planned, weights } };
    }
    return {
      ok: false,
      summary: `the strategy never sets ${missing.map((w) => `${w}%`).join(', ')} (it goes ${plan}); add {setWeight: ${missing[0]}} to strategy.steps, or drop this item with a reason`,
      data: { planned, weights },
    };
  },
};
