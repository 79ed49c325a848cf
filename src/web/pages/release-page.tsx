/**
 * One release, live: its header and controls, the plan, traffic, verdict and evidence, checklist,
 * instances and events. Everything is read once, then refreshed when the event stream says that
 * something changed (never on a timer); after a reconnect everything is read again.
 */
import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from '../api/client.js';
import {
  getRelease,
  releaseChecklist,
  releaseEvents,
  releaseMeasurements,
  releaseSamples,
  serviceStatus,
} from '../api/resources.js';
import type {
  ChecklistView,
  Measurement,
  Release,
  Sample,
  ServiceStatus,
  ShipcheckEvent,
} from '../api/types.js';
import { ChecklistGates } from '../components/checklist-gates.js';
import { EventTimeline } from '../components/event-timeline.js';
import { InstanceList } from '../components/instance-list.js';
import { ReleaseCharts } from '../components/release-charts.js';
import { ReleaseBaseline } from '../components/release-baseline.js';
import { ReleaseControls } from '../components/release-controls.js';
import { ReleaseRunbooks } from '../components/release-runbooks.js';
import { StateBadge } from '../components/state-badge.js';
import { phasesVisited } from '../components/plan-timeline.js';
import { StepTimeline } from '../components/step-timeline.js';
import { VerdictEvidence } from '../components/verdict-evidence.js';
import { formatDuration, formatTime } from '../format.js';
import { streamUrl, useEventStream } from '../live/event-stream.js';
import { RefreshCoalescer } from '../live/refresh-coalescer.js';
import { environmentOf, mayDo, useSession } from '../session.js';
import {
  REFRESH_WINDOW_MS,
  type Resource,
  appendMeasurement,
  appendSample,
  mergeEvents,
  staleAfter,
} from './release-page-state.js';

/** The page's sections, in order: their ids and h2 headings. */
const SECTIONS = {
  plan: 'Plan',
  traffic: 'Traffic',
  verdict: 'Verdict and evidence',
  checklist: 'Checklist',
  instances: 'Instances',
  events: 'Events',
  baseline: 'Performance baseline',
} as const;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The release page for release `id`. */
export function ReleasePage({ id }: { id: number }) {
  const { session } = useSession();
  const [release, setRelease] = useState<Release | null>(null);
  const [events, setEvents] = useState<ShipcheckEvent[]>([]);
  const [measurements, setMeasurements] = useState<Measurement[]>([]);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [checklist, setChecklist] = useState<ChecklistView | null>(null);
  const [status, setStatus] = useState<ServiceStatus | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [connected, setConnected] = useState<boolean | null>(null);
  // The unit is known once the release is read; the refreshes read it without re-creating themselves.
  const unit = useRef<string | null>(null);
  // Answers for another release (after navigating from one release page to another) are dropped.
  const current = useRef(id);
  current.current = id;

  // `what` names the read in its error; only the release itself missing makes the page "not found".
  const guard = useCallback(
    <T,>(what: string, read: Promise<T>, apply: (value: T) => void): Promise<void> =>
      read.then(
        (value) => {
          if (current.current === id) apply(value);
        },
        (err: unknown) => {
          if (current.current !== id) return;
          if (what === 'release' && err instanceof ApiError && err.status === 404) setNotFound(true);
          else setProblem(`Could not read the ${what}: ${message(err)}`);
        },
      ),
    [id],
  );

  const readStatus = useCallback(async (): Promise<void> => {
    if (unit.current === null) return;
    await guard('unit status', serviceStatus(unit.current), setStatus);
  }, [guard]);

  const readAll = useCallback(async (): Promise<void> => {
    setProblem(null);
    await Promise.all([
      guard('release', getRelease(id), (r) => {
        unit.current = r.service;
        setRelease(r);
      }),
      guard('events', releaseEvents(id), (list) => setEvents((old) => mergeEvents(old, list))),
      guard('measurements', releaseMeasurements(id), setMeasurements),
      guard('samples', releaseSamples(id), setSamples),
      guard('checklist', releaseChecklist(id), setChecklist),
    ]);
    await readStatus();
  }, [guard, id, readStatus]);

  // Made in an effect (not a memo) so that a remount gets a fresh one after the old one is disposed.
  const coalescer = useRef<RefreshCoalescer<Resource> | null>(null);
  useEffect(() => {
    const made = new RefreshCoalescer<Resource>((resource) => {
      if (resource === 'release') void guard('release', getRelease(id), setRelease);
      else if (resource === 'checklist') void guard('checklist', releaseChecklist(id), setChecklist);
      else void readStatus();
    }, REFRESH_WINDOW_MS);
    coalescer.current = made;
    return () => made.dispose();
  }, [guard, id, readStatus]);

  useEffect(() => {
    setRelease(null);
    setEvents([]);
    setMeasurements([]);
    setSamples([]);
    setChecklist(null);
    setStatus(null);
    setNotFound(false);
    unit.current = null;
    void readAll();
  }, [readAll]);

  useEventStream(streamUrl({ release: id }), {
    onEvent: (event) => {
      if (event.releaseId !== null && event.releaseId !== id) return;
      setEvents((old) => mergeEvents(old, [event]));
      for (const resource of staleAfter(event.type)) coalescer.current?.request(resource);
    },
    onSample: (sample) => setSamples((old) => appendSample(old, sample, id)),
    onMeasurement: (measurement) => setMeasurements((old) => appendMeasurement(old, measurement, id)),
    onReconnect: () => void readAll(),
    onConnection: setConnected,
  });

  const visited = useMemo(() => phasesVisited(events), [events]);

  if (notFound)
    return (
      <section>
        <h1>Release #{id}</h1>
        <p className="error" role="alert">
          Release #{id} was not found, or you may not view it.
        </p>
      </section>
    );
  if (!release)
    return (
      <section>
        <h1>Release #{id}</h1>
        {problem ? (
          <p className="error" role="alert">
            {problem}
          </p>
        ) : (
          <p className="loading">Loading…</p>
        )}
      </section>
    );

  const env = environmentOf(release.service);
  // The unit's status shows the instances of its newest release; an older release has none of its own now.
  const isLast = status?.release?.id === release.id;
  const ownStatus = isLast ? status : null;

  return (
    <article className="release-page">
      <ReleaseHeader release={release} connected={connected} />
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <ReleaseControls release={release} isLast={isLast} />
      <Section id="plan">
        <StepTimeline release={release} visited={visited} />
      </Section>
      <Section id="traffic">
        <ReleaseCharts samples={samples} measurements={measurements} events={events} />
      </Section>
      <Section id="verdict">
        <VerdictEvidence release={release} measurements={measurements} />
      </Section>
      <Section id="checklist">
        {checklist ? (
          <ChecklistGates release={release} checklist={checklist} />
        ) : (
          <p className="muted">Loading…</p>
        )}
      </Section>
      <ReleaseRunbooks unit={release.service} />
      <Section id="instances">
        <InstanceList
          unit={release.service}
          status={ownStatus}
          canViewLogs={mayDo(session.user.roles, 'deployer', env)}
        />
      </Section>
      <Section id="events">
        <EventTimeline events={events} />
      </Section>
      <Section id="baseline">
        <ReleaseBaseline id={release.id} refresh={checklist} />
      </Section>
    </article>
  );
}

