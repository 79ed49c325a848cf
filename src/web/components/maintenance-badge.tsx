/** The services overview's mark of a unit with failing scheduled checks, linking to the maintenance page. */
import { Link } from '../router.js';

export function MaintenanceBadge({ unit, failing }: { unit: string; failing: number | undefined }) {
  if (!failing) return null;
  const service = unit.split('@')[0] ?? unit;
  return (
    <Link
      to={`/maintenance?service=${encodeURIComponent(service)}`}
      className="badge badge-bad maintenance-badge"
      title={`${failing} scheduled check${failing === 1 ? '' : 's'} of ${unit} failing`}
    >
      {failing} failing check{failing === 1 ? '' : 's'}
    </Link>
  );
}
