import { describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.js';
import { rolloutStepCheck } from './rollout-step.js';
import { testContext } from '../../../test/support/check-context.js';
import { triggerCheck } from './trigger.js';

function context(overrides: Record<string, unknown>) {
  return testContext({
    config: configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, ...overrides }),
  });
}

const seedTriggers = {
  rollback: {
    triggers: [
      { metric: 'error_rate', above: '5%', for: '5m' },
      { metric: 'latency_p99', above: '2s' },
      { health: 'failed' },
    ],
  },
};

describe('trigger check', () => {
  const run = (rule: string, overrides: Record<string, unknown>) =>
    triggerCheck.run(triggerCheck.params.parse({ rule }), context(overrides));

  it('passes when rollback.triggers holds the seed rule or a stricter one', async () => {
    expect(await run('error_rate > 5% for 5m', seedTriggers)).toMatchObject({
      ok: true,
      summary: 'rollback.triggers has error_rate > 5% for 5m, no looser than error_rate > 5% for 5m',
    });
    expect((await run('latency_p99 > 2s', seedTriggers)).ok).toBe(true);
    expect((await run('health failed', seedTriggers)).ok).toBe(true);
    const stricter = { rollback: { triggers: [{ metric: 'error_rate', above: '1%', for: '30s' }] } };
    expect((await run('error_rate > 5% for 5m', stricter)).ok).toBe(true);
  });

  it('fails, saying what is there, when the trigger is missing or looser', async () => {
    const looser = { rollback: { triggers: [{ metric: 'error_rate', above: '10%', for: '5m' }] } };
    expect(await run('error_rate > 5% for 5m', looser)).toMatchObject({
      ok: false,
      summary:
        'rollback.triggers has no error_rate trigger as strict as error_rate > 5% for 5m (it has error_rate > 10% for 5m); add one, or drop this item with a reason',
    });
    expect((await run('health failed', {})).summary).toMatch(/lacks \{health: failed\}/);
    expect(
      (await run('latency_p99 > 2s', { rollback: { triggers: [{ metric: 'latency_p99', above: '3s' }] } }))
        .ok,
    ).toBe(false);
  });

  it('rejects a rule it cannot read', () => {
    expect(triggerCheck.params.safeParse({ rule: 'errors are bad' }).success).toBe(false);
  });
});

describe('rollout-step check', () => {
  const run = (weights: number[], steps: unknown[]) =>
    rolloutStepCheck.run(rolloutStepCheck.params.parse({ weights }), context({ strategy: { steps } }));

  it('passes when the strategy sets every weight (100% is implied)', async () => {
    expect(await run([10, 50, 100], [{ setWeight: 10 }, { pause: '1m' }, { setWeight: 50 }])).toMatchObject({
      ok: true,
      summary: 'the strategy goes 10% -> 50% -> 100%',
    });
  });

  it('fails naming the missing weight and the fix', async () => {
    expect((await run([10], [{ setWeight: 20 }, { setWeight: 50 }])).summary).toBe(
      'the strategy never sets 10% (it goes 20% -> 50% -> 100%); add {setWeight: 10} to strategy.steps, or drop this item with a reason',
    );
  });
});
