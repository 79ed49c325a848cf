/**
 * How the overview filters and orders its units. Units that need a person come first whatever the
 * column sort says: a release waiting at a gate, paused (by hand or by an inconclusive verdict) or
 * failed; then units whose last release ended badly (rolled back, aborted); then the rest.
 */
import type { Release } from '../api/types.js';
import { ATTENTION_STATES } from '../format.js';

/** Last releases that ended badly: they sort after the units that need attention now. */
const ENDED_BAD_STATES: ReadonlySet<string> = new Set(['rolled_back', 'aborted']);

/** The columns the overview sorts by. */
export type ServiceSortKey = 'unit' | 'environment' | 'stable' | 'release' | 'state' | 'weight';

/** A column and a direction, as `aria-sort` names it. */
export interface ServiceSort {
  key: ServiceSortKey;
  direction: 'ascending' | 'descending';
}

/** What ordering and filtering read of a unit. */
export interface OrderableService {
  /** The unit: `web` or `web@production`. */
  name: string;
  service: string;
  environment: string | null;
  stable: string | null;
  /** The active or last release. */
  release: Release | null;
  /** The last few releases, newest first, when read. */
  recent?: readonly Release[];
}

/** What the toolbar filters by: free text and one environment (`''` for all). */
export interface ServiceFilter {
  text: string;
  environment: string;
}

/** 0: needs attention now; 1: the last release ended badly; 2: everything else. */
export function attentionRank(unit: OrderableService): number {
  const state = unit.release?.state;
  if (state === undefined) return 2;
  if (ATTENTION_STATES.has(state)) return 0;
  if (ENDED_BAD_STATES.has(state)) return 1;
  return 2;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

function compareText(a: string | null | undefined, b: string | null | undefined): number {
  // A missing value counts as greater than any: last when ascending, first when descending.
  if (!a && !b) return 0;
  if (!a) return 1;
  if (!b) return -1;
  return collator.compare(a, b);
}

function compareNumber(a: number | undefined, b: number | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a - b;
}

function compareBy(key: ServiceSortKey, a: OrderableService, b: OrderableService): number {
  switch (key) {
    case 'unit':
      return compareText(a.name, b.name);
    case 'environment':
      return compareText(a.environment, b.environment);
    case 'stable':
      return compareText(a.stable, b.stable);
    case 'release':
      return compareText(a.release?.version, b.release?.version);
    case 'state':
      return compareText(a.release?.state, b.release?.state);
    case 'weight':
      return compareNumber(a.release?.weight, b.release?.weight);
  }
}

/**
 * `units` in the overview's order: by attention first, then by `sort`, ties by unit name. Returns
 * a new array; the input is left as it was.
 */
export function orderServices<T extends OrderableService>(units: readonly T[], sort: ServiceSort): T[] {
  const sign = sort.direction === 'ascending' ? 1 : -1;
  return [...units].sort(
    (a, b) =>
      attentionRank(a) - attentionRank(b) || sign * compareBy(sort.key, a, b) || compareText(a.name, b.name),
  );
}

/**
 * The units `filter` keeps: in its environment (any when empty), and with its text (any case) in
 * the unit or service name, the stable version, the active or last release's version, or a
 * recent release's version.
 */
export function filterServices<T extends OrderableService>(units: readonly T[], filter: ServiceFilter): T[] {
  const needle = filter.text.trim().toLowerCase();
  return units.filter((unit) => {
    if (filter.environment && (unit.environment ?? '') !== filter.environment) return false;
    if (!needle) return true;
    const haystack = [
      unit.name,
      unit.service,
      unit.stable,
      unit.release?.version,
      unit.release?.fromVersion,
      ...(unit.recent ?? []).map((release) => release.version),
    ];
    return haystack.some((value) => value?.toLowerCase().includes(needle));
  });
}
