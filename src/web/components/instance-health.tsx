/** How many instances of a unit's stable and canary versions are ready, out of how many. */
import type { ServiceStatus, VersionFigures } from '../api/types.js';

function readyCount(figures: VersionFigures): string {
  const ready = figures.instances.filter((instance) => instance.state === 'ready').length;
  return `${ready}/${figures.instances.length}`;
}

/** `stable 3/3` and, while there is a canary, `canary 1/1`: instances ready of all; words, not colour. */
export function InstanceHealth({ status, error }: { status: ServiceStatus | undefined; error?: string }) {
  if (error)
    return (
      <span className="muted" title={error}>
        unavailable
      </span>
    );
  if (!status) return <span className="muted">…</span>;
  const { stable, canary } = status.versions;
  if (!stable && !canary) return <span className="muted">none</span>;
  const unhealthy = (figures: VersionFigures): boolean =>
    figures.instances.some((instance) => instance.state !== 'ready');
  return (
    <ul className="instance-health">
      {stable && (
        <li className={unhealthy(stable) ? 'health-short' : undefined}>stable {readyCount(stable)}</li>
      )}
      {canary && (
        <li className={unhealthy(canary) ? 'health-short' : undefined}>canary {readyCount(canary)}</li>
      )}
    </ul>
  );
}
