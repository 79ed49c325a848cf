import { describe, expect, it } from 'vitest';
import type { EscalationPolicy } from '../types.js';
import { resolveTargets } from './escalation.js';
import { onCallAt, shifts } from './schedule.js';
import type { Layer, Schedule, Shift } from './types.js';
import { formatInZone, parseWall } from '../../util/zoned-time.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (text: string): number => Date.parse(text);

function layer(partial: Partial<Omit<Layer, 'start'>> & { start: string }): Layer {
  return {
    name: 'main',
    users: ['ana', 'bo', 'cy'],
    turn: { kind: 'days', days: 1 },
    handoff: null,
    restrict: null,
    ...partial,
    start: parseWall(partial.start)!,
  };
}

function schedule(
  layers: Layer[],
  timeZone = 'Europe/Berlin',
  overrides: Schedule['overrides'] = [],
): Schedule {
  return { name: 'primary', timeZone, layers, overrides };
}

/** Shifts as `user start..end` in the schedule's zone, easy to read in a failing test. */
function show(s: Schedule, list: Shift[]): string[] {
  return list.map(
    (x) =>
      `${x.user} ${formatInZone(s.timeZone, x.start)}..${formatInZone(s.timeZone, x.end)}${x.override ? ' (override)' : ''}`,
  );
}

describe('rotations', () => {
  it('hands over hourly in turn order, and nobody is on call before the start', () => {
    const s = schedule([layer({ start: '2026-06-01T00:00', turn: { kind: 'elapsed', ms: HOUR } })], 'UTC');
    expect(onCallAt(s, at('2026-06-01T00:30Z')).users).toEqual(['ana']);
    expect(onCallAt(s, at('2026-06-01T01:00Z')).users).toEqual(['bo']);
    expect(onCallAt(s, at('2026-06-01T05:59Z')).users).toEqual(['cy']);
    const before = onCallAt(s, at('2026-05-31T23:00Z'));
    expect(before.users).toEqual([]);
    expect(before.end).toBe(at('2026-06-01T00:00Z'));
  });

  it('runs a custom 12h turn on elapsed time, and a 3d turn on local days', () => {
    const twelve = schedule(
      [layer({ start: '2026-06-01T08:00', turn: { kind: 'elapsed', ms: 12 * HOUR } })],
      'UTC',
    );
    expect(onCallAt(twelve, at('2026-06-01T20:00Z')).users).toEqual(['bo']);
    expect(onCallAt(twelve, at('2026-06-02T08:00Z')).users).toEqual(['cy']);
    const three = schedule([layer({ start: '2026-06-01T09:00', turn: { kind: 'days', days: 3 } })]);
    const now = onCallAt(three, at('2026-06-05T12:00Z'));
    expect(now.users).toEqual(['bo']);
    expect(formatInZone('Europe/Berlin', now.start!)).toBe('2026-06-04T09:00:00+02:00');
    expect(formatInZone('Europe/Berlin', now.end!)).toBe('2026-06-07T09:00:00+02:00');
  });

  it('hands a daily turn over at the hand-off time, the first turn running from the start to it', () => {
    const s = schedule([layer({ start: '2026-06-01T14:00', handoff: { weekday: null, minute: 9 * 60 } })]);
    expect(show(s, shifts(s, at('2026-06-01T00:00Z'), at('2026-06-04T00:00Z')))).toEqual([
      'ana 2026-06-01T14:00:00+02:00..2026-06-02T09:00:00+02:00',
      'bo 2026-06-02T09:00:00+02:00..2026-06-03T09:00:00+02:00',
      'cy 2026-06-03T09:00:00+02:00..2026-06-04T02:00:00+02:00',
    ]);
  });

  it('hands a weekly turn over on the hand-off weekday', () => {
    const s = schedule([
      layer({
        start: '2026-06-03T12:00',
        turn: { kind: 'days', days: 7 },
        handoff: { weekday: 0, minute: 9 * 60 },
      }),
    ]);
    // 2026-06-08 is a Monday.
    expect(show(s, shifts(s, at('2026-06-03T00:00Z'), at('2026-06-20T00:00Z')))).toEqual([
      'ana 2026-06-03T12:00:00+02:00..2026-06-08T09:00:00+02:00',
      'bo 2026-06-08T09:00:00+02:00..2026-06-15T09:00:00+02:00',
      'cy 2026-06-15T09:00:00+02:00..2026-06-20T02:00:00+02:00',
    ]);
  });

  it('keeps one person as one shift when the layer has one user', () => {
    const s = schedule([layer({ start: '2026-06-01T00:00', users: ['solo'] })], 'UTC');
    expect(shifts(s, at('2026-06-01T00:00Z'), at('2026-06-05T00:00Z'))).toHaveLength(1);
  });
});

