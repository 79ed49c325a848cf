/**
 * The overview: every unit and environment in one table, live from the event stream. The page reads
 * everything once, then reads again only the unit an event names (at most once per unit per
 * half second), and everything after a reconnect.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { listReleases, listServices, serviceStatus } from '../api/resources.js';
import { requestLimit } from '../api/request-limit.js';
import type { ServiceSummary } from '../api/types.js';
import { BulkActions, type BulkTarget } from '../components/bulk-actions.js';
import { useConfirm } from '../components/confirm-dialog.js';
import { ConnectionIndicator } from '../components/connection-indicator.js';
import { DeployDialog } from '../components/deploy-dialog.js';
import {
  filterServices,
  orderServices,
  type ServiceSort,
  type ServiceSortKey,
} from '../components/order-services.js';
import { activeRelease, type ServiceRow, ServicesTable } from '../components/services-table.js';
import { RefreshCoalescer } from '../live/refresh-coalescer.js';
import { streamUrl, useEventStream } from '../live/event-stream.js';
import { navigate } from '../router.js';
import { mayDo, useSession } from '../session.js';

/** Reads of status and releases in flight at once. */
const MAX_READS_IN_FLIGHT = 6;
/** A unit is read again at most this often, however many events name it. */
const REFRESH_INTERVAL_MS = 500;
/** How many releases the row lists. */
const RECENT_RELEASES = 5;
/** The refresh key that reads every unit (an event named a unit the page does not know yet). */
const ALL_UNITS = '*';

/** The services overview. */
export function ServicesPage() {
  const { session } = useSession();
  const roles = session.user.roles;
  const [rows, setRows] = useState<Map<string, ServiceRow>>(new Map());
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [connected, setConnected] = useState<boolean | null>(null);
  const [text, setText] = useState('');
  const [environment, setEnvironment] = useState('');
  const [sort, setSort] = useState<ServiceSort>({ key: 'unit', direction: 'ascending' });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [deploying, setDeploying] = useState<string | null>(null);
  const { confirm, dialog } = useConfirm();
  const limit = useMemo(() => requestLimit(MAX_READS_IN_FLIGHT), []);
  const known = useRef<ReadonlySet<string>>(new Set());

  const patch = useCallback((unit: string, change: (row: ServiceRow) => ServiceRow): void => {
    setRows((current) => {
      const row = current.get(unit);
      if (!row) return current;
      const next = new Map(current);
      next.set(unit, change(row));
      return next;
    });
  }, []);

  /** Reads one unit's status and recent releases; its summary follows from the status. */
  const readUnit = useCallback(
    (unit: string): void => {
      void limit(() => serviceStatus(unit)).then(
        (status) =>
          patch(unit, (row) => ({
            ...row,
            status,
            statusError: undefined,
            stable: status.stable,
            release: status.release,
          })),
        (err: unknown) =>
          patch(unit, (row) => ({ ...row, statusError: err instanceof Error ? err.message : String(err) })),
      );
      void limit(() => listReleases(unit, RECENT_RELEASES)).then(
        (recent) => patch(unit, (row) => ({ ...row, recent })),
        () => undefined, // The row keeps the releases it had; the status error already says the unit is unreadable.
      );
    },
    [limit, patch],
  );

  const readAll = useCallback(async (): Promise<void> => {
    try {
      const services = await listServices();
      known.current = new Set(services.map((s) => s.name));
      setRows((current) => {
        const next = new Map<string, ServiceRow>();
        for (const summary of services)
          next.set(summary.name, { ...current.get(summary.name), ...toRow(summary) });
        return next;
      });
      setError(null);
      for (const summary of services) readUnit(summary.name);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoaded(true);
    }
  }, [readUnit]);

  const refresher = useMemo(
    () =>
      new RefreshCoalescer<string>((key) => {
        if (key === ALL_UNITS) void readAll();
        else readUnit(key);
      }, REFRESH_INTERVAL_MS),
    [readAll, readUnit],
  );
  useEffect(() => () => refresher.dispose(), [refresher]);
  useEffect(() => {
    void readAll();
  }, [readAll]);

  useEventStream(streamUrl({}), {
    onEvent: (event) => {
      if (known.current.has(event.service)) refresher.request(event.service);
      else refresher.request(ALL_UNITS);
    },
    onReconnect: () => refresher.request(ALL_UNITS),
    onConnection: setConnected,
  });

  const all = [...rows.values()];
  const environments = [...new Set(all.flatMap((row) => (row.environment ? [row.environment] : [])))].sort();
  const visible = orderServices(filterServices(all, { text, environment }), sort);
  const mayDeploy = (row: ServiceRow): boolean => mayDo(roles, 'deployer', row.environment);
  const selectable = (row: ServiceRow): boolean => mayDeploy(row) && activeRelease(row) !== undefined;
  const selecting = all.some(mayDeploy);
  // Only what is still visible and selectable counts: a release that ended drops out of the batch.
  const targets: BulkTarget[] = visible.flatMap((row) => {
    const release = activeRelease(row);
    return selected.has(row.name) && release && selectable(row) ? [{ unit: row.name, release }] : [];
  });

  const onSort = (key: ServiceSortKey): void =>
    setSort((current) => ({
      key,
      direction: current.key === key && current.direction === 'ascending' ? 'descending' : 'ascending',
    }));
  const onSelect = (unit: string, checked: boolean): void =>
    setSelected((current) => {
      const next = new Set(current);
      if (checked) next.add(unit);
      else next.delete(unit);
      return next;
    });
  const onSelectAll = (checked: boolean): void =>
    setSelected(checked ? new Set(visible.filter(selectable).map((row) => row.name)) : new Set());
  const deployRow = deploying ? rows.get(deploying) : undefined;

  return (
    <section className="services-page">
      <div className="page-head">
        <h1>Services</h1>
        <ConnectionIndicator connected={connected} />
      </div>
      <div className="toolbar">
        <label className="field">
          <span>Filter</span>
          <input
            type="search"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="unit, service or version"
          />
        </label>
        <label className="field">
          <span>Environment</span>
          <select value={environment} onChange={(e) => setEnvironment(e.target.value)}>
            <option value="">All environments</option>
            {environments.map((env) => (
              <option key={env} value={env}>
                {env}
              </option>
            ))}
          </select>
        </label>
        {selecting && (
          <BulkActions selected={targets} confirm={confirm} onActed={(units) => units.forEach(readUnit)} />
        )}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!loaded ? (
        <p className="muted">Loading services…</p>
      ) : (
        <ServicesTable
          rows={visible}
          sort={sort}
          onSort={onSort}
          selecting={selecting}
          selected={selected}
          selectable={selectable}
          onSelect={onSelect}
          onSelectAll={onSelectAll}
          mayDeploy={mayDeploy}
          onDeploy={setDeploying}
        />
      )}
      {deploying && (
        <DeployDialog
          unit={deploying}
          stable={deployRow?.stable ?? null}
          onClose={() => setDeploying(null)}
          onDeployed={(release) => {
            setDeploying(null);
            navigate(`/releases/${release.id}`);
          }}
        />
      )}
      {dialog}
    </section>
  );
}

function toRow(summary: ServiceSummary): ServiceRow {
  return {
    name: summary.name,
    service: summary.service,
    environment: summary.environment,
    stable: summary.stable,
    release: summary.release,
    ...(summary.maintenance ? { maintenance: summary.maintenance } : {}),
  };
}