function Section({ id, children }: { id: keyof typeof SECTIONS; children: ReactNode }) {
  const headingId = `release-${id}`;
  return (
    <section className="card release-section" aria-labelledby={headingId}>
      <h2 id={headingId}>{SECTIONS[id]}</h2>
      {children}
    </section>
  );
}

function ReleaseHeader({ release, connected }: { release: Release; connected: boolean | null }) {
  const ended = release.endedAt;
  const live = connected === null ? 'Connecting…' : connected ? 'Live' : 'Reconnecting…';
  return (
    <header className="release-header">
      <div className="release-title">
        <h1>
          Release #{release.id}: {release.service} {release.version}
        </h1>
        <p className={`live-status ${connected ? 'live-on' : 'live-off'}`} role="status">
          <span aria-hidden="true" className="live-dot" />
          {live}
        </p>
      </div>
      <dl className="release-facts">
        <div>
          <dt>Kind</dt>
          <dd>{release.kind === 'rollback' ? 'Rollback release' : release.kind}</dd>
        </div>
        <div>
          <dt>From</dt>
          <dd>{release.fromVersion ?? 'none (first release)'}</dd>
        </div>
        <div>
          <dt>State</dt>
          <dd data-testid="release-state">
            <StateBadge state={release.state} />
          </dd>
        </div>
        <div>
          <dt>Phase</dt>
          <dd>{release.phase}</dd>
        </div>
        <div>
          <dt>Weight</dt>
          <dd data-testid="release-weight">{release.weight}%</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatTime(release.createdAt)}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd>{ended ? formatTime(ended) : 'not yet'}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>
            {ended
              ? formatDuration(ended - release.createdAt)
              : `${formatDuration(release.updatedAt - release.createdAt)} so far`}
          </dd>
        </div>
        <div>
          <dt>Checklist and evidence</dt>
          <dd>
            <a href={`/api/v1/releases/${release.id}/report`} download>
              Report
            </a>
          </dd>
        </div>
      </dl>
      {release.reason && (
        <p className="release-reason">
          <strong>Reason:</strong> <span data-testid="release-reason">{release.reason}</span>
        </p>
      )}
    </header>
  );
}
