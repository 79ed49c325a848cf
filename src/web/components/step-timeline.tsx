/** The plan of a release as a step timeline, with the current step marked and the weight as a bar. */
import type { Release } from '../api/types.js';
import { planTimeline, STATUS_TEXT } from './plan-timeline.js';

/** The weight bar's full width: 100% of the traffic. */
const FULL_WEIGHT = 100;

/** The phases and strategy steps of `release`; `visited` (the phases its events name) tells how far a stopped release got. */
export function StepTimeline({ release, visited }: { release: Release; visited?: ReadonlySet<string> }) {
  const entries = planTimeline(release, visited);
  // One entry is the current step: a strategy step when one is, else the phase.
  const stepIsCurrent = entries.some((e) => e.kind === 'step' && e.status === 'current');
  const weight = Math.min(FULL_WEIGHT, Math.max(0, release.weight));
  return (
    <div className="step-timeline">
      <ol className="plan-steps" aria-label="Plan steps">
        {entries.map((entry) => (
          <li
            key={entry.key}
            className={`plan-entry plan-${entry.kind} plan-${entry.status}`}
            aria-current={
              entry.status === 'current' && (entry.kind === 'step' || !stepIsCurrent) ? 'step' : undefined
            }
          >
            <span className="plan-mark" aria-hidden="true" />
            <span className="plan-label">{entry.label}</span>
            <span className="plan-status">{STATUS_TEXT[entry.status]}</span>
          </li>
        ))}
      </ol>
      <div className="weight">
        <span id={`weight-label-${release.id}`}>Traffic on {release.version}</span>
        <div
          className="weight-bar"
          role="meter"
          aria-labelledby={`weight-label-${release.id}`}
          aria-valuemin={0}
          aria-valuemax={FULL_WEIGHT}
          aria-valuenow={weight}
          aria-valuetext={`${weight}% of traffic on ${release.version}`}
        >
          <div className="weight-fill" style={{ width: `${weight}%` }} />
        </div>
        <span className="weight-number">{weight}%</span>
      </div>
    </div>
  );
}
