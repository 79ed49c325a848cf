/**
 * Carries out a unit's release communication policy (release-communication.ts) for one event:
 * notices into the outbox, the rollback incident opened and resolved, the status page's maintenance
 * and incident. Every action is keyed by the event or the release, so running it twice is harmless.
 */
import type { CommunicationConfig } from '../config/communication-schema.js';
import type { EventRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import {
  type CommunicationAction,
  type ReleaseComponentStatus,
  communicationFor,
} from './release-communication.js';
import type { Severity } from './types.js';

/** What the communicator needs of incidents. */
export interface IncidentPort {
  /** Opens the incident, or returns the open one with this key. */
  open(input: {
    key: string;
    title: string;
    message: string;
    severity: Severity;
    service: string;
    releaseId: number;
    escalationPolicy: string | undefined;
    public: boolean;
  }): Promise<{ id: number }>;
  /** Resolves the open incident with this key, if there is one. */
  resolveByKey(key: string, message: string): Promise<void>;
}

/** What the communicator needs of the status page; absent when none is configured. */
export interface StatusPagePort {
  /** Puts the unit's components under maintenance under `key` (no-op when already started). */
  startMaintenance(input: { key: string; unit: string; title: string; message: string }): Promise<void>;
  /** Completes the maintenance of `key`, if it is in progress. */
  endMaintenance(key: string, message: string): Promise<void>;
  /** Opens a public incident for the unit's components, linked to `incidentId` (no-op when open). */
  openIncident(input: {
    key: string;
    unit: string;
    title: string;
    message: string;
    incidentId: number;
    componentStatus: ReleaseComponentStatus | undefined;
  }): Promise<void>;
  /** Resolves the public incident of `key`, if it is open; its components return to their derived status. */
  resolveIncident(key: string, message: string): Promise<void>;
}

/** Everything a communicator works with. */
export interface CommunicatorOptions {
  store: Store;
  clock: Clock;
  incidents: IncidentPort;
  statusPage: StatusPagePort | undefined;
  /** The dashboard page of a release, for links in notices. */
  releaseUrl?: (releaseId: number) => string;
  /** Called after notices were written, so the dispatcher sends them at once. */
  enqueued?: () => void;
}

/** Acts on a unit's events by its policy; `communicate` is what units are given (unit.ts `Shared.communicate`). */
export class Communicator {
  constructor(private readonly options: CommunicatorOptions) {}

  /** Carries out what `policy` asks for `event` of `unit`; throws when a part failed (the caller retries). */
  async communicate(unit: string, policy: CommunicationConfig, event: EventRow): Promise<void> {
    const actions = communicationFor(unit, event, policy, this.options.releaseUrl);
    for (const action of actions) await this.act(unit, event, action);
  }

  private async act(unit: string, event: EventRow, action: CommunicationAction): Promise<void> {
    const { store, clock, incidents, statusPage } = this.options;
    switch (action.do) {
      case 'notify': {
        const items = action.channels.map((channel) => ({
          key: `${action.key}:${channel}`,
          to: { channel },
          notice: action.notice,
        }));
        if ((await store.notifications.enqueue(items, clock.now())).length > 0) this.options.enqueued?.();
        return;
      }
      case 'open-incident': {
        const incident = await incidents.open({
          key: action.key,
          title: action.title,
          message: action.message,
          severity: action.severity,
          service: unit,
          releaseId: event.releaseId ?? 0,
          escalationPolicy: action.escalationPolicy,
          public: action.public,
        });
        if (action.public && statusPage)
          await statusPage.openIncident({
            key: action.key,
            unit,
            title: action.title,
            message: action.message,
            incidentId: incident.id,
            componentStatus: action.componentStatus,
          });
        this.options.enqueued?.();
        return;
      }
      case 'resolve-incident':
        await incidents.resolveByKey(action.key, action.message);
        await statusPage?.resolveIncident(action.key, action.message);
        this.options.enqueued?.();
        return;
      case 'start-maintenance':
        await statusPage?.startMaintenance({
          key: action.key,
          unit,
          title: action.title,
          message: action.message,
        });
        return;
      case 'end-maintenance':
        await statusPage?.endMaintenance(action.key, action.message);
        return;
    }
  }
}
