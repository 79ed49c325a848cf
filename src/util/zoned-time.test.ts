import { describe, expect, it } from 'vitest';
import {
  formatInZone,
  fromWall,
  isTimeZone,
  offsetAt,
  parseInstant,
  parseWall,
  toWall,
  weekdayOf,
} from './zoned-time.js';

const wall = (text: string): number => parseWall(text)!;
const iso = (ms: number): string => new Date(ms).toISOString();

describe('zoned time', () => {
  it('knows IANA zones and refuses made-up ones', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Europe/Atlantis')).toBe(false);
  });

  it('turns a local time into an instant and back, in winter and summer', () => {
    expect(iso(fromWall('Europe/Berlin', wall('2026-01-15T09:00')))).toBe('2026-01-15T08:00:00.000Z');
    expect(iso(fromWall('Europe/Berlin', wall('2026-07-15T09:00')))).toBe('2026-07-15T07:00:00.000Z');
    expect(iso(fromWall('America/New_York', wall('2026-01-15T09:00')))).toBe('2026-01-15T14:00:00.000Z');
    expect(iso(fromWall('America/New_York', wall('2026-07-15T09:00')))).toBe('2026-07-15T13:00:00.000Z');
    expect(toWall('Europe/Berlin', Date.parse('2026-07-15T07:00:00.000Z'))).toBe(wall('2026-07-15T09:00'));
    expect(offsetAt('Asia/Kolkata', Date.parse('2026-07-15T07:00:00Z'))).toBe(5.5 * 3_600_000);
  });

  it('moves a time in the spring gap forward by the gap (Berlin and New York)', () => {
    // Berlin: 02:00 CET jumps to 03:00 CEST on 2026-03-29.
    expect(iso(fromWall('Europe/Berlin', wall('2026-03-29T02:30')))).toBe('2026-03-29T01:30:00.000Z');
    expect(formatInZone('Europe/Berlin', fromWall('Europe/Berlin', wall('2026-03-29T02:30')))).toBe(
      '2026-03-29T03:30:00+02:00',
    );
    expect(iso(fromWall('Europe/Berlin', wall('2026-03-29T01:59')))).toBe('2026-03-29T00:59:00.000Z');
    expect(iso(fromWall('Europe/Berlin', wall('2026-03-29T03:00')))).toBe('2026-03-29T01:00:00.000Z');
    // New York: 02:00 EST jumps to 03:00 EDT on 2026-03-08.
    expect(iso(fromWall('America/New_York', wall('2026-03-08T02:15')))).toBe('2026-03-08T07:15:00.000Z');
    expect(iso(fromWall('America/New_York', wall('2026-03-08T03:00')))).toBe('2026-03-08T07:00:00.000Z');
  });

  it('takes the first of a time that happens twice in autumn (Berlin and New York)', () => {
    // Berlin: 03:00 CEST falls back to 02:00 CET on 2026-10-25; 02:30 happens at 00:30Z and 01:30Z.
    expect(iso(fromWall('Europe/Berlin', wall('2026-10-25T02:30')))).toBe('2026-10-25T00:30:00.000Z');
    expect(toWall('Europe/Berlin', Date.parse('2026-10-25T01:30:00Z'))).toBe(wall('2026-10-25T02:30'));
    expect(iso(fromWall('Europe/Berlin', wall('2026-10-25T03:00')))).toBe('2026-10-25T02:00:00.000Z');
    // New York: 02:00 EDT falls back to 01:00 EST on 2026-11-01; 01:30 happens at 05:30Z and 06:30Z.
    expect(iso(fromWall('America/New_York', wall('2026-11-01T01:30')))).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(fromWall('America/New_York', wall('2026-11-01T02:00')))).toBe('2026-11-01T07:00:00.000Z');
  });

  it('round-trips every hour of a year in both zones', () => {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe']) {
      for (
        let t = Date.parse('2026-01-01T00:00:00Z');
        t < Date.parse('2027-01-01T00:00:00Z');
        t += 3_600_000
      ) {
        const local = toWall(zone, t);
        const back = fromWall(zone, local);
        // Ambiguous times map to their first occurrence, which is never later.
        expect(back <= t && toWall(zone, back) === local).toBe(true);
      }
    }
  });

  it('parses local date-times, instants with offsets, and refuses nonsense', () => {
    expect(parseWall('2026-02-30T09:00')).toBeUndefined();
    expect(parseWall('2026-02-03T25:00')).toBeUndefined();
    expect(parseWall('2026-02-03')).toBe(Date.UTC(2026, 1, 3));
    expect(weekdayOf(wall('2026-12-07T10:00'))).toBe(0); // a Monday
    expect(iso(parseInstant('2026-07-01T09:00', 'Europe/Berlin')!)).toBe('2026-07-01T07:00:00.000Z');
    expect(iso(parseInstant('2026-07-01T09:00:00Z', 'Europe/Berlin')!)).toBe('2026-07-01T09:00:00.000Z');
    expect(iso(parseInstant('2026-07-01T09:00-04:00', 'Europe/Berlin')!)).toBe('2026-07-01T13:00:00.000Z');
    expect(parseInstant('yesterday', 'UTC')).toBeUndefined();
  });
});
