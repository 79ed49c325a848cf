/**
 * The words of a release that every room speaks (the store, the engine, analysis, the API, the CLI):
 * its states and phases, a rule's verdict, and the name of a unit. Imports nothing of ours.
 */

/** Where a release stands; terminal states end it. */
export type ReleaseState =
  'progressing' | 'waiting' | 'paused' | 'succeeded' | 'rolled_back' | 'aborted' | 'failed';

/** States after which a release never moves again. */
export const TERMINAL_STATES: readonly ReleaseState[] = ['succeeded', 'rolled_back', 'aborted', 'failed'];

/** Where a release is in its plan. */
export type ReleasePhase =
  | 'pre-deploy'
  | 'migrating'
  | 'starting'
  | 'canary'
  | 'verifying'
  | 'verify'
  | 'post-deploy'
  | 'rolling-back'
  | 'completed';

/** Why a release was created. */
export type ReleaseKind = 'deploy' | 'rollback';

/** Verdict of one rule evaluation. */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** The name a service's releases are stored and addressed under: `web`, or `web@staging` in an environment. */
export function unitName(service: string, environment?: string | undefined): string {
  return environment ? `${service}@${environment}` : service;
}
