import type { Evidence } from '../domain/checklist.js';

/**
 * Evidence entries kept per item. A check re-run in a loop, or a script signing again and again, must
 * not grow a release's checklist without bound.
 */
export const MAX_EVIDENCE_ENTRIES = 50;
/** Who writes the marker that stands for dropped entries. */
const MARKER_AUTHOR = 'shipcheck';
/** The `data` key that marks (and counts) the stand-in for dropped entries. */
const DROPPED_KEY = 'droppedEntries';
/** The first entry and the marker are kept besides the newest ones. */
const FIXED_ENTRIES = 2;

/**
 * Appends `entry` and keeps at most `limit` entries: the first one (the first result or signature,
 * often the one that explains the rest), one marker counting every entry dropped so far, and the
 * newest. The marker takes the time of the newest entry it stands for, so the list stays in order.
 */
export function appendEvidence(
  list: readonly Evidence[],
  entry: Evidence,
  limit: number = MAX_EVIDENCE_ENTRIES,
): Evidence[] {
  if (limit <= FIXED_ENTRIES) throw new RangeError(`an evidence limit must be above ${FIXED_ENTRIES}`);
  const all = [...list, entry];
  if (all.length <= limit) return all;
  const [first, ...rest] = all as [Evidence, ...Evidence[]];
  const marker = rest[0] && droppedBy(rest[0]) !== undefined ? rest.shift() : undefined;
  const cut = rest.length - (limit - FIXED_ENTRIES);
  const dropped = rest.splice(0, cut);
  const count = (marker ? (droppedBy(marker) ?? 0) : 0) + dropped.length;
  const newestDropped = dropped[dropped.length - 1] ?? marker ?? first;
  return [first, markerEntry(count, newestDropped.at, limit), ...rest];
}

/** How many entries a marker stands for, or undefined when `entry` is not a marker. */
export function droppedBy(entry: Evidence): number | undefined {
  const count = entry.data?.[DROPPED_KEY];
  return entry.by === MARKER_AUTHOR && typeof count === 'number' ? count : undefined;
}

/** The marker: it always stands for two entries or more, as it takes the place of one. */
function markerEntry(count: number, at: number, limit: number): Evidence {
  return {
    at,
    summary: `${count.toLocaleString('en-US')} earlier evidence entries dropped: an item keeps its first and its newest ${limit - FIXED_ENTRIES}`,
    by: MARKER_AUTHOR,
    data: { [DROPPED_KEY]: count },
  };
}
