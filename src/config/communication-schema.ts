/** A service's release communication policy: who hears about a release, and what it does to the status page and incidents. */
import { z } from 'zod';
import { duration } from './schema-values.js';

const channelNames = z
  .array(z.string().min(1, 'expected the name of a channel'))
  .prefault([])
  .describe("Names of channels from the installation's `channels`.");

const degraded = z
  .enum(['none', 'degraded_performance', 'partial_outage', 'major_outage'])
  .describe('A component status, or none to leave the status page alone.');

/** What a release of this service (or environment) tells people. */
export const communicationSchema = z
  .strictObject({
    notify: z
      .strictObject({
        started: channelNames.describe('Channels told when a release starts.'),
        succeeded: channelNames.describe('Channels told when a release succeeds.'),
        rolledBack: channelNames.describe('Channels told when a release is rolled back.'),
        aborted: channelNames.describe('Channels told when a release is aborted.'),
        failed: channelNames.describe(
          'Channels told when a release fails (a first release with nothing to roll back to).',
        ),
      })
      .prefault({})
      .describe('Who hears about each end of a release.'),
    statusPage: z
      .strictObject({
        duringMigrations: z
          .enum(['none', 'under_maintenance'])
          .prefault('under_maintenance')
          .describe("The service's components while the release runs its migrations."),
        onRollback: degraded
          .prefault('degraded_performance')
          .describe("The service's components from an automated rollback until its incident is resolved."),
      })
      .prefault({})
      .describe('What a release shows on the status page, for the components mapped to this service.'),
    incident: z
      .strictObject({
        onRollback: z
          .boolean()
          .prefault(true)
          .describe('Open an incident when a release is rolled back automatically.'),
        severity: z
          .enum(['critical', 'error', 'warning', 'info'])
          .prefault('critical')
          .describe("The incident's severity."),
        escalationPolicy: z
          .string()
          .min(1)
          .optional()
          .describe('The escalation policy that pages people for it, from `oncall.escalationPolicies`.'),
        monitorFor: duration
          .prefault('0s')
          .describe(
            'After the rollback is verified, the incident is monitored this long (its status page entry says so) before it is resolved; 0 resolves it at once.',
          ),
        public: z
          .boolean()
          .prefault(true)
          .describe('Show it on the status page, with the rollback reason, until it is resolved.'),
      })
      .prefault({})
      .describe('The incident an automated rollback opens; it is resolved once the rollback is verified.'),
  })
  .optional()
  .describe(
    'What a release tells people: who hears about its start, success, rollback and abort, what it shows on the status page, and when it opens an incident.',
  );

/** A communication policy after validation; undefined when the service has none. */
export type CommunicationConfig = z.output<typeof communicationSchema>;
