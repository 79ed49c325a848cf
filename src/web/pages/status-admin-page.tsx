/**
 * The status page, run from the dashboard: its components with their shown, derived and overridden
 * status; its incidents (open first) with their public updates; its scheduled maintenances; and its
 * subscribers counted. Deployers in every environment (what the API asks: the page is the whole
 * installation's) set and clear overrides, open, update and resolve incidents, and schedule and
 * move maintenances along; everyone else reads. The public page itself stays at `/status`.
 */
import { useCallback, useEffect, useState } from 'react';
import {
  MAINTENANCE_STATUSES,
  type PageComponent,
  type PageIncident,
  RESOLVED_STATUSES,
  type SubscriberCounts,
  clearComponentOverride,
  listPageComponents,
  listPageIncidents,
  listPageMaintenances,
  pageSubscriberCounts,
  resolvePageIncident,
  updatePageMaintenance,
} from '../api/status-page.js';
import { useConfirm } from '../components/confirm-dialog.js';
import { stateLabel } from '../components/state-badge.js';
import {
  IncidentUpdateForm,
  OpenPageIncidentForm,
  OverrideForm,
  ScheduleMaintenanceForm,
} from '../components/status-page-forms.js';
import { formatTime } from '../format.js';
import { mayDoEverywhere, useSession } from '../session.js';

/** How often the page reads itself again, so derived statuses and others' changes show up. */
const REFRESH_MS = 10_000;
/** Resolved incidents shown below the open ones. */
const RECENT_RESOLVED = 10;

/** Everything the page shows, read at once. */
interface PageData {
  components: PageComponent[];
  incidents: PageIncident[];
  maintenances: PageIncident[];
  subscribers: SubscriberCounts;
}

const TONE: Record<string, string> = {
  operational: 'ok',
  under_maintenance: 'info',
  degraded_performance: 'warn',
  partial_outage: 'bad',
  major_outage: 'bad',
  investigating: 'bad',
  identified: 'warn',
  monitoring: 'info',
  resolved: 'ok',
  postmortem: 'ok',
  scheduled: 'muted',
  in_progress: 'info',
  verifying: 'info',
  completed: 'ok',
  none: 'muted',
  minor: 'warn',
  major: 'bad',
  critical: 'bad',
};

/** A status or impact as a labelled badge; its colour never carries the meaning alone. */
function StatusBadge({ status, prefix }: { status: string; prefix?: string }) {
  return (
    <span className={`badge badge-${TONE[status] ?? 'muted'}`}>
      {prefix ? `${prefix} ` : ''}
      {stateLabel(status)}
    </span>
  );
}

