import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/clock.js';
import { AutoscaleDecider, type ScalingPolicy, recommend } from './autoscale-decision.js';

const MINUTE = 60_000;
const rpsPolicy: ScalingPolicy = { min: 2, max: 10, target: { rpsPerInstance: 50 }, cooldownMs: MINUTE };
const cpuPolicy: ScalingPolicy = { min: 1, max: 4, target: { cpuPercent: 60 }, cooldownMs: MINUTE };

describe('recommend', () => {
  it('asks for ceil(current * observed / target), clamped to min and max', () => {
    // 4 instances taking 300 rps is 75 each against 50: 4 * 1.5 = 6
    expect(recommend(rpsPolicy, { rps: 300, cpuPercent: undefined, current: 4 })?.recommended).toBe(6);
    // 4 instances at 101 rps each: 4 * 2.02 = 8.08 -> 9
    expect(recommend(rpsPolicy, { rps: 404, cpuPercent: undefined, current: 4 })?.recommended).toBe(9);
    expect(recommend(rpsPolicy, { rps: 5000, cpuPercent: undefined, current: 4 })?.recommended).toBe(10);
    expect(recommend(rpsPolicy, { rps: 10, cpuPercent: undefined, current: 4 })?.recommended).toBe(2);
    expect(recommend(cpuPolicy, { rps: 0, cpuPercent: 150, current: 2 })?.recommended).toBe(4);
    expect(recommend(cpuPolicy, { rps: 0, cpuPercent: 20, current: 3 })?.recommended).toBe(1);
  });

  it('keeps the count within the 10% tolerance band', () => {
    expect(recommend(rpsPolicy, { rps: 4 * 54, cpuPercent: undefined, current: 4 })?.recommended).toBe(4);
    expect(recommend(rpsPolicy, { rps: 4 * 46, cpuPercent: undefined, current: 4 })?.recommended).toBe(4);
    expect(recommend(rpsPolicy, { rps: 4 * 56, cpuPercent: undefined, current: 4 })?.recommended).toBe(5);
    expect(recommend(rpsPolicy, { rps: 4 * 44, cpuPercent: undefined, current: 4 })?.recommended).toBe(4);
    expect(recommend(cpuPolicy, { rps: 0, cpuPercent: 65, current: 2 })?.recommended).toBe(2);
  });

  it('has nothing to say without traffic and without a CPU reading', () => {
    expect(recommend(rpsPolicy, { rps: 0, cpuPercent: undefined, current: 4 })).toBeUndefined();
    expect(recommend(rpsPolicy, { rps: undefined, cpuPercent: undefined, current: 4 })).toBeUndefined();
    expect(recommend(cpuPolicy, { rps: 30, cpuPercent: undefined, current: 2 })).toBeUndefined();
    // Idle with a CPU reading is data: the load is low.
    expect(recommend(rpsPolicy, { rps: 0, cpuPercent: 1, current: 4 })?.recommended).toBe(2);
  });
});

describe('AutoscaleDecider', () => {
  it('scales up at once, then holds further ups for the cooldown after the last scaling', () => {
    const clock = new ManualClock();
    const decider = new AutoscaleDecider(rpsPolicy, clock.now());
    const up = decider.decide({ rps: 300, cpuPercent: undefined, current: 4 }, clock.now(), undefined);
    expect(up).toMatchObject({ action: 'scale', reason: 'scale-up', desired: 6, current: 4, rps: 300 });
    const scaledAt = clock.now();
    clock.advance(20_000);
    const held = decider.decide({ rps: 600, cpuPercent: undefined, current: 6 }, clock.now(), scaledAt);
    expect(held).toMatchObject({ action: 'hold', reason: 'cooldown', desired: 6, recommended: 10 });
    clock.advance(40_000);
    const again = decider.decide({ rps: 600, cpuPercent: undefined, current: 6 }, clock.now(), scaledAt);
    expect(again).toMatchObject({ action: 'scale', reason: 'scale-up', desired: 10 });
  });

  it('scales down only after the cooldown, to the highest recommendation of the window', () => {
    const clock = new ManualClock();
    const decider = new AutoscaleDecider(rpsPolicy, clock.now());
    const scaledAt = clock.now();
    // 8 instances: the load falls from asking 6 to asking 3, over the window
    const loads = [300, 250, 150, 150];
    for (const rps of loads) {
      const d = decider.decide({ rps, cpuPercent: undefined, current: 8 }, clock.now(), scaledAt);
      expect(d.action, `at ${rps} rps`).toBe('hold');
      expect(d.reason).toBe('cooldown');
      clock.advance(15_000);
    }
    // A minute after the last scaling: the window still holds the ask for 5 (250 rps at 15 s)
    const down = decider.decide({ rps: 150, cpuPercent: undefined, current: 8 }, clock.now(), scaledAt);
    expect(down).toMatchObject({ action: 'scale', reason: 'scale-down', desired: 5, recommended: 3 });
  });

  it('does not scale down before it has watched a full window, even long after the last scaling', () => {
    const clock = new ManualClock();
    const decider = new AutoscaleDecider(rpsPolicy, clock.now());
    const d = decider.decide(
      { rps: 10, cpuPercent: undefined, current: 6 },
      clock.now(),
      clock.now() - 3_600_000,
    );
    expect(d).toMatchObject({ action: 'hold', reason: 'stabilizing', recommended: 2 });
    clock.advance(MINUTE);
    const down = decider.decide({ rps: 10, cpuPercent: undefined, current: 6 }, clock.now(), undefined);
    expect(down).toMatchObject({ action: 'scale', desired: 2 });
  });

  it('does not flap: a short spike in the window keeps the count up', () => {
    const clock = new ManualClock();
    const decider = new AutoscaleDecider(rpsPolicy, clock.now());
    clock.advance(2 * MINUTE);
    decider.decide({ rps: 500, cpuPercent: undefined, current: 10 }, clock.now(), undefined);
    clock.advance(30_000);
    const d = decider.decide({ rps: 100, cpuPercent: undefined, current: 10 }, clock.now(), undefined);
    expect(d).toMatchObject({ action: 'hold', reason: 'stabilizing', recommended: 2 });
    clock.advance(31_000);
    // The spike left the window: down to what the last minute asked for at most
    const down = decider.decide({ rps: 100, cpuPercent: undefined, current: 10 }, clock.now(), undefined);
    expect(down).toMatchObject({ action: 'scale', desired: 2 });
  });

  it('holds within tolerance and at its bounds, and holds without data', () => {
    const clock = new ManualClock();
    const decider = new AutoscaleDecider(rpsPolicy, clock.now());
    expect(
      decider.decide({ rps: 210, cpuPercent: undefined, current: 4 }, clock.now(), undefined),
    ).toMatchObject({
      action: 'hold',
      reason: 'within-tolerance',
    });
    expect(
      decider.decide({ rps: 9999, cpuPercent: undefined, current: 10 }, clock.now(), undefined),
    ).toMatchObject({
      action: 'hold',
      reason: 'at-bound',
      recommended: 10,
    });
    expect(
      decider.decide({ rps: 0, cpuPercent: undefined, current: 4 }, clock.now(), undefined),
    ).toMatchObject({
      action: 'hold',
      reason: 'no-data',
      desired: 4,
    });
  });

  it('brings a count outside the bounds back within them', () => {
    const clock = new ManualClock();
    const decider = new AutoscaleDecider(rpsPolicy, clock.now());
    expect(
      decider.decide({ rps: 50, cpuPercent: undefined, current: 1 }, clock.now(), undefined),
    ).toMatchObject({
      action: 'scale',
      desired: 2,
    });
  });
});
