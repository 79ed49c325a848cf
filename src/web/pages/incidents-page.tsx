/**
 * Incidents across the installation, newest first, filtered by state in the URL query; deployers can
 * open one by hand.
 */
import { useCallback, useEffect, useState } from 'react';
import { listIncidents } from '../api/resources.js';
import type { Incident } from '../api/types.js';
import { IncidentsTable } from '../components/incidents-table.js';
import { OpenIncidentForm } from '../components/open-incident-form.js';
import { navigate, useLocation } from '../router.js';
import { useSession } from '../session.js';

const STATES = ['', 'triggered', 'acknowledged', 'resolved'] as const;
/** Incidents shown at most. */
const LIMIT = 200;

/** Whether `roles` hold the deployer role (or higher) anywhere. */
function deploysSomewhere(roles: readonly string[]): boolean {
  return roles.some((grant) => ['deployer', 'approver', 'admin'].includes(grant.split('@')[0] ?? ''));
}

/** The incidents page. */
export function IncidentsPage() {
  const { session } = useSession();
  const { search } = useLocation();
  const state = search.get('state') ?? '';
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const load = useCallback(async (): Promise<void> => {
    try {
      setIncidents(await listIncidents({ ...(state ? { state } : {}), limit: LIMIT }));
      setNow(Date.now());
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [state]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section className="incidents-page">
      <h1>Incidents</h1>
      {deploysSomewhere(session.user.roles) && (
        <OpenIncidentForm onOpened={(detail) => navigate(`/incidents/${detail.incident.id}`)} />
      )}
      <div className="toolbar">
        <label className="field">
          <span>State</span>
          <select
            value={state}
            onChange={(e) =>
              navigate(`/incidents${e.target.value ? `?state=${e.target.value}` : ''}`, { replace: true })
            }
          >
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {incidents === null ? (
        <p className="muted">Loading incidents…</p>
      ) : (
        <IncidentsTable incidents={incidents} now={now} />
      )}
    </section>
  );
}
