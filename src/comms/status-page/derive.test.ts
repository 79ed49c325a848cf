import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../util/clock.js';
import {
  type UnitHealth,
  dayOf,
  derivedStatus,
  effectiveStatus,
  isoWithOffset,
  knowsAny,
  pageStatus,
  startOfDay,
  unitMatches,
  unitStatus,
  uptimeBar,
} from './derive.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function unit(stable: string[], extra: Partial<UnitHealth> = {}): UnitHealth {
  return { unit: 'web', stable, canary: [], release: null, ...extra };
}

describe('a unit status from its instances and release', () => {
  it('is operational when every stable instance is ready, or nothing is known', () => {
    expect(unitStatus(unit(['ready', 'ready']))).toBe('operational');
    expect(unitStatus(unit([]))).toBe('operational');
    expect(unitStatus(unit(['ready', 'starting']))).toBe('operational');
  });

  it('is a major outage when every stable instance is down, a partial one when some are', () => {
    expect(unitStatus(unit(['exited', 'unhealthy']))).toBe('major_outage');
    expect(unitStatus(unit(['exited', 'starting']))).toBe('major_outage');
    expect(unitStatus(unit(['ready', 'unhealthy', 'ready']))).toBe('partial_outage');
  });

  it('is degraded while a release rolls back, its canary is unhealthy or a trigger fails', () => {
    expect(unitStatus(unit(['ready'], { release: { phase: 'rolling-back', state: 'progressing' } }))).toBe(
      'degraded_performance',
    );
    expect(
      unitStatus(
        unit(['ready'], { canary: ['unhealthy'], release: { phase: 'canary', state: 'progressing' } }),
      ),
    ).toBe('degraded_performance');
    expect(
      unitStatus(
        unit(['ready'], { failingTrigger: true, release: { phase: 'canary', state: 'progressing' } }),
      ),
    ).toBe('degraded_performance');
    expect(unitStatus(unit(['ready'], { release: { phase: 'canary', state: 'progressing' } }))).toBe(
      'operational',
    );
    // An outage outranks the release.
    expect(unitStatus(unit(['exited'], { release: { phase: 'rolling-back', state: 'progressing' } }))).toBe(
      'major_outage',
    );
  });

  it('takes the worst of a component units, and maintenance over all', () => {
    const units = [
      unit(['ready']),
      unit(['ready', 'exited']),
      unit([], { release: { phase: 'rolling-back', state: 'progressing' } }),
    ];
    expect(derivedStatus(units, false)).toBe('partial_outage');
    expect(derivedStatus(units, true)).toBe('under_maintenance');
    expect(derivedStatus([], false)).toBe('operational');
  });

  it('keeps the recorded status for units another replica drives, and uses the ones it knows', () => {
    const elsewhere = (u: UnitHealth): UnitHealth => ({ ...u, stable: [], known: false });
    expect(derivedStatus([elsewhere(unit(['ready']))], false, 'partial_outage')).toBe('partial_outage');
    expect(derivedStatus([elsewhere(unit(['ready']))], false, undefined)).toBe('operational');
    expect(derivedStatus([elsewhere(unit(['ready']))], false, 'under_maintenance')).toBe('operational');
    expect(derivedStatus([elsewhere(unit(['ready']))], true, 'partial_outage')).toBe('under_maintenance');
    // One known unit is enough to derive from, without latching on to what was recorded.
    expect(derivedStatus([elsewhere(unit([])), unit(['ready'])], false, 'major_outage')).toBe('operational');
    expect(knowsAny([elsewhere(unit([]))])).toBe(false);
    expect(knowsAny([elsewhere(unit([])), unit(['ready'])])).toBe(true);
    expect(knowsAny([])).toBe(true);
  });

  it('matches a service reference to its environments', () => {
    expect(unitMatches('web', 'web')).toBe(true);
    expect(unitMatches('web', 'web@production')).toBe(true);
    expect(unitMatches('web@production', 'web@staging')).toBe(false);
    expect(unitMatches('web', 'webshop')).toBe(false);
  });
});

describe('an override', () => {
  it('holds until its end, then the derived status shows again', () => {
    const clock = new ManualClock(1_000);
    const override = { status: 'major_outage' as const, until: 2_000 };
    expect(effectiveStatus('operational', override, clock.now())).toBe('major_outage');
    clock.set(2_000);
    expect(effectiveStatus('operational', override, clock.now())).toBe('operational');
    expect(effectiveStatus('partial_outage', { status: 'operational', until: null }, clock.now())).toBe(
      'operational',
    );
    expect(effectiveStatus('partial_outage', undefined, clock.now())).toBe('partial_outage');
  });
});

