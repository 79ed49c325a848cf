/**
 * One incident: what it is, where escalation stands, its timeline, and (for deployers where its unit
 * is) the controls to acknowledge, resolve, add a note and write the postmortem, each confirmed first.
 */
import { useCallback, useEffect, useState } from 'react';
import { changeIncident, getIncident, noteIncident, postmortemIncident } from '../api/resources.js';
import type { IncidentDetail } from '../api/types.js';
import { useConfirm } from '../components/confirm-dialog.js';
import { IncidentStateBadge, SeverityBadge } from '../components/incident-badges.js';
import { IncidentTimeline } from '../components/incident-timeline.js';
import { formatTime } from '../format.js';
import { Link } from '../router.js';
import { environmentOf, mayDo, useSession } from '../session.js';

/** The incident page for incident `id`. */
export function IncidentPage({ id }: { id: number }) {
  const { session } = useSession();
  const [detail, setDetail] = useState<IncidentDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { confirm, dialog } = useConfirm();

  const load = useCallback(async (): Promise<void> => {
    try {
      setDetail(await getIncident(id));
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  if (error && !detail)
    return (
      <section>
        <h1>Incident #{id}</h1>
        <p className="error" role="alert">
          {error}
        </p>
        <Link to="/incidents">All incidents</Link>
      </section>
    );
  if (!detail) return <p className="loading">Loading incident #{id}…</p>;

  const { incident, timeline } = detail;
  const roles = session.user.roles;
  const mayChange = incident.service
    ? mayDo(roles, 'deployer', environmentOf(incident.service))
    : roles.some((g) => mayDo([g], 'deployer', g.split('@')[1] ?? null));
  const open = incident.state !== 'resolved';
  const done = async (next: Promise<IncidentDetail>): Promise<void> => setDetail(await next);
  const escalation = incident.escalation;

  return (
    <section className="incident-page">
      <p>
        <Link to="/incidents">All incidents</Link>
      </p>
      <h1>
        Incident #{incident.id}: {incident.title}
      </h1>
      <div className="row incident-summary">
        <IncidentStateBadge state={incident.state} />
        <SeverityBadge severity={incident.severity} />
        {incident.public && <span className="badge badge-info">on the status page</span>}
      </div>
      <dl className="incident-facts card">
        <dt>Service</dt>
        <dd>{incident.service ?? '—'}</dd>
        <dt>Source</dt>
        <dd>{incident.source}</dd>
        <dt>Dedup key</dt>
        <dd>
          <code>{incident.key}</code>
        </dd>
        {incident.releaseId !== null && (
          <>
            <dt>Release</dt>
            <dd>
              <Link to={`/releases/${incident.releaseId}`}>#{incident.releaseId}</Link>
            </dd>
          </>
        )}
        <dt>Escalation</dt>
        <dd>
          {incident.policy === null
            ? 'none (nobody is paged)'
            : escalation.exhausted
              ? `policy ${incident.policy}: exhausted`
              : `policy ${incident.policy}: step ${escalation.step + 1}${escalation.round > 0 ? `, repeat ${escalation.round}` : ''}${escalation.nextAt !== null ? `; next ${formatTime(escalation.nextAt)}` : ''}`}
        </dd>
        <dt>Opened</dt>
        <dd>{formatTime(incident.createdAt)}</dd>
        {incident.acknowledgedBy && (
          <>
            <dt>Acknowledged</dt>
            <dd>
              {incident.acknowledgedBy}, {formatTime(incident.acknowledgedAt)}
            </dd>
          </>
        )}
        {incident.resolvedBy && (
          <>
            <dt>Resolved</dt>
            <dd>
              {incident.resolvedBy}, {formatTime(incident.resolvedAt)}
            </dd>
          </>
        )}
      </dl>
      {mayChange && (
        <div className="row incident-controls">
          {incident.state === 'triggered' && (
            <button
              type="button"
              className="primary"
              onClick={() =>
                confirm({
                  title: `Acknowledge incident #${incident.id}?`,
                  body: 'Escalation stops, and everyone paged so far hears that you are on it.',
                  confirmLabel: 'Acknowledge',
                  reason: { label: 'Message (optional)', required: false },
                  run: ({ reason }) => done(changeIncident(incident.id, 'ack', reason.trim() || undefined)),
                })
              }
            >
              Acknowledge
            </button>
          )}
          {open && (
            <button
              type="button"
              onClick={() =>
                confirm({
                  title: `Resolve incident #${incident.id}?`,
                  body: 'Escalation stops for good, and everyone paged so far hears it is resolved.',
                  confirmLabel: 'Resolve',
                  reason: { label: 'Message (optional)', required: false },
                  run: ({ reason }) =>
                    done(changeIncident(incident.id, 'resolve', reason.trim() || undefined)),
                })
              }
            >
              Resolve
            </button>
          )}
          <button
            type="button"
            onClick={() =>
              confirm({
                title: `Add a note to incident #${incident.id}`,
                body: 'The note is added to the timeline.',
                confirmLabel: 'Add note',
                reason: { label: 'Note', required: true },
                run: ({ reason }) => done(noteIncident(incident.id, { message: reason })),
              })
            }
          >
            Add note
          </button>
          <button
            type="button"
            onClick={() =>
              confirm({
                title: incident.public
                  ? `Take incident #${incident.id} off the status page?`
                  : `Show incident #${incident.id} on the status page?`,
                body: 'Say why; the note is added to the timeline.',
                confirmLabel: incident.public ? 'Take it off' : 'Show it',
                reason: { label: 'Note', required: true },
                run: ({ reason }) =>
                  done(noteIncident(incident.id, { message: reason, public: !incident.public })),
              })
            }
          >
            {incident.public ? 'Take off the status page' : 'Show on the status page'}
          </button>
          <button
            type="button"
            onClick={() =>
              confirm({
                title: `Postmortem of incident #${incident.id}`,
                body: incident.postmortem
                  ? 'This replaces the postmortem written before.'
                  : 'What happened, why, and what changes now.',
                confirmLabel: 'Save postmortem',
                reason: { label: 'Postmortem', required: true },
                run: ({ reason }) => done(postmortemIncident(incident.id, reason)),
              })
            }
          >
            {incident.postmortem ? 'Replace postmortem' : 'Write postmortem'}
          </button>
        </div>
      )}
      {incident.postmortem && (
        <div className="card incident-postmortem">
          <h2>Postmortem</h2>
          <p>{incident.postmortem}</p>
        </div>
      )}
      <h2>Timeline</h2>
      <IncidentTimeline entries={timeline} />
      {dialog}
    </section>
  );
}
