/**
 * A release's plan as a list of entries (its phases with the strategy steps inside the canary phase),
 * each marked done, current, pending, skipped or stopped. Pure, so the StepTimeline only draws it.
 */
import type { Release } from '../api/types.js';
import { isEnded } from '../format.js';

/** Where an entry stands; each is shown as text, not only as a colour. */
export type EntryStatus = 'done' | 'current' | 'pending' | 'skipped' | 'stopped';

/** The words each status is shown with. */
export const STATUS_TEXT: Record<EntryStatus, string> = {
  done: 'done',
  current: 'now',
  pending: 'pending',
  skipped: 'skipped',
  stopped: 'stopped here',
};

/** One entry of the timeline. */
export interface PlanEntry {
  key: string;
  /** A phase of the release or one of its strategy steps. */
  kind: 'phase' | 'step';
  label: string;
  status: EntryStatus;
}

/** The phases a deploy goes through, in order; `canary` holds the strategy steps. */
const PHASE_ORDER = [
  'pre-deploy',
  'migrating',
  'starting',
  'canary',
  'verifying',
  'verify',
  'post-deploy',
  'completed',
];
/** Phases shown only while a release is in them: most releases have no migrations. */
const SHOWN_ONLY_WHEN_CURRENT: ReadonlySet<string> = new Set(['migrating']);
/** A rollback release starts here: the previous version is warm, so it skips the canary. */
const ROLLBACK_START = 'verifying';

/** The step as written in the plan, else the server's stepName for the current step. */
export function stepLabel(release: Release, index: number): string {
  const written = release.plan?.[index] ?? (index === release.step ? release.stepName : null);
  return `Step ${index + 1}${written ? `: ${written}` : ''}`;
}

function phaseLabel(phase: string, release: Release): string {
  switch (phase) {
    case 'pre-deploy':
      return 'Pre-deploy gate';
    case 'migrating':
      return 'Migrations';
    case 'starting':
      return `Starting ${release.version}`;
    case 'canary':
      return 'Canary steps';
    case 'verifying':
      return 'Verifying at 100%';
    case 'verify':
      return 'Verify gate';
    case 'post-deploy':
      return 'Post-deploy gate';
    case 'completed':
      return 'Completed';
    default:
      return phase;
  }
}

/** The phases a release's events were recorded in (each stored release event names its phase in `data.phase`). */
export function phasesVisited(events: readonly { data: Record<string, unknown> }[]): Set<string> {
  const phases = new Set<string>();
  for (const event of events) if (typeof event.data.phase === 'string') phases.add(event.data.phase);
  return phases;
}

/** Phases a release may pass over: a first release has no canary and no bake at 100%. */
const SKIPPABLE: ReadonlySet<string> = new Set(['canary', 'verifying']);

/**
 * The timeline of `release`. `visited` (from {@link phasesVisited}) tells how far a stopped release
 * got, since its phase is `rolling-back` or `completed` by then, and which phases it passed over.
 */
export function planTimeline(release: Release, visited: ReadonlySet<string> = new Set()): PlanEntry[] {
  const stepCount = Math.max(release.steps, release.plan?.length ?? 0);
  const stopped =
    release.phase === 'rolling-back' || (isEnded(release.state) && release.state !== 'succeeded');
  const rollbackKind = release.kind === 'rollback';
  // A stopped release's last events are recorded in `completed` (and `rolling-back`): how far it
  // got is the furthest phase of its plan before those.
  const furthest = Math.max(
    -1,
    ...[...visited].filter((phase) => phase !== 'completed').map((phase) => PHASE_ORDER.indexOf(phase)),
  );

  // The position the release has reached, as an index in PHASE_ORDER.
  let at: number;
  if (release.state === 'succeeded') at = PHASE_ORDER.length;
  else if (!stopped) at = Math.max(0, PHASE_ORDER.indexOf(release.phase));
  else if (furthest >= 0) at = furthest;
  else if (release.step > 0 || rollbackKind)
    at = PHASE_ORDER.indexOf(rollbackKind ? ROLLBACK_START : 'canary');
  else at = PHASE_ORDER.indexOf('starting');

  const skippedBefore = rollbackKind ? PHASE_ORDER.indexOf(ROLLBACK_START) : 0;
  const statusOf = (index: number): EntryStatus => {
    const phase = PHASE_ORDER[index]!;
    if (index < skippedBefore) return 'skipped';
    if (index < at)
      return visited.size > 0 && SKIPPABLE.has(phase) && !visited.has(phase) ? 'skipped' : 'done';
    if (index > at) return stopped ? 'skipped' : 'pending';
    return stopped ? 'stopped' : 'current';
  };

  const entries: PlanEntry[] = [];
  PHASE_ORDER.forEach((phase, index) => {
    if (SHOWN_ONLY_WHEN_CURRENT.has(phase) && phase !== release.phase) return;
    // `completed` is the end of a successful plan; a stopped release ends with its own entry below.
    if (phase === 'completed' && stopped) return;
    const status = statusOf(index);
    entries.push({ key: phase, kind: 'phase', label: phaseLabel(phase, release), status });
    if (phase !== 'canary') return;
    for (let step = 0; step < stepCount; step++) {
      let stepStatus: EntryStatus;
      if (status !== 'current' && status !== 'stopped') stepStatus = status;
      else if (step < release.step) stepStatus = 'done';
      else if (step > release.step) stepStatus = status === 'stopped' ? 'skipped' : 'pending';
      else stepStatus = status;
      entries.push({
        key: `step-${step}`,
        kind: 'step',
        label: stepLabel(release, step),
        status: stepStatus,
      });
    }
  });

  if (release.phase === 'rolling-back')
    entries.push({
      key: 'rolling-back',
      kind: 'phase',
      label: `Rolling back to ${release.fromVersion ?? 'the previous version'}`,
      status: 'current',
    });
  else if (stopped)
    entries.push({
      key: 'ended',
      kind: 'phase',
      label: `Ended ${release.state.replaceAll('_', ' ')}`,
      status: 'done',
    });
  return entries;
}
