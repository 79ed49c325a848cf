/**
 * The audit page's filters and paging. The API lists entries oldest first after an entry number;
 * the page shows them newest first, so it reads the head's number and walks back in windows of
 * entry numbers, never reading the whole log (it may hold 100,000 entries and more).
 */
import type { AuditFilter } from './api/resources.js';
import type { AuditEntry } from './api/types.js';

/** The filters as the page's inputs and its URL hold them; `since` and `until` are ISO times. */
export interface AuditFilters {
  actor: string;
  action: string;
  service: string;
  since: string;
  until: string;
}

/** The filters' names, which are also their URL query keys and the API's. */
export const AUDIT_FILTER_KEYS = ['actor', 'action', 'service', 'since', 'until'] as const;

/** Entries one page shows before `Older entries`. */
export const AUDIT_PAGE_SIZE = 100;
/** The widest window one request may cover: the API's largest `limit`. */
export const AUDIT_WIDEST_WINDOW = 1000;
/** Windows one `Older entries` reads at most while filters match little, so a click stays quick. */
export const AUDIT_WINDOWS_PER_READ = 5;

/** The filters in a URL query; missing ones are empty. */
export function filtersFromSearch(search: URLSearchParams): AuditFilters {
  const value = (key: string): string => search.get(key)?.trim() ?? '';
  return {
    actor: value('actor'),
    action: value('action'),
    service: value('service'),
    since: value('since'),
    until: value('until'),
  };
}

/** The URL query of the filters (`?actor=ana&since=...`), or '' when none is set. */
export function searchOfFilters(filters: AuditFilters): string {
  const search = new URLSearchParams();
  for (const key of AUDIT_FILTER_KEYS) if (filters[key].trim()) search.set(key, filters[key].trim());
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Whether any filter is set. */
export function isFiltered(filters: AuditFilters): boolean {
  return AUDIT_FILTER_KEYS.some((key) => filters[key].trim() !== '');
}

/** An ISO time as a datetime-local input shows it (`2026-12-06T12:30`, local time); '' for none. */
export function localInputOf(iso: string): string {
  if (!iso) return '';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** A datetime-local input's value (local time) as an ISO time; '' for none or a value that is no time. */
export function isoOfLocalInput(local: string): string {
  if (!local) return '';
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? '' : at.toISOString();
}

/** The entry numbers one request covers: those above `after` and below `before`. */
export interface AuditWindow {
  after: number;
  before: number;
}

/**
 * The window of at most `size` entry numbers just below `before` and above `floor` (0, or the last
 * archived entry), or null when nothing is left below `before`.
 */
export function olderWindow(before: number, floor: number, size: number): AuditWindow | null {
  const after = Math.max(floor, before - 1 - size);
  return after >= before - 1 ? null : { after, before };
}

/**
 * The API query for `window` with the filters. `limit` is the window's width, so a window is read
 * whole in one request; entries past the window that fill up the limit are dropped by the caller.
 */
export function auditRequest(filters: AuditFilters, window: AuditWindow): AuditFilter {
  const request: AuditFilter = { after: window.after, limit: window.before - 1 - window.after };
  for (const key of AUDIT_FILTER_KEYS) if (filters[key].trim()) request[key] = filters[key].trim();
  return request;
}

/** What one walk back found: entries newest first, where the next walk starts, and whether the log's start was reached. */
export interface OlderEntries {
  entries: AuditEntry[];
  before: number;
  done: boolean;
}

/**
 * Reads entries matching `filters` below `before` (exclusive), newest first, window by window, until
 * it has {@link AUDIT_PAGE_SIZE} of them, reaches `floor`, or has read
 * {@link AUDIT_WINDOWS_PER_READ} windows. Without filters each window is one page; with filters the
 * windows are as wide as the API allows, as most entries will not match.
 */
export async function readOlder(
  read: (filter: AuditFilter) => Promise<{ entries: AuditEntry[] }>,
  filters: AuditFilters,
  before: number,
  floor: number,
): Promise<OlderEntries> {
  const size = isFiltered(filters) ? AUDIT_WIDEST_WINDOW : AUDIT_PAGE_SIZE;
  const entries: AuditEntry[] = [];
  let cursor = before;
  for (let windows = 0; windows < AUDIT_WINDOWS_PER_READ && entries.length < AUDIT_PAGE_SIZE; windows++) {
    const window = olderWindow(cursor, floor, size);
    if (!window) break;
    const page = await read(auditRequest(filters, window));
    const inside = page.entries.filter((entry) => entry.seq > window.after && entry.seq < window.before);
    entries.push(...inside.sort((a, b) => b.seq - a.seq));
    cursor = window.after + 1;
  }
  return { entries, before: cursor, done: cursor - 1 <= floor };
}