describe('daylight saving', () => {
  it('keeps a 09:00 hand-off at 09:00 local across both Berlin changes; the short night is 23h, the long 25h', () => {
    const s = schedule([layer({ start: '2026-03-27T09:00' })]);
    const spring = shifts(s, at('2026-03-27T08:00Z'), at('2026-03-31T07:00Z'));
    expect(show(s, spring)).toEqual([
      'ana 2026-03-27T09:00:00+01:00..2026-03-28T09:00:00+01:00',
      'bo 2026-03-28T09:00:00+01:00..2026-03-29T09:00:00+02:00',
      'cy 2026-03-29T09:00:00+02:00..2026-03-30T09:00:00+02:00',
      'ana 2026-03-30T09:00:00+02:00..2026-03-31T09:00:00+02:00',
    ]);
    expect(spring[1]!.end - spring[1]!.start).toBe(23 * HOUR);
    const a = schedule([layer({ start: '2026-10-23T09:00' })]);
    const autumn = shifts(a, at('2026-10-24T07:00Z'), at('2026-10-25T08:00Z'));
    expect(autumn[0]!.end - autumn[0]!.start).toBe(25 * HOUR);
    expect(show(a, autumn)[0]).toBe('bo 2026-10-24T09:00:00+02:00..2026-10-25T09:00:00+01:00');
  });

  it('does the same in New York, spring and autumn', () => {
    const s = schedule([layer({ start: '2026-03-07T09:00' })], 'America/New_York');
    const spring = shifts(s, at('2026-03-07T14:00Z'), at('2026-03-09T13:00Z'));
    expect(show(s, spring)).toEqual([
      'ana 2026-03-07T09:00:00-05:00..2026-03-08T09:00:00-04:00',
      'bo 2026-03-08T09:00:00-04:00..2026-03-09T09:00:00-04:00',
    ]);
    expect(spring[0]!.end - spring[0]!.start).toBe(23 * HOUR);
    const a = schedule([layer({ start: '2026-10-31T09:00' })], 'America/New_York');
    const autumn = shifts(a, at('2026-10-31T13:00Z'), at('2026-11-01T14:00Z'));
    expect(autumn[0]!.end - autumn[0]!.start).toBe(25 * HOUR);
  });

  it('keeps restriction windows on local time across the change', () => {
    const s = schedule([
      layer({
        start: '2026-03-23T00:00',
        users: ['ana'],
        restrict: [{ days: [0, 1, 2, 3, 4, 5, 6], from: 9 * 60, to: 17 * 60 }],
      }),
    ]);
    expect(show(s, shifts(s, at('2026-03-28T00:00Z'), at('2026-03-30T00:00Z')))).toEqual([
      'ana 2026-03-28T09:00:00+01:00..2026-03-28T17:00:00+01:00',
      'ana 2026-03-29T09:00:00+02:00..2026-03-29T17:00:00+02:00',
    ]);
  });

  it('hands hourly turns over every elapsed hour through the autumn repeat', () => {
    const s = schedule([layer({ start: '2026-10-25T00:00', turn: { kind: 'elapsed', ms: HOUR } })]);
    const list = shifts(s, at('2026-10-24T22:00Z'), at('2026-10-25T03:00Z'));
    expect(list.map((x) => x.user)).toEqual(['ana', 'bo', 'cy', 'ana', 'bo']);
    expect(list.every((x) => x.end - x.start === HOUR)).toBe(true);
  });
});

