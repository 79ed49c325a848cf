/** A service's release communication policy: who hears about a release, and what it does to the status page and incidents. */
import { z } from 'zod';

/** What a release of this service (or environment) tells people. */
export const communicationSchema = z
  .strictObject({})
  .optional()
  .describe(
    'What a release tells people: who hears about its start, success, rollback and abort, what it shows on the status page, and when it opens an incident.',
  );

export type CommunicationConfig = z.output<typeof communicationSchema>;
