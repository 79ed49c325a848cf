/** Placeholder for the verdict and its evidence: it only counts the measurements. */
import type { Measurement, Release } from '../api/types.js';

/** The verdict of `release` and the measurements behind it (minimal). */
export function VerdictEvidence({
  release,
  measurements,
}: {
  release: Release;
  measurements: Measurement[];
}) {
  return (
    <p className="muted">
      Release #{release.id}: {measurements.length} measurements.
    </p>
  );
}
