/**
 * Why the release is where it is: each trigger's latest evaluation, the reason a release stopped
 * with the measurement behind it, and every raw measurement with its inputs.
 */
import { useMemo, useState } from 'react';
import type { Measurement, Release } from '../api/types.js';
import { formatDuration, formatTime } from '../format.js';
import { formatMeasured } from './chart-data.js';
import { StateBadge } from './state-badge.js';

/** How many measurements the table shows before `Show all`: enough for a release, light on a long one. */
export const MEASUREMENT_ROWS = 200;

/** Release states whose reason is the verdict: the reader should see it first. */
const STOPPED_STATES: ReadonlySet<string> = new Set(['rolled_back', 'paused', 'failed']);

/** The verdict of a release and the evidence behind it. */
export function VerdictEvidence(props: { release: Release; measurements: Measurement[] }) {
  const { release, measurements } = props;
  const newestFirst = useMemo(() => [...measurements].sort((a, b) => b.at - a.at), [measurements]);
  const latestByTrigger = useMemo(() => {
    const latest = new Map<string, Measurement>();
    for (const m of newestFirst) if (!latest.has(m.trigger)) latest.set(m.trigger, m);
    // Triggers in the order they were first evaluated, which is the order they are written in.
    return [...latest.values()].sort(
      (a, b) => firstSeen(measurements, a.trigger) - firstSeen(measurements, b.trigger),
    );
  }, [newestFirst, measurements]);
  // The newest failing or inconclusive evaluation that is still its trigger's latest: a pause at a
  // manual step, after an old blip that later passed, has no measurement to blame.
  const cause = STOPPED_STATES.has(release.state)
    ? newestFirst.find((m) => m.verdict !== 'pass' && latestByTrigger.includes(m))
    : undefined;

  return (
    <div className="verdict-evidence">
      {STOPPED_STATES.has(release.state) && release.reason ? (
        <div
          className={cause ? 'verdict-cause' : 'verdict-cause verdict-cause-held'}
          data-testid="verdict-cause"
        >
          <p>
            <StateBadge state={release.state} /> <strong>{release.reason}</strong>
          </p>
          {cause ? (
            <div className="verdict-cause-measurement">
              <p className="row">
                <span>Caused by</span>
                <StateBadge state={cause.verdict} />
                <strong className="mono">{cause.trigger}</strong>
                <span>on {cause.version}</span>
              </p>
              <EvaluationFigures measurement={cause} />
              {cause.message ? <p className="trigger-message">{cause.message}</p> : null}
            </div>
          ) : null}
        </div>
      ) : null}

      {latestByTrigger.length === 0 ? (
        <p className="muted">No trigger has been evaluated yet.</p>
      ) : (
        <ul className="trigger-verdicts" aria-label="Latest evaluation of each trigger">
          {latestByTrigger.map((m) => (
            <li key={m.trigger} className="trigger-verdict">
              <div className="row">
                <StateBadge state={m.verdict} />
                <strong className="mono">{m.trigger}</strong>
              </div>
              <EvaluationFigures measurement={m} />
              {m.message ? <p className="trigger-message">{m.message}</p> : null}
            </li>
          ))}
        </ul>
      )}

      <MeasurementTable newestFirst={newestFirst} />
    </div>
  );
}

/** One evaluation's figures: measured value, threshold, window, request count and time. */
function EvaluationFigures({ measurement: m }: { measurement: Measurement }) {
  return (
    <dl className="trigger-figures">
      <div>
        <dt>Measured</dt>
        <dd>{formatMeasured(m.metric, m.value)}</dd>
      </div>
      <div>
        <dt>Threshold</dt>
        <dd>{formatMeasured(m.metric, m.threshold)}</dd>
      </div>
      <div>
        <dt>Window</dt>
        <dd>{m.windowMs > 0 ? formatDuration(m.windowMs) : '—'}</dd>
      </div>
      <div>
        <dt>Requests</dt>
        <dd>{m.requests.toLocaleString('en-US')}</dd>
      </div>
      <div>
        <dt>At</dt>
        <dd>{formatTime(m.at)}</dd>
      </div>
    </dl>
  );
}

function firstSeen(measurements: readonly Measurement[], trigger: string): number {
  let first = Infinity;
  for (const m of measurements) if (m.trigger === trigger && m.at < first) first = m.at;
  return first;
}

/** The raw measurements, newest first, the last {@link MEASUREMENT_ROWS} unless asked for all. */
function MeasurementTable({ newestFirst }: { newestFirst: Measurement[] }) {
  const [all, setAll] = useState(false);
  const rows = all ? newestFirst : newestFirst.slice(0, MEASUREMENT_ROWS);
  const hidden = newestFirst.length - rows.length;
  return (
    <div className="measurements">
      <h3>Measurements</h3>
      <div className="table-wrap">
        <table className="data" aria-label="Measurements">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Rule</th>
              <th scope="col">Version</th>
              <th scope="col" className="num">
                Value
              </th>
              <th scope="col" className="num">
                Threshold
              </th>
              <th scope="col" className="num">
                Window
              </th>
              <th scope="col" className="num">
                Requests
              </th>
              <th scope="col">Verdict</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={8} className="muted">
                  No measurements yet.
                </td>
              </tr>
            ) : (
              rows.map((m, i) => (
                <tr key={m.id ?? `${m.at}-${m.trigger}-${i}`}>
                  <td className="nowrap">{formatTime(m.at)}</td>
                  <td className="mono">{m.trigger}</td>
                  <td>{m.version}</td>
                  <td className="num">{formatMeasured(m.metric, m.value)}</td>
                  <td className="num">{formatMeasured(m.metric, m.threshold)}</td>
                  <td className="num">{m.windowMs > 0 ? formatDuration(m.windowMs) : '—'}</td>
                  <td className="num">{m.requests.toLocaleString('en-US')}</td>
                  <td>
                    <StateBadge state={m.verdict} />
                    <details className="measurement-inputs">
                      <summary>Inputs</summary>
                      {m.message ? <p>{m.message}</p> : null}
                      <pre tabIndex={0}>{JSON.stringify(m.inputs, null, 2)}</pre>
                    </details>
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      {hidden > 0 || all ? (
        <p className="row">
          <span className="muted">
            {all
              ? `Showing all ${newestFirst.length} measurements.`
              : `Showing the newest ${rows.length} of ${newestFirst.length} measurements.`}
          </span>
          <button type="button" onClick={() => setAll(!all)}>
            {all ? `Show the newest ${MEASUREMENT_ROWS}` : 'Show all'}
          </button>
        </p>
      ) : null}
    </div>
  );
}
