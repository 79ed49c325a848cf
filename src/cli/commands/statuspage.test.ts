import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, start, stop } from '../../../test/support/status-page.js';
import { main } from '../main.js';
import { parseWhen } from './statuspage.js';

/** Runs the CLI in this process against the harness's server; its exit code and output. */
async function cli(h: Harness, ...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'shipcheck', ...args, '--url', h.base], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    isTTY: false,
  });
  return { code, out, err };
}

describe('shipcheck statuspage', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await start();
  });
  afterEach(async () => stop(h));

  it('lists components, overrides one until a time, and clears it', async () => {
    h.units[0] = { unit: 'web', stable: ['ready', 'exited'], canary: [], release: null };
    let result = await cli(h, 'statuspage', 'components');
    expect(result.code).toBe(0);
    expect(result.out[0]).toMatch(/^ID\s+COMPONENT\s+STATUS\s+DERIVED\s+OVERRIDE\s+UNITS$/);
    expect(result.out[1]).toMatch(/API\s+partial_outage\s+partial_outage\s+-\s+web$/);

    const until = new Date(h.clock.now() + 3_600_000).toISOString();
    result = await cli(
      h,
      'statuspage',
      'set',
      'API',
      'major_outage',
      '--until',
      until,
      '--reason',
      'checking',
    );
    expect(result.code).toBe(0);
    expect(result.out).toEqual([
      `API is major_outage (set by anonymous until ${until.slice(0, 16).replace('T', ' ')}Z; derived: partial_outage)`,
    ]);
    result = await cli(h, 'statuspage', 'clear', 'api');
    expect(result.out).toEqual(['API is partial_outage']);

    result = await cli(h, 'statuspage', 'set', 'API', 'broken');
    expect(result.code).not.toBe(0);
    expect(result.err.join('\n')).toContain('status "broken" is not one of operational');
  });

  it('opens, updates, resolves and lists incidents, and schedules a maintenance', async () => {
    let result = await cli(
      h,
      'statuspage',
      'incident',
      'open',
      '--name',
      'Slow API',
      '--body',
      'Looking',
      '--impact',
      'major',
      '--component',
      'API',
      '--internal-incident',
      '12',
      '--json',
    );
    expect(result.code).toBe(0);
    const opened = JSON.parse(result.out.join('\n')) as { publicId: string; internalIncidentId: number };
    expect(opened.internalIncidentId).toBe(12);
    result = await cli(
      h,
      'statuspage',
      'incident',
      'update',
      opened.publicId,
      '--status',
      'identified',
      '--body',
      'Found it',
    );
    expect(result.out[0]).toBe(`incident ${opened.publicId}: Slow API (identified, major impact)`);
    expect(result.out[1]).toMatch(/identified: Found it$/);
    result = await cli(h, 'statuspage', 'incident', 'resolve', opened.publicId);
    expect(result.out[0]).toBe(`incident ${opened.publicId}: Slow API (resolved, major impact)`);
    result = await cli(h, 'statuspage', 'incident', 'list');
    expect(result.out[0]).toContain(opened.publicId);

    result = await cli(
      h,
      'statuspage',
      'maintenance',
      'add',
      '--name',
      'Upgrade',
      '--component',
      'Database',
      '--component',
      'Queue',
      '--from',
      '2030-01-01T10:00:00Z',
      '--until',
      '2h',
    );
    expect(result.code).toBe(0);
    expect(result.out[0]).toMatch(
      /^maintenance [a-z0-9]{12}: Upgrade \(scheduled\) 2030-01-01 10:00Z to 2030-01-01 12:00Z$/,
    );
    const id = /maintenance ([a-z0-9]{12})/.exec(result.out[0] ?? '')?.[1] as string;
    result = await cli(h, 'statuspage', 'maintenance', 'update', id, '--status', 'in_progress');
    expect(result.out[0]).toContain('(in_progress)');
    result = await cli(h, 'statuspage', 'maintenance', 'list');
    expect(result.out[0]).toContain(id);
    result = await cli(h, 'statuspage', 'subscribers');
    expect(result.out).toEqual(['KIND  STATE  COUNT']);
  });

  it('reads times as ISO 8601 or as a duration from a start', () => {
    expect(parseWhen('--until', '2h', Date.UTC(2026, 0, 1))).toBe('2026-01-01T02:00:00.000Z');
    expect(parseWhen('--until', '2026-01-02T00:00:00+01:00', 0)).toBe('2026-01-01T23:00:00.000Z');
    expect(() => parseWhen('--until', 'soon', 0)).toThrow('--until soon: give an ISO 8601 time');
  });
});