/** The Status page's dashboard page. */
export function StatusAdminPage() {
  const { session } = useSession();
  const [data, setData] = useState<PageData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const { confirm, dialog } = useConfirm();
  const mayChange = mayDoEverywhere(session.user.roles, 'deployer');

  const read = useCallback(async (): Promise<void> => {
    try {
      const [components, incidents, maintenances, subscribers] = await Promise.all([
        listPageComponents(),
        listPageIncidents(),
        listPageMaintenances(),
        pageSubscriberCounts(),
      ]);
      setData({ components, incidents, maintenances, subscribers });
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, []);

  useEffect(() => {
    void read();
    const timer = setInterval(() => void read(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [read]);

  /** Runs a change, says what it did, and reads the page again. */
  const changed = async (said: string): Promise<void> => {
    setMessage(said);
    await read();
  };

  const header = (
    <>
      <h1>Status page</h1>
      <p className="muted">
        What the public reads at <a href="/status">the status page</a>, and how to change it.
        {mayChange ? '' : ' Changing it takes the deployer role in every environment.'}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {message && <p role="status">{message}</p>}
    </>
  );
  if (!data)
    return (
      <section className="status-admin-page">
        {header}
        {!error && <p className="muted">Loading the status page…</p>}
      </section>
    );

  const names = new Map(data.components.map((c) => [c.id, c.name]));
  const componentNames = (ids: readonly string[]): string =>
    ids.length === 0 ? 'none named' : ids.map((id) => names.get(id) ?? id).join(', ');
  const open = data.incidents.filter((i) => !RESOLVED_STATUSES.includes(i.status));
  const resolved = data.incidents
    .filter((i) => RESOLVED_STATUSES.includes(i.status))
    .slice(0, RECENT_RESOLVED);

  const incidentCard = (incident: PageIncident) => {
    const isOpen = !RESOLVED_STATUSES.includes(incident.status);
    return (
      <article
        key={incident.publicId}
        className="card status-incident"
        aria-labelledby={`incident-${incident.publicId}`}
      >
        <h3 id={`incident-${incident.publicId}`}>{incident.name}</h3>
        <div className="row">
          <StatusBadge status={incident.status} />
          <StatusBadge status={incident.impact} prefix="impact" />
          <span className="muted">
            Components: {componentNames(incident.components)}. Started {formatTime(incident.startedAt)}
            {incident.resolvedAt !== null ? `, resolved ${formatTime(incident.resolvedAt)}` : ''}.
          </span>
        </div>
        <ol className="incident-timeline" aria-label={`Updates: ${incident.name}`}>
          {incident.updates.map((u) => (
            <li key={u.publicId} className="incident-entry">
              <time dateTime={new Date(u.displayAt).toISOString()}>{formatTime(u.displayAt)}</time>
              <span className="incident-entry-kind">{u.status}</span>
              <span className="incident-entry-message">{u.body}</span>
            </li>
          ))}
        </ol>
        {mayChange && isOpen && (
          <>
            <IncidentUpdateForm
              incident={incident}
              onDone={() => changed(`Posted an update of "${incident.name}".`)}
            />
            <button
              type="button"
              aria-label={`Resolve: ${incident.name}`}
              onClick={() =>
                confirm({
                  title: `Resolve "${incident.name}"?`,
                  body: 'A last update says it is resolved, and the subscribers are told.',
                  confirmLabel: 'Resolve',
                  reason: { label: 'Last update (optional)', required: false },
                  run: async ({ reason }) => {
                    await resolvePageIncident(incident.publicId, reason.trim() || undefined);
                    await changed(`Resolved "${incident.name}".`);
                  },
                })
              }
            >
              Resolve
            </button>
          </>
        )}
      </article>
    );
  };

  const nextStatuses = (m: PageIncident): string[] => {
    const at = MAINTENANCE_STATUSES.indexOf(m.status as (typeof MAINTENANCE_STATUSES)[number]);
    return at < 0 ? [] : MAINTENANCE_STATUSES.slice(at + 1);
  };
  const moveLabel: Record<string, string> = {
    in_progress: 'Start',
    verifying: 'Verifying',
    completed: 'Complete',
  };

  return (
    <section className="status-admin-page">
      {header}

      <h2>Components</h2>
      <div className="table-wrap">
        <table className="data" aria-label="Components">
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">Shown</th>
              <th scope="col">Derived</th>
              <th scope="col">Override</th>
              {mayChange && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {data.components.map((c) => (
              <tr key={c.id}>
                <th scope="row">
                  {c.name}
                  <div className="muted mono">{c.services.join(', ')}</div>
                </th>
                <td>
                  <StatusBadge status={c.status} />
                </td>
                <td>
                  <StatusBadge status={c.derived} />
                </td>
                <td>
                  {c.override ? (
                    <>
                      {stateLabel(c.override.status)}{' '}
                      {c.override.until !== null ? `until ${formatTime(c.override.until)}` : 'until cleared'}
                      <div className="muted">
                        by {c.override.setBy}, {formatTime(c.override.setAt)}
                        {c.override.reason ? `: ${c.override.reason}` : ''}
                      </div>
                    </>
                  ) : (
                    <span className="muted">none</span>
                  )}
                </td>
                {mayChange && (
                  <td>
                    {c.override && (
                      <button
                        type="button"
                        aria-label={`Clear override: ${c.name}`}
                        onClick={() =>
                          confirm({
                            title: `Clear the override of ${c.name}?`,
                            body: `It shows its derived status again (${stateLabel(c.derived)}).`,
                            confirmLabel: 'Clear override',
                            run: async () => {
                              await clearComponentOverride(c.id);
                              await changed(`Cleared the override of ${c.name}.`);
                            },
                          })
                        }
                      >
                        Clear override
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {mayChange && data.components.length > 0 && (
        <OverrideForm components={data.components} onDone={() => changed('Set the status.')} />
      )}

      <h2>Incidents</h2>
      {mayChange && (
        <OpenPageIncidentForm
          components={data.components}
          onDone={(incident) => changed(`Opened "${incident.name}".`)}
        />
      )}
      {open.length === 0 ? <p className="muted">No open incident.</p> : open.map(incidentCard)}
      {resolved.length > 0 && (
        <>
          <h3>Recently resolved</h3>
          {resolved.map(incidentCard)}
        </>
      )}

      <h2>Maintenances</h2>
      {mayChange && (
        <ScheduleMaintenanceForm components={data.components} onDone={() => changed('Scheduled it.')} />
      )}
      {data.maintenances.length === 0 ? (
        <p className="muted">No maintenance scheduled.</p>
      ) : (
        <div className="table-wrap">
          <table className="data" aria-label="Maintenances">
            <thead>
              <tr>
                <th scope="col">Maintenance</th>
                <th scope="col">Status</th>
                <th scope="col">Components</th>
                <th scope="col">Window</th>
                <th scope="col">Last update</th>
                {mayChange && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {data.maintenances.map((m) => (
                <tr key={m.publicId}>
                  <th scope="row">{m.name}</th>
                  <td>
                    <StatusBadge status={m.status} />
                  </td>
                  <td>{componentNames(m.components)}</td>
                  <td className="nowrap">
                    {formatTime(m.scheduledFor)} to {formatTime(m.scheduledUntil)}
                  </td>
                  <td>{m.updates[0]?.body ?? ''}</td>
                  {mayChange && (
                    <td>
                      <div className="row">
                        {nextStatuses(m).map((status) => (
                          <button
                            key={status}
                            type="button"
                            aria-label={`${moveLabel[status] ?? status}: ${m.name}`}
                            onClick={() =>
                              confirm({
                                title: `Mark "${m.name}" ${stateLabel(status)}?`,
                                body: 'An update says so on the page, and the subscribers are told.',
                                confirmLabel: moveLabel[status] ?? status,
                                reason: { label: 'Update (optional)', required: false },
                                run: async ({ reason }) => {
                                  await updatePageMaintenance(m.publicId, {
                                    status,
                                    ...(reason.trim() ? { body: reason.trim() } : {}),
                                  });
                                  await changed(`Marked "${m.name}" ${stateLabel(status)}.`);
                                },
                              })
                            }
                          >
                            {moveLabel[status] ?? status}
                          </button>
                        ))}
                      </div>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Subscribers</h2>
      <p>
        {data.subscribers.confirmed} confirmed subscriber{data.subscribers.confirmed === 1 ? '' : 's'} receive
        updates.
      </p>
      {data.subscribers.subscribers.length > 0 && (
        <div className="table-wrap">
          <table className="data" aria-label="Subscribers">
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">State</th>
                <th scope="col">Count</th>
              </tr>
            </thead>
            <tbody>
              {data.subscribers.subscribers.map((s) => (
                <tr key={`${s.kind} ${s.state}`}>
                  <td>{s.kind}</td>
                  <td>{s.state}</td>
                  <td>{s.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {dialog}
    </section>
  );
}
