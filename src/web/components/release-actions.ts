/**
 * Which release controls apply, and what each one's confirmation says will happen. Pure, so the
 * rules are tested without a browser; the API still decides every request.
 */
import type { Release } from '../api/types.js';
import { isEnded } from '../format.js';

/** A control of the release page, in the order the buttons appear. */
export type ReleaseAction = 'promote' | 'promote-full' | 'pause' | 'resume' | 'abort' | 'rollback';

/** Every control, in button order. */
export const RELEASE_ACTIONS: readonly ReleaseAction[] = [
  'promote',
  'promote-full',
  'pause',
  'resume',
  'abort',
  'rollback',
];

/** A control's button label and its dialog's confirm label (the browser tests use both). */
export const ACTION_LABELS: Record<ReleaseAction, { button: string; confirm: string }> = {
  promote: { button: 'Promote', confirm: 'Promote release' },
  'promote-full': { button: 'Promote fully', confirm: 'Promote to 100%' },
  pause: { button: 'Pause', confirm: 'Pause release' },
  resume: { button: 'Resume', confirm: 'Resume release' },
  abort: { button: 'Abort', confirm: 'Abort release' },
  rollback: { button: 'Roll back', confirm: 'Roll back release' },
};

/** What the page knows beside the release: whether the user may deploy here, and whether it is the unit's last release. */
export interface ActionContext {
  /** The user holds deployer or above in the unit's environment. */
  mayDeploy: boolean;
  /** The release is the unit's newest (so a rollback would undo it). */
  isLast: boolean;
}

/**
 * The controls that apply to `release` now. Promote moves canary steps only (a gate holds a
 * `waiting` release, and the API would answer 409); pause needs a moving release, resume a paused
 * one; nothing but the engine moves a release that is rolling back; roll back undoes a succeeded
 * release that is still the unit's last.
 */
export function releaseActions(release: Release, context: ActionContext): ReleaseAction[] {
  if (!context.mayDeploy) return [];
  if (isEnded(release.state)) return release.state === 'succeeded' && context.isLast ? ['rollback'] : [];
  if (release.phase === 'rolling-back' || release.phase === 'completed') return [];
  const actions: ReleaseAction[] = [];
  if (release.phase === 'canary' && release.state !== 'waiting') actions.push('promote', 'promote-full');
  if (release.state === 'progressing') actions.push('pause');
  if (release.state === 'paused') actions.push('resume');
  actions.push('abort');
  return actions;
}

/** The words a confirmation shows: a title, what will happen, and whether it is destructive. */
export interface ActionText {
  title: string;
  body: string;
  danger: boolean;
}

/** `step 3 of 5 (pause 30s)`. */
function stepText(release: Release): string {
  const written = release.plan?.[release.step] ?? release.stepName;
  return `step ${release.step + 1} of ${release.steps}${written ? ` (${written})` : ''}`;
}

/** What confirming `action` on `release` of `unit` will do, in words that name the versions and the traffic. */
export function actionText(action: ReleaseAction, release: Release): ActionText {
  const which = `release #${release.id} of ${release.service}`;
  const stable = release.fromVersion ? `${release.fromVersion} (stable)` : 'the stable version';
  const canary = `${release.version} (canary)`;
  switch (action) {
    case 'promote':
      return {
        title: `Promote release #${release.id}?`,
        body:
          `Promote ${which}: it leaves ${stepText(release)} now and goes on to the next step of its plan, ` +
          `so ${release.version} may get more traffic than its ${release.weight}% now.`,
        danger: false,
      };
    case 'promote-full':
      return {
        title: `Promote release #${release.id} to 100%?`,
        body:
          `Promote ${which} fully: ${canary} gets 100% of the traffic now, skipping the remaining canary ` +
          `steps, and the release goes on to verification.`,
        danger: true,
      };
    case 'pause':
      return {
        title: `Pause release #${release.id}?`,
        body:
          `Pause ${which}: it stays at ${stepText(release)}, with ${release.weight}% of the traffic on ` +
          `${canary}, until someone resumes or promotes it.`,
        danger: false,
      };
    case 'resume':
      return {
        title: `Resume release #${release.id}?`,
        body: `Resume ${which}: it goes on from ${stepText(release)} at ${release.weight}% on ${canary}.`,
        danger: false,
      };
    case 'abort':
      return {
        title: `Abort release #${release.id}?`,
        body:
          `Abort ${which}: traffic goes back to ${stable}, the canary's instances stop, ` +
          'and the release ends aborted.',
        danger: true,
      };
    case 'rollback':
      return {
        title: `Roll back ${release.service}?`,
        body:
          `Roll back ${release.service}: a new release takes it from ${release.version} back to ` +
          `${release.fromVersion ?? 'the previous version'}, which becomes the stable version once it succeeds.`,
        danger: true,
      };
  }
}