describe('restrictions, layers, gaps and overrides', () => {
  const weekdays = layer({
    name: 'weekdays',
    start: '2026-06-01T09:00',
    users: ['ana', 'bo'],
    turn: { kind: 'days', days: 7 },
    restrict: [{ days: [0, 1, 2, 3, 4], from: 9 * 60, to: 17 * 60 }],
  });
  const nights = layer({
    name: 'nights',
    start: '2026-06-01T17:00',
    users: ['cy', 'di'],
    restrict: [{ days: [0, 1, 2, 3, 4], from: 17 * 60, to: 9 * 60 }],
  });

  it('puts each layer on duty in its windows, a window past midnight included, and leaves gaps empty', () => {
    const s = schedule([weekdays, nights]);
    expect(onCallAt(s, at('2026-06-02T10:00Z')).shifts[0]).toMatchObject({ user: 'ana', layer: 'weekdays' });
    expect(onCallAt(s, at('2026-06-02T22:00Z')).users).toEqual(['di']);
    // Friday 17:00 runs to Saturday 09:00; the weekend after that has nobody.
    expect(onCallAt(s, at('2026-06-06T06:00Z')).users).toHaveLength(1);
    const gap = onCallAt(s, at('2026-06-06T12:00Z'));
    expect(gap.users).toEqual([]);
    expect(formatInZone('Europe/Berlin', gap.start!)).toBe('2026-06-06T09:00:00+02:00');
    expect(formatInZone('Europe/Berlin', gap.end!)).toBe('2026-06-08T09:00:00+02:00');
    expect(show(s, shifts(s, at('2026-06-01T00:00Z'), at('2026-06-02T12:00Z')))).toEqual([
      'ana 2026-06-01T09:00:00+02:00..2026-06-01T17:00:00+02:00',
      'cy 2026-06-01T17:00:00+02:00..2026-06-02T09:00:00+02:00',
      'ana 2026-06-02T09:00:00+02:00..2026-06-02T14:00:00+02:00',
    ]);
  });

  it('lets an override win over the layers while it lasts', () => {
    const s = schedule([weekdays, nights], 'Europe/Berlin', [
      { user: 'eve', from: at('2026-06-01T13:00Z'), to: at('2026-06-01T17:00Z') },
    ]);
    const stored = [{ user: 'fay', from: at('2026-06-02T08:00Z'), to: at('2026-06-02T09:00Z'), id: 7 }];
    expect(show(s, shifts(s, at('2026-06-01T00:00Z'), at('2026-06-02T12:00Z'), stored))).toEqual([
      'ana 2026-06-01T09:00:00+02:00..2026-06-01T15:00:00+02:00',
      'eve 2026-06-01T15:00:00+02:00..2026-06-01T19:00:00+02:00 (override)',
      'cy 2026-06-01T19:00:00+02:00..2026-06-02T09:00:00+02:00',
      'ana 2026-06-02T09:00:00+02:00..2026-06-02T10:00:00+02:00',
      'fay 2026-06-02T10:00:00+02:00..2026-06-02T11:00:00+02:00 (override)',
      'ana 2026-06-02T11:00:00+02:00..2026-06-02T14:00:00+02:00',
    ]);
    const now = onCallAt(s, at('2026-06-02T08:30Z'), stored);
    expect(now.users).toEqual(['fay']);
    expect(now.shifts[0]).toMatchObject({ overrideId: 7, override: true, layer: null });
    expect(now.end).toBe(at('2026-06-02T09:00Z'));
    // An override in a gap fills it.
    const weekend = [{ user: 'gus', from: at('2026-06-06T10:00Z'), to: at('2026-06-06T12:00Z') }];
    expect(onCallAt(s, at('2026-06-06T11:00Z'), weekend).users).toEqual(['gus']);
  });

  it('reports the people of two overlapping layers both (the config refuses that, the resolver does not crash)', () => {
    const s = schedule(
      [
        layer({ name: 'a', start: '2026-06-01T00:00', users: ['ana'] }),
        layer({ name: 'b', start: '2026-06-01T00:00', users: ['bo'] }),
      ],
      'UTC',
    );
    expect(onCallAt(s, at('2026-06-02T00:00Z')).users).toEqual(['ana', 'bo']);
  });

  it('computes a 90-day calendar of a busy schedule quickly enough', () => {
    const s = schedule([
      weekdays,
      nights,
      layer({
        name: 'weekend',
        start: '2026-06-06T09:00',
        restrict: [
          { days: [5], from: 9 * 60, to: 1440 },
          { days: [6], from: 0, to: 1440 },
          { days: [0], from: 0, to: 9 * 60 },
        ],
        turn: { kind: 'elapsed', ms: 4 * HOUR },
      }),
    ]);
    const list = shifts(s, at('2026-06-01T00:00Z'), at('2026-06-01T00:00Z') + 90 * DAY);
    expect(list.length).toBeGreaterThan(200);
    for (let i = 1; i < list.length; i++) expect(list[i]!.start).toBeGreaterThanOrEqual(list[i - 1]!.end);
  });
});

describe('resolveTargets', () => {
  const s = schedule([layer({ start: '2026-06-01T09:00' })]);
  const policy: EscalationPolicy = {
    name: 'default',
    repeat: 1,
    ackTimeoutMs: 30 * 60_000,
    steps: [
      { delayMs: 5 * 60_000, targets: [{ schedule: 'primary' }, { channel: 'ops-slack' }] },
      {
        delayMs: 10 * 60_000,
        targets: [{ user: 'lead' }, { schedule: 'primary' }, { user: 'bo' }, { schedule: 'gone' }],
      },
    ],
  };

  it('resolves schedules to whoever is on call at the time, users and channels as they are', () => {
    const first = resolveTargets(policy, 0, at('2026-06-02T10:00Z'), { schedules: [s] });
    expect(first).toMatchObject({ step: 0, users: ['bo'], channels: ['ops-slack'], delayMs: 300_000 });
    const second = resolveTargets(policy, 1, at('2026-06-01T10:00Z'), { schedules: [s] });
    expect(second.users).toEqual(['lead', 'ana', 'bo']);
    expect(second.unknownSchedules).toEqual(['gone']);
    expect(second.targets[1]).toEqual({ schedule: 'primary', users: ['ana'], known: true });
  });

  it('counts stored overrides, wraps past the last step, and resolves a gap to nobody', () => {
    const overrides = {
      primary: [{ user: 'eve', from: at('2026-06-02T00:00Z'), to: at('2026-06-03T00:00Z'), id: 1 }],
    };
    expect(resolveTargets(policy, 2, at('2026-06-02T10:00Z'), { schedules: [s], overrides }).users).toEqual([
      'eve',
    ]);
    expect(resolveTargets(policy, 0, at('2026-05-01T10:00Z'), { schedules: [s] }).users).toEqual([]);
  });
});
