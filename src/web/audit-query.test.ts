import { describe, expect, it } from 'vitest';
import type { AuditFilter } from './api/resources.js';
import type { AuditEntry } from './api/types.js';
import {
  AUDIT_PAGE_SIZE,
  AUDIT_WIDEST_WINDOW,
  auditRequest,
  filtersFromSearch,
  isoOfLocalInput,
  localInputOf,
  olderWindow,
  readOlder,
  searchOfFilters,
  type AuditFilters,
} from './audit-query.js';

const NONE: AuditFilters = { actor: '', action: '', service: '', since: '', until: '' };

/** A log of `count` entries numbered from `first`; every twentieth is by `ana`. */
function log(count: number, first = 1): AuditEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = first + i;
    return {
      seq,
      at: seq * 1000,
      actor: seq % 20 === 0 ? 'ana' : 'engine',
      action: 'release.deploy',
      target: null,
      service: 'web',
      address: null,
      result: 'ok' as const,
      reason: null,
      data: null,
      prev: '',
      hash: String(seq),
    };
  });
}

/** Answers as `GET /api/v1/audit` does: matching entries after `after`, oldest first, up to `limit`. */
function reader(entries: AuditEntry[], requests: AuditFilter[] = []) {
  return async (filter: AuditFilter) => {
    requests.push(filter);
    const matching = entries.filter(
      (entry) =>
        (filter.actor === undefined || entry.actor === filter.actor) &&
        (filter.after === undefined || entry.seq > filter.after),
    );
    return { entries: matching.slice(0, filter.limit ?? AUDIT_PAGE_SIZE) };
  };
}

describe('the filters in the URL', () => {
  it('keep only the filters that are set', () => {
    expect(searchOfFilters({ ...NONE, actor: 'ana', service: ' web ' })).toBe('?actor=ana&service=web');
    expect(searchOfFilters(NONE)).toBe('');
  });
  it('read back what they wrote', () => {
    const filters = { ...NONE, action: 'login', since: '2026-12-06T10:00:00.000Z' };
    expect(filtersFromSearch(new URLSearchParams(searchOfFilters(filters)))).toEqual(filters);
  });
});

describe('datetime-local inputs', () => {
  it('turn into ISO times and back', () => {
    const iso = isoOfLocalInput('2026-12-06T12:30');
    expect(iso).toMatch(/^2026-12-0\dT\d\d:30:00\.000Z$/);
    expect(localInputOf(iso)).toBe('2026-12-06T12:30');
  });
  it('read empty or broken values as no time', () => {
    expect(isoOfLocalInput('')).toBe('');
    expect(isoOfLocalInput('soon')).toBe('');
    expect(localInputOf('not a time')).toBe('');
  });
});

describe('olderWindow', () => {
  it('covers the entry numbers just below the cursor', () => {
    expect(olderWindow(501, 0, 100)).toEqual({ after: 400, before: 501 });
  });
  it('stops at the archive and when nothing is left', () => {
    expect(olderWindow(120, 80, 100)).toEqual({ after: 80, before: 120 });
    expect(olderWindow(81, 80, 100)).toBeNull();
  });
  it('asks for the whole window in one request, with the filters', () => {
    expect(auditRequest({ ...NONE, actor: 'ana' }, { after: 400, before: 501 })).toEqual({
      actor: 'ana',
      after: 400,
      limit: 100,
    });
  });
});

describe('readOlder', () => {
  it('reads the newest page of a large log in one request, newest first', async () => {
    const requests: AuditFilter[] = [];
    const page = await readOlder(reader(log(100_000), requests), NONE, 100_001, 0);
    expect(requests).toHaveLength(1);
    expect(page.entries.map((e) => e.seq).slice(0, 2)).toEqual([100_000, 99_999]);
    expect(page.entries).toHaveLength(AUDIT_PAGE_SIZE);
    expect(page.before).toBe(99_901);
    expect(page.done).toBe(false);
  });
  it('pages back to the start of the live chain', async () => {
    const entries = log(150, 51);
    const first = await readOlder(reader(entries), NONE, 201, 50);
    const second = await readOlder(reader(entries), NONE, first.before, 50);
    expect(second.entries.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 100 - i));
    expect(second.done).toBe(true);
  });
  it('walks wider windows when filters match few entries, and drops matches past the window', async () => {
    const requests: AuditFilter[] = [];
    const page = await readOlder(reader(log(3000), requests), { ...NONE, actor: 'ana' }, 2001, 0);
    // A window of 1,000 entries holds 50 by ana: a page takes two windows.
    expect(requests.map((r) => r.limit)).toEqual([AUDIT_WIDEST_WINDOW, AUDIT_WIDEST_WINDOW]);
    expect(page.entries[0]!.seq).toBe(2000);
    expect(page.entries.every((e) => e.actor === 'ana' && e.seq < 2001)).toBe(true);
    expect(page.entries).toHaveLength(AUDIT_PAGE_SIZE);
    expect(page.done).toBe(true);
  });
});
