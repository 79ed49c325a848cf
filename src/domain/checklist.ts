/**
 * The words of a release checklist that the store, the engine, the checklist runner, the API and the
 * CLI share: gates, item states and evidence. Imports nothing of ours.
 */

/** Where in a release an item is checked; a release passes a gate only when its items have passed. */
export type Gate = 'pre-deploy' | 'canary' | 'verify' | 'post-deploy' | 'rollback' | 'scheduled';

/** Every gate, in the order a release meets them (`scheduled` items never block a release). */
export const GATES: readonly Gate[] = [
  'pre-deploy',
  'canary',
  'verify',
  'post-deploy',
  'rollback',
  'scheduled',
];

/**
 * The state of one item of one release's checklist. `inconclusive`: the check could not judge (no
 * requests yet, a source that did not answer); it holds the release for a person, and never fails or
 * passes it.
 */
export type ItemState =
  'pending' | 'running' | 'passed' | 'failed' | 'inconclusive' | 'waived' | 'not-applicable';

/** What an item saw or who signed it, kept with the item. */
export interface Evidence {
  /** Epoch ms. */
  at: number;
  /** One line a person reads: `GET /healthz: 200 in 12ms`. */
  summary: string;
  /** An excerpt of output (command output, response body), at most a few KB. */
  output?: string;
  /** The measured value, when the check measures one (days to expiry, free MB, rps). */
  value?: number;
  /** Structured details (status code, row counts, env diff). */
  data?: Record<string, unknown>;
  /** Who signed or waived. */
  by?: string;
  /** The signer's note, or the waiver's reason. */
  note?: string;
  /** For an inconclusive result: since when the item has been inconclusive without a break (epoch ms). */
  since?: number;
}
