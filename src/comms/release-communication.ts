/**
 * The release communication policy as a pure function: from one stored release event and the
 * unit's `communication` config to what should happen (channels told, an incident opened or
 * resolved, the status page changed). Each action carries a key derived from the event, so acting
 * on an event twice (a crash between acting and recording, a replica taking over) changes nothing.
 */
import type { CommunicationConfig } from '../config/communication-schema.js';
import type { EventRow } from '../store/types.js';
import type { Notice, Severity } from './types.js';

/** Component statuses a release may set; `under_maintenance` only while migrations run. */
export type ReleaseComponentStatus =
  'degraded_performance' | 'partial_outage' | 'major_outage' | 'under_maintenance';

/** One thing the policy asks for. */
export type CommunicationAction =
  | { do: 'notify'; key: string; channels: string[]; notice: Notice }
  | {
      do: 'open-incident';
      /** The incident's dedup key: one per release. */
      key: string;
      title: string;
      message: string;
      severity: Severity;
      escalationPolicy: string | undefined;
      public: boolean;
      /** What the unit's components show until the incident is resolved; undefined leaves them. */
      componentStatus: ReleaseComponentStatus | undefined;
    }
  | {
      do: 'resolve-incident';
      key: string;
      message: string;
      /** Monitor this long first (the status page says so); 0 resolves at once. */
      afterMs: number;
    }
  | { do: 'start-maintenance'; key: string; title: string; message: string }
  | { do: 'end-maintenance'; key: string; message: string };

/** The dedup key of the incident an automated rollback of this release opens. */
export function rollbackIncidentKey(unit: string, releaseId: number): string {
  return `rollback:${unit}#${releaseId}`;
}

/** The key of the maintenance a release's migrations show. */
export function migrationMaintenanceKey(unit: string, releaseId: number): string {
  return `migrations:${unit}#${releaseId}`;
}

const ENDINGS = {
  'release.succeeded': { when: 'succeeded', severity: 'info' },
  'release.rolled_back': { when: 'rolledBack', severity: 'error' },
  'release.aborted': { when: 'aborted', severity: 'warning' },
  'release.failed': { when: 'failed', severity: 'error' },
} as const;

/**
 * What `policy` asks for when `event` happens to `unit`. `url` is where a person reads about the
 * release (its dashboard page). Events of no release, and every event without a policy, ask nothing.
 */
export function communicationFor(
  unit: string,
  event: EventRow,
  policy: CommunicationConfig,
  url?: (releaseId: number) => string,
): CommunicationAction[] {
  if (!policy || event.releaseId === null) return [];
  const releaseId = event.releaseId;
  const version = typeof event.data.version === 'string' ? event.data.version : '?';
  const base = {
    service: unit,
    release: { id: releaseId, version, fromVersion: null, state: String(event.data.state ?? '') },
    ...(url ? { url: url(releaseId) } : {}),
  };
  const actions: CommunicationAction[] = [];
  const tell = (channels: readonly string[], severity: Severity, title: string): void => {
    if (channels.length === 0) return;
    actions.push({
      do: 'notify',
      key: `event:${unit}:${event.id}`,
      channels: [...channels],
      notice: { ...base, event: event.type, title, text: event.message, severity },
    });
  };

  switch (event.type) {
    case 'release.created':
      tell(policy.notify.started, 'info', `${unit}: release ${version} started`);
      break;
    case 'release.migrating':
      if (policy.statusPage.duringMigrations === 'under_maintenance')
        actions.push({
          do: 'start-maintenance',
          key: migrationMaintenanceKey(unit, releaseId),
          title: `${unit}: database migrations for ${version}`,
          message: `Release ${version} of ${unit} is changing its database schema.`,
        });
      break;
    case 'release.migrated':
    case 'release.migrations_down':
      if (policy.statusPage.duringMigrations === 'under_maintenance')
        actions.push({
          do: 'end-maintenance',
          key: migrationMaintenanceKey(unit, releaseId),
          message: event.message,
        });
      break;
    case 'release.rolling_back': {
      // `aborted` is a person's decision; every other rollback was decided by shipcheck.
      const automatic = event.data.outcome !== undefined && event.data.outcome !== 'aborted';
      if (automatic && policy.incident.onRollback) {
        const status = policy.statusPage.onRollback;
        actions.push({
          do: 'open-incident',
          key: rollbackIncidentKey(unit, releaseId),
          title: `${unit}: release ${version} rolled back automatically`,
          message: event.message,
          severity: policy.incident.severity,
          escalationPolicy: policy.incident.escalationPolicy,
          public: policy.incident.public,
          componentStatus: status === 'none' ? undefined : status,
        });
      }
      break;
    }
    default:
      break;
  }

  const ending = ENDINGS[event.type as keyof typeof ENDINGS];
  if (ending) {
    const verb = event.type.slice('release.'.length).replace('_', ' ');
    tell(policy.notify[ending.when], ending.severity, `${unit}: release ${version} ${verb}`);
    // The rollback's own checks have passed once the release ends rolled back (or failed): verified.
    if (
      event.type === 'release.rolled_back' ||
      event.type === 'release.failed' ||
      event.type === 'release.aborted'
    )
      actions.push({
        do: 'resolve-incident',
        key: rollbackIncidentKey(unit, releaseId),
        message: `Rollback verified: ${event.message}`,
        afterMs: policy.incident.monitorFor,
      });
    if (policy.statusPage.duringMigrations === 'under_maintenance')
      actions.push({
        do: 'end-maintenance',
        key: migrationMaintenanceKey(unit, releaseId),
        message: event.message,
      });
  }
  return actions;
}
