import { describe, expect, it } from 'vitest';
import type { OnCallShift } from '../api/types.js';
import { addDays, calendarWeeks, localParts } from './oncall-calendar.js';

function shift(user: string, start: string, end: string, override = false): OnCallShift {
  return {
    user,
    start: Date.parse(start),
    end: Date.parse(end),
    layer: override ? null : 'days',
    override,
    overrideId: null,
  };
}

describe('on-call calendar', () => {
  it('reads local dates and times in the zone, across a date line and DST', () => {
    expect(localParts('Europe/Berlin', Date.parse('2026-12-07T23:30:00Z'))).toEqual({
      date: '2026-12-08',
      time: '00:30',
    });
    expect(localParts('America/New_York', Date.parse('2026-03-08T07:00:00Z'))).toEqual({
      date: '2026-03-08',
      time: '03:00',
    });
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
  });

  it('lays shifts out in Monday-first weeks, splitting those that run past midnight', () => {
    const weeks = calendarWeeks(
      'Europe/Berlin',
      Date.parse('2026-12-09T10:00:00Z'),
      Date.parse('2026-12-15T10:00:00Z'),
      [
        shift('ana', '2026-12-09T08:00:00Z', '2026-12-10T08:00:00Z'),
        shift('bo', '2026-12-10T08:00:00Z', '2026-12-10T23:00:00Z', true),
      ],
    );
    expect(weeks.map((w) => w.map((d) => d.date))).toEqual([
      ['2026-12-07', '2026-12-08', '2026-12-09', '2026-12-10', '2026-12-11', '2026-12-12', '2026-12-13'],
      ['2026-12-14', '2026-12-15', '2026-12-16', '2026-12-17', '2026-12-18', '2026-12-19', '2026-12-20'],
    ]);
    expect(weeks[0]![2]!.parts).toEqual([
      { user: 'ana', from: '09:00', to: '24:00', override: false, layer: 'days' },
    ]);
    expect(weeks[0]![3]!.parts).toEqual([
      { user: 'ana', from: '00:00', to: '09:00', override: false, layer: 'days' },
      { user: 'bo', from: '09:00', to: '24:00', override: true, layer: null },
    ]);
    expect(weeks[0]![4]!.parts).toEqual([]);
    expect(weeks.flat().map((d) => d.inRange)).toEqual([
      ...[false, false, true, true, true, true, true],
      ...[true, true, false, false, false, false, false],
    ]);
  });
});
