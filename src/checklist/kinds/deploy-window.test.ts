import { describe, expect, it } from 'vitest';
import { BuiltinMetricSource } from '../../providers/metrics/builtin/builtin-metric-source.js';
import { RequestMetrics } from '../../providers/metrics/builtin/request-metrics.js';
import { ManualClock } from '../../util/clock.js';
import { deployWindowCheck } from './deploy-window.js';
import { contextFor } from '../../../test/support/check-context.js';

/** 2024-01-01 was a Monday; `at(0, 14, 30)` is Monday 14:30 UTC. */
function at(dayOffset: number, hour: number, minute = 0): number {
  return Date.UTC(2024, 0, 1 + dayOffset, hour, minute);
}

async function runAt(epochMs: number, raw: Record<string, unknown>) {
  const params = deployWindowCheck.params.parse(raw);
  return deployWindowCheck.run(params, contextFor({ clock: new ManualClock(epochMs) }));
}

describe('deploy-window params', () => {
  it('fills in the time zone and rps window', () => {
    expect(deployWindowCheck.params.parse({ from: '22:00', to: '06:00' })).toEqual({
      from: '22:00',
      to: '06:00',
      timezone: 'UTC',
      rpsWindow: 60_000,
    });
  });

  it('needs a clock window or maxRps', () => {
    const empty = deployWindowCheck.params.safeParse({});
    expect(empty.success).toBe(false);
    expect(empty.error?.issues[0]?.message).toBe('give a clock window (days, from/to) or maxRps');
    expect(deployWindowCheck.params.safeParse({ timezone: 'Europe/Berlin' }).success).toBe(false);
    expect(deployWindowCheck.params.safeParse({ maxRps: 50 }).success).toBe(true);
    expect(deployWindowCheck.params.safeParse({ days: ['sat', 'sun'] }).success).toBe(true);
  });

  it('rejects bad times, days, zones and a half-open window', () => {
    expect(deployWindowCheck.params.safeParse({ from: '24:00', to: '06:00' }).success).toBe(false);
    expect(deployWindowCheck.params.safeParse({ from: '9:00', to: '17:00' }).success).toBe(false);
    expect(deployWindowCheck.params.safeParse({ from: '09:00' }).success).toBe(false);
    expect(deployWindowCheck.params.safeParse({ from: '09:00', to: '09:00' }).success).toBe(false);
    expect(deployWindowCheck.params.safeParse({ days: ['monday'] }).success).toBe(false);
    expect(deployWindowCheck.params.safeParse({ days: [] }).success).toBe(false);
    const zone = deployWindowCheck.params.safeParse({ days: ['mon'], timezone: 'Mars/Olympus' });
    expect(zone.error?.issues[0]?.message).toBe('expected an IANA time zone such as UTC or Europe/Berlin');
    expect(deployWindowCheck.params.safeParse({ maxRps: 0 }).success).toBe(false);
  });
});

describe('deploy-window check', () => {
  it('passes inside a daytime window on an allowed day', async () => {
    const result = await runAt(at(0, 14, 30), { days: ['mon', 'tue'], from: '09:00', to: '17:00' });
    expect(result).toMatchObject({
      ok: true,
      summary: 'Mon 14:30 UTC is inside the window mon,tue 09:00-17:00 UTC',
      data: { localTime: 'Mon 14:30', timezone: 'UTC', inWindow: true },
    });
  });

  it('fails outside the hours, and treats `to` as exclusive', async () => {
    const late = await runAt(at(0, 17, 0), { from: '09:00', to: '17:00' });
    expect(late).toMatchObject({
      ok: false,
      summary: 'Mon 17:00 UTC is outside the window every day 09:00-17:00 UTC',
    });
    expect((await runAt(at(0, 9, 0), { from: '09:00', to: '17:00' })).ok).toBe(true);
  });

  it('fails on a day not listed', async () => {
    const result = await runAt(at(5, 10), { days: ['mon', 'tue', 'wed', 'thu', 'fri'] });
    expect(result).toMatchObject({
      ok: false,
      summary: 'Sat 10:00 UTC is outside the window mon,tue,wed,thu,fri UTC',
    });
  });

  it('wraps past midnight, counting the small hours as the day the window opened', async () => {
    const night = { days: ['fri'], from: '22:00', to: '02:00' };
    expect((await runAt(at(4, 23, 0), night)).ok).toBe(true); // Friday 23:00
    expect((await runAt(at(5, 1, 59), night)).ok).toBe(true); // Saturday 01:59, opened Friday
    expect((await runAt(at(5, 2, 0), night)).ok).toBe(false); // Saturday 02:00, closed
    expect((await runAt(at(4, 1, 0), night)).ok).toBe(false); // Friday 01:00 belongs to Thursday
    expect((await runAt(at(5, 22, 0), night)).ok).toBe(false); // Saturday 22:00, not a listed day
    expect((await runAt(at(0, 12, 0), { from: '22:00', to: '02:00' })).ok).toBe(false);
  });

  it('reads the clock in the given time zone', async () => {
    // Monday 20:00 UTC is Tuesday 05:00 in Tokyo (UTC+9, no daylight saving).
    const tokyo = { days: ['tue'], from: '04:00', to: '06:00', timezone: 'Asia/Tokyo' };
    const result = await runAt(at(0, 20, 0), tokyo);
    expect(result).toMatchObject({
      ok: true,
      summary: 'Tue 05:00 Asia/Tokyo is inside the window tue 04:00-06:00 Asia/Tokyo',
    });
    // Half-hour offsets too: 20:00 UTC is 01:30 the next day in Kolkata (UTC+5:30).
    const kolkata = await runAt(at(0, 20, 0), { from: '01:00', to: '01:30', timezone: 'Asia/Kolkata' });
    expect(kolkata).toMatchObject({ ok: false, data: { localTime: 'Tue 01:30' } });
  });

  it("compares the stable version's rps with maxRps", async () => {
    const clock = new ManualClock(at(0, 3));
    const requests = new RequestMetrics({ clock });
    const context = contextFor({ clock, metrics: new BuiltinMetricSource(requests) });
    const params = deployWindowCheck.params.parse({ maxRps: 5, rpsWindow: '10s' });

    const idle = await deployWindowCheck.run(params, context);
    expect(idle).toMatchObject({ ok: true, value: 0, summary: 'stable v1 at 0 rps < max 5 rps over 10s' });

    // Ten seconds of 10 requests a second on stable (canary traffic does not count).
    for (let second = 0; second < 10; second++) {
      for (let i = 0; i < 10; i++) requests.record('v1', 200, 3);
      requests.record('v2', 200, 3);
      clock.advance(1000);
    }
    const busy = await deployWindowCheck.run(params, context);
    expect(busy).toMatchObject({
      ok: false,
      value: 10,
      summary: 'stable v1 at 10 rps >= max 5 rps over 10s',
    });
    expect(busy.data).toMatchObject({ version: 'v1', rps: 10, requests: 100, maxRps: 5 });
  });

  it('needs both the window and low traffic when both are given', async () => {
    const clock = new ManualClock(at(0, 23));
    const requests = new RequestMetrics({ clock });
    for (let i = 0; i < 600; i++) requests.record('v1', 200, 3);
    const context = contextFor({ clock, metrics: new BuiltinMetricSource(requests) });
    const params = deployWindowCheck.params.parse({ from: '22:00', to: '06:00', maxRps: 1 });
    const result = await deployWindowCheck.run(params, context);
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      'Mon 23:00 UTC is inside the window every day 22:00-06:00 UTC; stable v1 at 10 rps >= max 1 rps over 1m',
    );
  });
});
