/**
 * The release page's pure state logic: merging what the stream pushes into what the API answered,
 * deciding which resources an event makes stale, and coalescing bursts of refreshes.
 */
import type { Measurement, Sample, ShipcheckEvent } from '../api/types.js';

/** At most one refresh per resource in this many milliseconds: a burst of events makes one or two reads. */
export const REFRESH_WINDOW_MS = 300;

/** What the page reads again when the stream says something changed. */
export type Resource = 'release' | 'checklist' | 'status';

/** Events after which the checklist may have changed. */
const CHECKLIST_EVENTS: ReadonlySet<string> = new Set([
  'checklist.item',
  'release.waiting',
  'release.gate_passed',
]);
/** Events after which the unit's instances or traffic figures may have changed. */
const STATUS_EVENTS: ReadonlySet<string> = new Set([
  'release.canary',
  'release.weight',
  'release.step',
  'release.promoted',
  'release.verifying',
  'release.rolling_back',
  'release.succeeded',
  'release.rolled_back',
  'release.aborted',
  'release.failed',
  'version.retired',
]);

/** The resources an event of type `type` makes stale: the release always, the checklist and status for some. */
export function staleAfter(type: string): Resource[] {
  const stale: Resource[] = ['release'];
  if (CHECKLIST_EVENTS.has(type)) stale.push('checklist');
  if (STATUS_EVENTS.has(type)) stale.push('status');
  return stale;
}

/** `events` with `incoming` added, each id once, oldest first (by id, which the store assigns in order). */
export function mergeEvents(
  events: readonly ShipcheckEvent[],
  incoming: readonly ShipcheckEvent[],
): ShipcheckEvent[] {
  const seen = new Set(events.map((e) => e.id));
  const added = incoming.filter((e) => {
    if (seen.has(e.id)) return false;
    seen.add(e.id);
    return true;
  });
  if (added.length === 0) return events as ShipcheckEvent[];
  return [...events, ...added].sort((a, b) => a.id - b.id);
}

/** `samples` with `sample` added when it belongs to release `releaseId`, in time order, one per moment. */
export function appendSample(
  samples: readonly Sample[],
  sample: Sample & { releaseId?: number },
  releaseId: number,
): Sample[] {
  if (sample.releaseId !== undefined && sample.releaseId !== releaseId) return samples as Sample[];
  if (samples.some((s) => s.at === sample.at)) return samples as Sample[];
  const { at, stable, canary } = sample;
  return [...samples, { at, stable, canary }].sort((a, b) => a.at - b.at);
}

/** `measurements` with `measurement` added when it belongs to release `releaseId` and is not there yet. */
export function appendMeasurement(
  measurements: readonly Measurement[],
  measurement: Measurement,
  releaseId: number,
): Measurement[] {
  if (measurement.releaseId !== undefined && measurement.releaseId !== releaseId)
    return measurements as Measurement[];
  const same = (m: Measurement): boolean =>
    measurement.id !== undefined
      ? m.id === measurement.id
      : m.at === measurement.at && m.trigger === measurement.trigger && m.version === measurement.version;
  if (measurements.some(same)) return measurements as Measurement[];
  return [...measurements, measurement].sort((a, b) => a.at - b.at);
}
