/**
 * The instances of the stable and the canary version with their health, and the tail of one
 * instance's log on request: read once when asked, and again with `Refresh log`, never polled.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client.js';
import { instanceLog } from '../api/resources.js';
import type { InstanceView, ServiceStatus } from '../api/types.js';
import { StateBadge } from './state-badge.js';

/** How many log lines one read asks for. */
export const LOG_LINES = 50;

interface InstanceRow extends InstanceView {
  version: string;
  role: 'stable' | 'canary';
}

/** What the log panel shows for the instance it was opened for. */
type LogView =
  | { state: 'loading' }
  | { state: 'loaded'; lines: string[]; truncated: boolean }
  | { state: 'error'; message: string };

/** The instances of a unit's stable and canary versions; their logs for a deployer or above. */
export function InstanceList(props: { unit: string; status: ServiceStatus | null; canViewLogs: boolean }) {
  const { unit, status, canViewLogs } = props;
  const [open, setOpen] = useState<string | null>(null);
  const [log, setLog] = useState<LogView>({ state: 'loading' });
  // Answers that arrive after another instance was opened, or after unmount, are dropped.
  const wanted = useRef<string | null>(null);
  useEffect(
    () => () => {
      wanted.current = null;
    },
    [],
  );

  const read = useCallback(
    async (instance: string) => {
      wanted.current = instance;
      setOpen(instance);
      setLog({ state: 'loading' });
      try {
        const answer = await instanceLog(unit, instance, LOG_LINES);
        if (wanted.current === instance)
          setLog({ state: 'loaded', lines: answer.lines, truncated: answer.truncated });
      } catch (err) {
        const message = err instanceof ApiError || err instanceof Error ? err.message : String(err);
        if (wanted.current === instance) setLog({ state: 'error', message });
      }
    },
    [unit],
  );

  if (!status) return <p className="muted">Reading the instances…</p>;
  const rows = instanceRows(status);

  return (
    <div className="instance-list">
      <div className="table-wrap">
        <table className="data" aria-label="Instances">
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">Version</th>
              <th scope="col">Role</th>
              <th scope="col">Address</th>
              <th scope="col">Health</th>
              <th scope="col" className="num">
                Restarts
              </th>
              <th scope="col">Last error</th>
              {canViewLogs ? <th scope="col">Log</th> : null}
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={canViewLogs ? 8 : 7} className="muted">
                  No instances are running
                  {status.replica && !status.replica.leading ? ' on this replica' : ''}.
                </td>
              </tr>
            ) : (
              rows.map((row) => (
                <tr key={`${row.role}-${row.id}`}>
                  <td className="mono">{row.id}</td>
                  <td>{row.version}</td>
                  <td>{row.role}</td>
                  <td className="mono">{row.address}</td>
                  <td>
                    <StateBadge state={row.state} />
                  </td>
                  <td className="num">{row.restarts}</td>
                  <td className="instance-error">
                    {/* A ready instance's last error is from before it became ready: stale. */}
                    {row.state === 'ready' ? '—' : (row.lastError ?? '—')}
                  </td>
                  {canViewLogs ? (
                    <td>
                      <button
                        type="button"
                        aria-label={`Show log of ${row.id}`}
                        aria-expanded={open === row.id}
                        aria-controls={open === row.id ? 'instance-log' : undefined}
                        onClick={() => void read(row.id)}
                      >
                        Show log
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      {status.replica && !status.replica.leading ? (
        <p className="muted">
          Only the replica that holds the service ({status.replica.holder ?? 'none'}) watches its instances.
        </p>
      ) : null}
      {canViewLogs ? null : (
        <p className="muted">Instance logs need the deployer role in this environment.</p>
      )}
      {canViewLogs && open !== null ? (
        <div className="instance-log" id="instance-log">
          <h3>Log of {open}</h3>
          <div className="row">
            <button type="button" onClick={() => void read(open)} disabled={log.state === 'loading'}>
              Refresh log
            </button>
            <button
              type="button"
              onClick={() => {
                wanted.current = null;
                setOpen(null);
              }}
            >
              Close log
            </button>
          </div>
          {log.state === 'loading' ? <p className="muted">Reading the log…</p> : null}
          {log.state === 'error' ? (
            <p className="error" role="alert">
              {log.message}
            </p>
          ) : null}
          {log.state === 'loaded' ? (
            <>
              <p className="muted">
                {log.lines.length === 0
                  ? 'The log is empty.'
                  : `The last ${log.lines.length} line${log.lines.length === 1 ? '' : 's'}${log.truncated ? ' (older lines left off)' : ''}.`}
              </p>
              {log.lines.length > 0 ? (
                <pre className="instance-log-lines" tabIndex={0} aria-label={`Log of ${open}`}>
                  {log.lines.join('\n')}
                </pre>
              ) : null}
            </>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

function instanceRows(status: ServiceStatus): InstanceRow[] {
  const rows: InstanceRow[] = [];
  const { stable, canary } = status.versions;
  if (stable) for (const i of stable.instances) rows.push({ ...i, version: stable.version, role: 'stable' });
  if (canary) for (const i of canary.instances) rows.push({ ...i, version: canary.version, role: 'canary' });
  return rows;
}
