/**
 * The rules of the commands that start and move a release: what each one refuses (as the error the
 * API and the CLI turn into a status and a message), and what it writes. The engine runs them in its
 * queue, writes what they return, and reconciles.
 */
import type { StepConfig } from '../config/schema.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { ReleasePatch, ReleaseRow, ServiceRow } from '../store/types.js';
import { isIndefinitePause } from './plan.js';

/** The active release; ConflictError naming `action` when there is none (the service exists, so not a 404). */
export function requireActive(unit: string, action: string, active: ReleaseRow | undefined): ReleaseRow {
  if (!active) throw new ConflictError(`service ${unit} has no active release to ${action}`);
  return active;
}

/** A release about to be created; `{id}` in its message becomes the release's id. */
export interface ReleaseStart {
  version: string;
  fromVersion: string | null;
  kind: ReleaseRow['kind'];
  phase: ReleaseRow['phase'];
  reason: string | null;
  message: string;
}

/** The release `deploy` starts; ConflictError while another is active or `version` is already stable. */
export function deployStart(
  unit: string,
  version: string,
  service: ServiceRow,
  active: ReleaseRow | undefined,
): ReleaseStart {
  if (active) {
    throw new ConflictError(
      `service ${unit} already has an active release: #${active.id} of ${active.version} (${active.state}); ` +
        'wait for it, or run "shipcheck abort"',
    );
  }
  if (service.stableVersion === version) {
    throw new ConflictError(`${version} is already the stable version of ${unit}`);
  }
  return {
    version,
    fromVersion: service.stableVersion,
    kind: 'deploy',
    phase: 'pre-deploy',
    reason: null,
    message: `release #{id}: ${service.stableVersion ?? '(none)'} -> ${version}`,
  };
}

/** ConflictError while a release is active: `rollback` undoes a finished release, `abort` an active one. */
export function checkNoActiveRelease(active: ReleaseRow | undefined): void {
  if (active) {
    throw new ConflictError(
      `release #${active.id} of ${active.version} is still ${active.state}; use "shipcheck abort" to roll it back`,
    );
  }
}

/** The release `rollback` starts, back to `target`; NotFoundError when there is nothing to go back to. */
export function rollbackStart(unit: string, service: ServiceRow, target: string | undefined): ReleaseStart {
  if (!target || !service.stableVersion) {
    throw new NotFoundError(`service ${unit} has no previous version to roll back to`);
  }
  return {
    version: target,
    fromVersion: service.stableVersion,
    kind: 'rollback',
    // A rollback skips the canary steps: the previous version is usually still warm.
    phase: 'verifying',
    reason: `rollback from ${service.stableVersion}`,
    message: `rollback #{id}: ${service.stableVersion} -> ${target}`,
  };
}

/** ConflictError when the release is rolling back, which no command but `abort` may change. */
export function checkNotRollingBack(release: ReleaseRow): void {
  if (release.phase === 'rolling-back') throw new ConflictError(`release #${release.id} is rolling back`);
}

/**
 * What `promote` writes: to 100% with `full` (or when already verifying), else the next step. Promoting
 * during a pause skips it; promoting before a setWeight applies that weight now.
 */
export function promotion(
  release: ReleaseRow,
  full: boolean,
  steps: readonly StepConfig[],
  now: number,
): ReleasePatch {
  const patch: ReleasePatch = { state: 'progressing', reason: null };
  if (full || release.phase === 'verifying') {
    return { ...patch, phase: 'verifying', weight: release.weight, stepStartedAt: now, phaseStartedAt: now };
  }
  if (release.phase !== 'canary') return patch;
  const step = steps[release.step];
  return { ...patch, step: step && 'pause' in step ? release.step + 1 : release.step, stepStartedAt: now };
}

/** What `resume` writes; ConflictError unless the release is paused. At an indefinite pause it moves past it. */
export function resumption(release: ReleaseRow, steps: readonly StepConfig[], now: number): ReleasePatch {
  if (release.state !== 'paused')
    throw new ConflictError(`release #${release.id} is ${release.state}, not paused`);
  const atIndefinite = release.phase === 'canary' && isIndefinitePause(steps[release.step]);
  const patch: ReleasePatch = { state: 'progressing', reason: null };
  if (atIndefinite) Object.assign(patch, { step: release.step + 1, stepStartedAt: now });
  return patch;
}
