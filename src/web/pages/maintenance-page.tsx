/**
 * Scheduled checks between releases: every scheduled item of every unit with its schedule, last
 * result and next run, failing ones first, and a "Run now" button for those who may deploy the unit.
 * `?service=NAME` narrows it to one service's units (the services overview's badge links here).
 */
import { useCallback, useEffect, useState } from 'react';
import { type MaintenanceItem, listMaintenance, runMaintenanceItem } from '../api/maintenance.js';
import { StateBadge } from '../components/state-badge.js';
import { formatTime } from '../format.js';
import { useLocation } from '../router.js';
import { mayDo, useSession } from '../session.js';

/** How often the page reads the items again, so runs made by the schedule show up. */
const REFRESH_MS = 5000;

/** The environment of a unit name (`web@production` -> `production`). */
function environmentOf(unit: string): string | null {
  const at = unit.indexOf('@');
  return at < 0 ? null : unit.slice(at + 1);
}

/** The maintenance page. */
export function MaintenancePage() {
  const { session } = useSession();
  const { search } = useLocation();
  const service = search.get('service') ?? undefined;
  const [items, setItems] = useState<MaintenanceItem[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  const read = useCallback(async (): Promise<void> => {
    try {
      setItems(await listMaintenance(service));
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [service]);

  useEffect(() => {
    void read();
    const timer = setInterval(() => void read(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [read]);

  const runNow = async (item: MaintenanceItem): Promise<void> => {
    const key = `${item.unit} ${item.itemId}`;
    setRunning(key);
    setMessage(null);
    try {
      const run = await runMaintenanceItem(item.unit, item.itemId);
      setMessage(`${item.unit} ${item.title}: ${run.state}: ${run.summary}`);
    } catch (err) {
      setMessage(`${item.unit} ${item.title}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setRunning(null);
      await read();
    }
  };

  const shown = (items ?? []).slice().sort((a, b) => Number(b.failing) - Number(a.failing));
  return (
    <section className="maintenance-page">
      <h1>Maintenance{service ? `: ${service}` : ''}</h1>
      <p className="muted">
        Scheduled checklist items run between releases by the replica that drives each unit.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {message && <p role="status">{message}</p>}
      {items === null ? (
        !error && <p className="muted">Loading…</p>
      ) : shown.length === 0 ? (
        <p className="muted">
          No scheduled items: give checklist items a <code>schedule:</code>, or set maintenance.schedules.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="data maintenance-table" aria-label="Scheduled checks">
            <thead>
              <tr>
                <th scope="col">Unit</th>
                <th scope="col">Item</th>
                <th scope="col">Schedule</th>
                <th scope="col">Last result</th>
                <th scope="col">Next run</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((item) => {
                const key = `${item.unit} ${item.itemId}`;
                const may = mayDo(session.user.roles, 'deployer', environmentOf(item.unit));
                const runnable = item.automated && item.schedule !== null;
                return (
                  <tr key={key}>
                    <td>{item.unit}</td>
                    <th scope="row">
                      {item.title}
                      <div className="muted mono">{item.itemId}</div>
                    </th>
                    <td className="mono">
                      {item.schedule === null ? 'off' : `${item.schedule} (${item.timezone})`}
                    </td>
                    <td>
                      {item.running ? (
                        <StateBadge state="running" />
                      ) : item.last ? (
                        <>
                          <StateBadge state={item.last.state} />{' '}
                          <span className="muted">
                            {formatTime(item.last.startedAt)}
                            {item.last.trigger === 'manual' ? ` by ${item.last.by ?? 'someone'}` : ''}
                          </span>
                          <div className="reason" title={item.last.summary}>
                            {item.last.summary}
                          </div>
                        </>
                      ) : item.automated ? (
                        <span className="muted">not run yet</span>
                      ) : (
                        <span className="muted">sign-off{item.hint ? `: ${item.hint}` : ''}</span>
                      )}
                    </td>
                    <td>{runnable ? formatTime(item.nextRunAt) : <span className="muted">—</span>}</td>
                    <td>
                      {may && runnable && (
                        <button
                          type="button"
                          aria-label={`Run now: ${item.title} on ${item.unit}`}
                          disabled={running !== null || item.running}
                          onClick={() => void runNow(item)}
                        >
                          {running === key ? 'Running…' : 'Run now'}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
