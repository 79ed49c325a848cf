/**
 * The forms of the Status page's dashboard page, for deployers: set a component's status by hand,
 * open a page incident, post an update of one, and schedule a maintenance. Each shows the API's
 * own message when it refuses, and hands what changed to `onDone` so the page reads itself again.
 */
import { type FormEvent, useState } from 'react';
import {
  COMPONENT_STATUSES,
  IMPACTS,
  INCIDENT_STATUSES,
  OPEN_INCIDENT_STATUSES,
  type PageComponent,
  type PageIncident,
  openPageIncident,
  schedulePageMaintenance,
  setComponentOverride,
  updatePageIncident,
} from '../api/status-page.js';
import { stateLabel } from './state-badge.js';
import { ChoiceField } from './choice-field.js';

/** A form's submit: busy while it runs, the API's message when it fails, `onDone` when it worked. */
function useSubmit(): {
  busy: boolean;
  error: string | null;
  run: (event: FormEvent, action: () => Promise<void>) => Promise<void>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (event: FormEvent, action: () => Promise<void>): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/**
 * A `datetime-local` value (the browser's time zone) as ISO 8601; empty as null. A value the
 * browser cannot read goes as it is, and the API says what is wrong with it.
 */
export function isoFromLocal(value: string): string | null {
  if (value.trim() === '') return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

function FormError({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}

/** Checkboxes for the page's components; `selected` holds their ids. */
function ComponentChecks({
  components,
  selected,
  onChange,
}: {
  components: readonly PageComponent[];
  selected: readonly string[];
  onChange: (ids: string[]) => void;
}) {
  return (
    <fieldset className="component-checks">
      <legend>Components</legend>
      {components.map((c) => (
        <label key={c.id} className="checkbox">
          <input
            type="checkbox"
            checked={selected.includes(c.id)}
            onChange={(e) =>
              onChange(e.target.checked ? [...selected, c.id] : selected.filter((id) => id !== c.id))
            }
          />{' '}
          {c.name}
        </label>
      ))}
    </fieldset>
  );
}

/** Sets a component's status by hand, with an optional end and reason. */
export function OverrideForm({
  components,
  onDone,
}: {
  components: readonly PageComponent[];
  onDone: () => Promise<void>;
}) {
  const [component, setComponent] = useState(components[0]?.id ?? '');
  const [status, setStatus] = useState<string>('degraded_performance');
  const [until, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const { busy, error, run } = useSubmit();

  const submit = (event: FormEvent): Promise<void> =>
    run(event, async () => {
      await setComponentOverride(component, {
        status,
        until: isoFromLocal(until),
        reason: reason.trim() || null,
      });
      setUntil('');
      setReason('');
      await onDone();
    });

  return (
    <form className="card status-form" aria-label="Set a component's status" onSubmit={(e) => void submit(e)}>
      <h3>Set a component&apos;s status</h3>
      <div className="toolbar">
        <label className="field">
          <span>Component</span>
          <select value={component} onChange={(e) => setComponent(e.target.value)}>
            {components.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            {COMPONENT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {stateLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Until (optional, your time)</span>
          <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        <label className="field status-form-wide">
          <span>Reason (optional)</span>
          <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} />
        </label>
        <button type="submit" className="primary" disabled={busy || component === ''}>
          {busy ? 'Setting…' : 'Set status'}
        </button>
      </div>
      <FormError error={error} />
    </form>
  );
}

/** Opens a page incident: its name, first update, status, impact and components. */
export function OpenPageIncidentForm({
  components,
  onDone,
}: {
  components: readonly PageComponent[];
  onDone: (incident: PageIncident) => Promise<void>;
}) {
  const [name, setName] = useState('');
  const [body, setBody] = useState('');
  const [status, setStatus] = useState<string>('investigating');
  const [impact, setImpact] = useState<string>('minor');
  const [selected, setSelected] = useState<string[]>([]);
  const { busy, error, run } = useSubmit();

  const submit = (event: FormEvent): Promise<void> =>
    run(event, async () => {
      const incident = await openPageIncident({ name, body, status, impact, components: selected });
      setName('');
      setBody('');
      setSelected([]);
      await onDone(incident);
    });

  return (
    <form className="card status-form" aria-label="Open a page incident" onSubmit={(e) => void submit(e)}>
      <h3>Open a page incident</h3>
      <div className="toolbar">
        <label className="field status-form-wide">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />
        </label>
        <ChoiceField label="Status" value={status} choices={OPEN_INCIDENT_STATUSES} onChange={setStatus} />
        <ChoiceField label="Impact" value={impact} choices={IMPACTS} onChange={setImpact} />
      </div>
      <label className="field">
        <span>What the public reads</span>
        <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={3} maxLength={10_000} />
      </label>
      <ComponentChecks components={components} selected={selected} onChange={setSelected} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Opening…' : 'Open incident'}
      </button>
      <FormError error={error} />
    </form>
  );
}

/** Posts an update of an open page incident: a status and what the public reads. */
export function IncidentUpdateForm({
  incident,
  onDone,
}: {
  incident: PageIncident;
  onDone: () => Promise<void>;
}) {
  const [status, setStatus] = useState<string>(incident.status);
  const [body, setBody] = useState('');
  const { busy, error, run } = useSubmit();

  const submit = (event: FormEvent): Promise<void> =>
    run(event, async () => {
      await updatePageIncident(incident.publicId, { status, body });
      setBody('');
      await onDone();
    });

  return (
    <form
      className="status-update-form"
      aria-label={`Post an update: ${incident.name}`}
      onSubmit={(e) => void submit(e)}
    >
      <div className="toolbar">
        <ChoiceField label="Status" value={status} choices={INCIDENT_STATUSES} onChange={setStatus} />
        <label className="field status-form-wide">
          <span>Update</span>
          <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={2} maxLength={10_000} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Posting…' : 'Post update'}
        </button>
      </div>
      <FormError error={error} />
    </form>
  );
}

/** Schedules a maintenance of some components between two times. */
export function ScheduleMaintenanceForm({
  components,
  onDone,
}: {
  components: readonly PageComponent[];
  onDone: () => Promise<void>;
}) {
  const [name, setName] = useState('');
  const [from, setFrom] = useState('');
  const [until, setUntil] = useState('');
  const [body, setBody] = useState('');
  const [selected, setSelected] = useState<string[]>([]);
  const { busy, error, run } = useSubmit();

  const submit = (event: FormEvent): Promise<void> =>
    run(event, async () => {
      await schedulePageMaintenance({
        name,
        components: selected,
        scheduledFor: isoFromLocal(from) ?? '',
        scheduledUntil: isoFromLocal(until) ?? '',
        ...(body.trim() ? { body } : {}),
      });
      setName('');
      setFrom('');
      setUntil('');
      setBody('');
      setSelected([]);
      await onDone();
    });

  return (
    <form className="card status-form" aria-label="Schedule a maintenance" onSubmit={(e) => void submit(e)}>
      <h3>Schedule a maintenance</h3>
      <div className="toolbar">
        <label className="field status-form-wide">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />
        </label>
        <label className="field">
          <span>From (your time)</span>
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label className="field">
          <span>Until (your time)</span>
          <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
      </div>
      <label className="field">
        <span>What the public reads (optional)</span>
        <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={2} maxLength={10_000} />
      </label>
      <ComponentChecks components={components} selected={selected} onChange={setSelected} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Scheduling…' : 'Schedule maintenance'}
      </button>
      <FormError error={error} />
    </form>
  );
}
