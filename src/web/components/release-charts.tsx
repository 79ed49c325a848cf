/** Placeholder for the release's traffic charts: it only counts what it was given. */
import type { Measurement, Sample, ShipcheckEvent } from '../api/types.js';

/** The charts of a release's samples, with thresholds from its measurements and its events marked (minimal). */
export function ReleaseCharts({
  samples,
  measurements,
  events,
}: {
  samples: Sample[];
  measurements: Measurement[];
  events: ShipcheckEvent[];
}) {
  return (
    <p className="muted">
      {samples.length} samples, {measurements.length} measurements, {events.length} events.
    </p>
  );
}
