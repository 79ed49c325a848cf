/** The form that opens an incident by hand: a title, a severity, optionally a service and the status page. */
import { type FormEvent, useState } from 'react';
import { openIncident } from '../api/resources.js';
import type { IncidentDetail } from '../api/types.js';
import { ChoiceField } from './choice-field.js';

const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;

/** Opens an incident and hands the answer to `onOpened`. */
export function OpenIncidentForm({ onOpened }: { onOpened: (detail: IncidentDetail) => void }) {
  const [title, setTitle] = useState('');
  const [severity, setSeverity] = useState<string>('error');
  const [service, setService] = useState('');
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const detail = await openIncident({
        title,
        severity,
        ...(service.trim() ? { service: service.trim() } : {}),
        ...(shown ? { public: true } : {}),
      });
      setTitle('');
      setService('');
      setShown(false);
      onOpened(detail);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card open-incident-form" onSubmit={(e) => void submit(e)}>
      <h2>Open an incident</h2>
      <div className="toolbar">
        <label className="field incident-title-field">
          <span>Title</span>
          <input value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={200} />
        </label>
        <ChoiceField label="Severity" value={severity} choices={SEVERITIES} onChange={setSeverity} />
        <label className="field">
          <span>Service (optional)</span>
          <input value={service} onChange={(e) => setService(e.target.value)} placeholder="web@production" />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={shown} onChange={(e) => setShown(e.target.checked)} /> Show on the
          status page
        </label>
        <button type="submit" className="primary" disabled={busy || title.trim() === ''}>
          {busy ? 'Opening…' : 'Open incident'}
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
