/**
 * The overview's table: one row per unit and environment with its stable version, its active (or
 * last) release, instance health and recent releases. Sorting is by the column headers' buttons.
 */
import type { Release, ServiceStatus } from '../api/types.js';
import { isEnded } from '../format.js';
import { Link } from '../router.js';
import { InstanceHealth } from './instance-health.js';
import { MaintenanceBadge } from './maintenance-badge.js';
import type { OrderableService, ServiceSort, ServiceSortKey } from './order-services.js';
import { RecentReleases } from './recent-releases.js';
import { StateBadge } from './state-badge.js';

/** The columns besides the selection checkbox. */
const COLUMNS = 10;

/** A unit as the overview shows it: its summary, and its status and recent releases once read. */
export interface ServiceRow extends OrderableService {
  status?: ServiceStatus;
  /** Why its status could not be read. */
  statusError?: string;
  /** How many of its scheduled checks are failing (the maintenance page lists them). */
  maintenance?: { failing: number };
}

/** The row's release when it is still running (not ended), else undefined. */
export function activeRelease(row: OrderableService): Release | undefined {
  return row.release && !isEnded(row.release.state) ? row.release : undefined;
}

/** What the table needs from its page. */
export interface ServicesTableProps {
  rows: readonly ServiceRow[];
  sort: ServiceSort;
  onSort: (key: ServiceSortKey) => void;
  /** Whether to show the selection column (the user may pause or resume somewhere). */
  selecting: boolean;
  selected: ReadonlySet<string>;
  /** Whether a row may be selected (it has an active release the user may act on). */
  selectable: (row: ServiceRow) => boolean;
  onSelect: (unit: string, checked: boolean) => void;
  onSelectAll: (checked: boolean) => void;
  /** Whether the user may deploy this unit (deployer or above in its environment). */
  mayDeploy: (row: ServiceRow) => boolean;
  onDeploy: (unit: string) => void;
}

/** One sortable column's header: a real button, with `aria-sort` on the cell. */
function SortHeader({
  label,
  column,
  sort,
  onSort,
}: {
  label: string;
  column: ServiceSortKey;
  sort: ServiceSort;
  onSort: (key: ServiceSortKey) => void;
}) {
  const active = sort.key === column;
  return (
    <th scope="col" aria-sort={active ? sort.direction : undefined}>
      <button type="button" className="sort" onClick={() => onSort(column)}>
        {label}
        <span className="sort-mark" aria-hidden="true">
          {active ? (sort.direction === 'ascending' ? ' ▲' : ' ▼') : ' ↕'}
        </span>
      </button>
    </th>
  );
}

function StepCell({ release }: { release: Release | undefined }) {
  if (!release) return <span className="muted">—</span>;
  if (release.steps === 0) return <span>{release.phase}</span>;
  return (
    <span>
      {Math.min(release.step + 1, release.steps)}/{release.steps}
      {release.stepName && <span className="muted step-name"> {release.stepName}</span>}
    </span>
  );
}

/** The units table. */
export function ServicesTable(props: ServicesTableProps) {
  const { rows, sort, onSort, selecting, selected } = props;
  const selectableRows = rows.filter(props.selectable);
  const allSelected = selectableRows.length > 0 && selectableRows.every((row) => selected.has(row.name));
  const header = { sort, onSort };
  return (
    <div className="table-wrap">
      <table className="data services-table" aria-label="Services">
        <thead>
          <tr>
            {selecting && (
              <th scope="col" className="select-cell">
                <input
                  type="checkbox"
                  aria-label="Select all"
                  checked={allSelected}
                  disabled={selectableRows.length === 0}
                  onChange={(e) => props.onSelectAll(e.target.checked)}
                />
              </th>
            )}
            <SortHeader label="Unit" column="unit" {...header} />
            <SortHeader label="Environment" column="environment" {...header} />
            <SortHeader label="Stable" column="stable" {...header} />
            <SortHeader label="Release" column="release" {...header} />
            <SortHeader label="State" column="state" {...header} />
            <th scope="col">Step</th>
            <SortHeader label="Weight" column="weight" {...header} />
            <th scope="col">Instances ready</th>
            <th scope="col">Last releases</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const active = activeRelease(row);
            const release = row.release;
            return (
              <tr key={row.name}>
                {selecting && (
                  <td className="select-cell">
                    <input
                      type="checkbox"
                      aria-label={`Select ${row.name}`}
                      checked={selected.has(row.name)}
                      disabled={!props.selectable(row)}
                      onChange={(e) => props.onSelect(row.name, e.target.checked)}
                    />
                  </td>
                )}
                <th scope="row" className="unit-cell">
                  {release ? <Link to={`/releases/${release.id}`}>{row.name}</Link> : row.name}
                  <MaintenanceBadge unit={row.name} failing={row.maintenance?.failing} />
                </th>
                <td>{row.environment ?? <span className="muted">—</span>}</td>
                <td className="mono">{row.stable ?? <span className="muted">none</span>}</td>
                <td className="mono">
                  {release ? (
                    <>
                      #{release.id} {release.version}
                      {!active && <span className="muted"> (last)</span>}
                    </>
                  ) : (
                    <span className="muted">none</span>
                  )}
                </td>
                <td>
                  {release ? <StateBadge state={release.state} /> : <span className="muted">—</span>}
                  {release?.reason && (
                    <span className="reason" title={release.reason}>
                      {release.reason}
                    </span>
                  )}
                </td>
                <td>
                  <StepCell release={active} />
                </td>
                <td className="num">{active ? `${active.weight}%` : '—'}</td>
                <td>
                  <InstanceHealth status={row.status} error={row.statusError} />
                </td>
                <td>
                  <RecentReleases releases={row.recent} />
                </td>
                <td>
                  <Link
                    to={`/services/${encodeURIComponent(row.service)}/baselines${row.environment ? `?environment=${row.environment}` : ''}`}
                    aria-label={`Baselines of ${row.name}`}
                  >
                    Baselines
                  </Link>{' '}
                  {props.mayDeploy(row) && (
                    <button
                      type="button"
                      aria-label={`Deploy ${row.name}`}
                      onClick={() => props.onDeploy(row.name)}
                    >
                      Deploy…
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
          {rows.length === 0 && (
            <tr>
              <td colSpan={selecting ? COLUMNS + 1 : COLUMNS} className="muted">
                No unit matches the filter.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
