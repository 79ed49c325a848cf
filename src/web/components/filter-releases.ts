/**
 * The history page's filters, and the merge of each unit's releases into one list: there is no
 * route that lists releases across services, so the page reads each unit and merges here.
 */
import type { Release } from '../api/types.js';

/** What the history page filters by; empty or undefined fields keep everything. */
export interface ReleaseFilter {
  /** A unit name (`web@production`). */
  service?: string;
  state?: string;
  /** A part of the version, any case. */
  version?: string;
  /** Started at or after (epoch ms). */
  since?: number;
  /** Started at or before (epoch ms). */
  until?: number;
}

/** The releases of several units as one list, newest first (by start, then by id). */
export function mergeReleases(lists: readonly (readonly Release[])[]): Release[] {
  return lists.flat().sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
}

/** The releases `filter` keeps, in their order. */
export function filterReleases(releases: readonly Release[], filter: ReleaseFilter): Release[] {
  const version = filter.version?.trim().toLowerCase();
  return releases.filter(
    (release) =>
      (!filter.service || release.service === filter.service) &&
      (!filter.state || release.state === filter.state) &&
      (!version || release.version.toLowerCase().includes(version)) &&
      (filter.since === undefined || release.createdAt >= filter.since) &&
      (filter.until === undefined || release.createdAt <= filter.until),
  );
}
