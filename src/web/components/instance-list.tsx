/** Placeholder for the unit's instances: it only counts them. */
import type { ServiceStatus } from '../api/types.js';

/** The instances of `unit` from `status`, with their logs when `canViewLogs` (minimal). */
export function InstanceList({
  unit,
  status,
  canViewLogs,
}: {
  unit: string;
  status: ServiceStatus | null;
  canViewLogs: boolean;
}) {
  const count =
    (status?.versions.stable?.instances.length ?? 0) + (status?.versions.canary?.instances.length ?? 0);
  return (
    <p className="muted" data-can-view-logs={canViewLogs}>
      {unit}: {status ? `${count} instances` : 'no instances of this release now'}.
    </p>
  );
}
