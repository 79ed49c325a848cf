import { z } from 'zod';
import type { CheckKind } from '../types.js';

/** The kind of a sign-off by a person; templates resolve an item they cannot automate to it. */
export const MANUAL_KIND = 'manual';

/** A manual item is signed by a person through the API; the checklist never runs it. */
const NOT_RUN_SUMMARY = 'manual items are signed, not run';

const manualParams = z
  .strictObject({
    role: z
      .string()
      .min(1, 'a role is a non-empty name such as release-manager')
      .optional()
      .describe('Who may sign this item, e.g. release-manager; anyone with sign rights when omitted.'),
    hint: z
      .string()
      .min(1)
      .optional()
      .describe('What the signer should verify before signing, shown next to the item.'),
  })
  .describe('A sign-off: a person confirms the item by hand.');

/** Params of a `manual` item after validation. */
export type ManualParams = z.output<typeof manualParams>;

/** `manual`: a sign-off by a person (optionally of a given role); `run()` always fails because it must not be called. */
export const manualCheck: CheckKind<ManualParams> = {
  kind: MANUAL_KIND,
  params: manualParams,
  async run() {
    return { ok: false, summary: NOT_RUN_SUMMARY };
  },
};