describe('the page rollup', () => {
  it('speaks Statuspage words', () => {
    expect(pageStatus(['operational'], [])).toEqual({
      indicator: 'none',
      description: 'All Systems Operational',
    });
    expect(pageStatus(['operational', 'under_maintenance'], [])).toEqual({
      indicator: 'none',
      description: 'Service Under Maintenance',
    });
    expect(pageStatus(['degraded_performance'], [])).toEqual({
      indicator: 'minor',
      description: 'Partially Degraded Service',
    });
    expect(pageStatus(['operational'], ['minor'])).toEqual({
      indicator: 'minor',
      description: 'Minor Service Outage',
    });
    expect(pageStatus(['partial_outage'], ['minor'])).toEqual({
      indicator: 'major',
      description: 'Partial System Outage',
    });
    expect(pageStatus(['operational', 'major_outage'], [])).toEqual({
      indicator: 'critical',
      description: 'Major Service Outage',
    });
    expect(pageStatus(['operational'], ['critical']).indicator).toBe('critical');
  });
});

describe('the uptime bar', () => {
  // 2026-03-10T00:00:00Z
  const midnight = Date.UTC(2026, 2, 10);

  it('has no data before the component existed, and counts today up to now', () => {
    const clock = new ManualClock(midnight + 12 * HOUR);
    const bar = uptimeBar(
      [{ status: 'operational', from: midnight - DAY + 6 * HOUR }],
      clock.now(),
      'Etc/UTC',
      5,
    );
    expect(bar.map((d) => d.date)).toEqual([
      '2026-03-06',
      '2026-03-07',
      '2026-03-08',
      '2026-03-09',
      '2026-03-10',
    ]);
    expect(bar.slice(0, 3).map((d) => [d.worst, d.uptime])).toEqual([
      [null, null],
      [null, null],
      [null, null],
    ]);
    expect(bar[3]).toMatchObject({ worst: 'operational', uptime: 1 });
    expect(bar[4]).toMatchObject({ worst: 'operational', uptime: 1 });
  });

  it('takes the worst status of a day and the share of its time up', () => {
    const clock = new ManualClock(midnight + DAY + HOUR);
    const transitions = [
      { status: 'operational' as const, from: midnight - 10 * DAY },
      // 6 hours of partial outage, 2 of it the day before
      { status: 'partial_outage' as const, from: midnight - 2 * HOUR },
      { status: 'operational' as const, from: midnight + 4 * HOUR },
      // an hour of maintenance counts as up
      { status: 'under_maintenance' as const, from: midnight + 10 * HOUR },
      { status: 'operational' as const, from: midnight + 11 * HOUR },
      // 30 minutes of major outage just before midnight
      { status: 'major_outage' as const, from: midnight + DAY - HOUR / 2 },
      { status: 'operational' as const, from: midnight + DAY },
    ];
    // Any order in.
    const bar = uptimeBar([...transitions].reverse(), clock.now(), 'Etc/UTC', 3);
    const [before, day, today] = bar;
    expect(before).toMatchObject({ date: '2026-03-09', worst: 'partial_outage' });
    expect(before?.uptime).toBeCloseTo(22 / 24, 10);
    expect(day).toMatchObject({ date: '2026-03-10', worst: 'major_outage' });
    expect(day?.uptime).toBeCloseTo((24 - 4 - 0.5) / 24, 10);
    expect(today).toMatchObject({ date: '2026-03-11', worst: 'operational', uptime: 1 });
  });

  it('cuts days in the page time zone, across a change of daylight saving time', () => {
    // Europe/Paris goes to summer time on 2026-03-29: that day has 23 hours.
    const start = startOfDay('2026-03-29', 'Europe/Paris');
    expect(new Date(start).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(startOfDay('2026-03-30', 'Europe/Paris') - start).toBe(23 * HOUR);
    expect(dayOf(Date.UTC(2026, 2, 28, 23, 30), 'Europe/Paris')).toBe('2026-03-29');
    const clock = new ManualClock(Date.UTC(2026, 2, 30, 12));
    const bar = uptimeBar(
      [
        { status: 'operational', from: Date.UTC(2026, 0, 1) },
        { status: 'major_outage', from: Date.UTC(2026, 2, 29, 10) },
        { status: 'operational', from: Date.UTC(2026, 2, 29, 12, 18) },
      ],
      clock.now(),
      'Europe/Paris',
      2,
    );
    expect(bar[0]?.date).toBe('2026-03-29');
    expect(bar[0]?.uptime).toBeCloseTo(1 - 2.3 / 23, 10);
  });

  it('writes times with the page offset', () => {
    expect(isoWithOffset(Date.UTC(2026, 4, 14, 20, 22, 39, 441), 'America/Denver')).toBe(
      '2026-05-14T14:22:39.441-06:00',
    );
    expect(isoWithOffset(Date.UTC(2026, 0, 1), 'Etc/UTC')).toBe('2026-01-01T00:00:00.000+00:00');
  });
});
