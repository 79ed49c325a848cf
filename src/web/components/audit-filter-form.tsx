/** The audit log's filters: actor, action, service and a time range, applied to the page's URL. */
import { type FormEvent, useEffect, useState } from 'react';
import { type AuditFilters, isoOfLocalInput, localInputOf } from '../audit-query.js';

/** Actions people filter by most; the input takes any other too. */
const COMMON_ACTIONS = [
  'login',
  'logout',
  'release.deploy',
  'release.promote',
  'release.pause',
  'release.resume',
  'release.abort',
  'release.rollback',
  'checklist.sign',
  'checklist.waive',
  'checklist.rerun',
  'user.add',
  'user.disable',
  'user.enable',
  'user.roles',
  'token.create',
  'token.revoke',
  'mfa.enrol',
  'mfa.confirm',
  'mfa.verify',
];

/** The filter form; `onApply` gets the filters with ISO times. */
export function AuditFilterForm({
  filters,
  onApply,
}: {
  filters: AuditFilters;
  onApply: (filters: AuditFilters) => void;
}) {
  const [actor, setActor] = useState(filters.actor);
  const [action, setAction] = useState(filters.action);
  const [service, setService] = useState(filters.service);
  const [since, setSince] = useState(localInputOf(filters.since));
  const [until, setUntil] = useState(localInputOf(filters.until));

  // The URL can change under the form (back button): show what it says.
  useEffect(() => {
    setActor(filters.actor);
    setAction(filters.action);
    setService(filters.service);
    setSince(localInputOf(filters.since));
    setUntil(localInputOf(filters.until));
  }, [filters.actor, filters.action, filters.service, filters.since, filters.until]);

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    onApply({ actor, action, service, since: isoOfLocalInput(since), until: isoOfLocalInput(until) });
  };
  const clear = (): void => onApply({ actor: '', action: '', service: '', since: '', until: '' });

  return (
    <form className="toolbar audit-filters" aria-label="Filter audit entries" onSubmit={submit}>
      <label className="field">
        <span>Actor</span>
        <input value={actor} onChange={(e) => setActor(e.target.value)} placeholder="ana" />
      </label>
      <label className="field">
        <span>Action</span>
        <input
          value={action}
          onChange={(e) => setAction(e.target.value)}
          list="audit-actions"
          placeholder="release.deploy"
        />
        <datalist id="audit-actions">
          {COMMON_ACTIONS.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
      </label>
      <label className="field">
        <span>Service</span>
        <input value={service} onChange={(e) => setService(e.target.value)} placeholder="web" />
      </label>
      <label className="field">
        <span>Since</span>
        <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
      </label>
      <label className="field">
        <span>Until</span>
        <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
      </label>
      <div className="row">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={clear}>
          Clear
        </button>
      </div>
    </form>
  );
}
