/**
 * Carries out a unit's release communication policy (release-communication.ts) for one event:
 * notices into the outbox, the rollback incident opened and then monitored or resolved, the status
 * page's maintenance, incident and component status. Every action is keyed by the event or the
 * release, so running it twice (a crash, a replica taking over) changes nothing.
 */
import type { CommunicationConfig } from '../config/communication-schema.js';
import type { EffectRow, EventRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import type { Incidents } from './incidents/incidents.js';
import type { Incident } from './incidents/types.js';
import { type CommunicationAction, communicationFor } from './release-communication.js';
import type { StatusPage } from './status-page/status-page.js';
import type { Severity } from './types.js';

/** Who the status page and the timelines name for what the policy does. */
const ACTOR = 'shipcheck';
/** How long a maintenance opened for migrations is scheduled for; it is completed when they end. */
const MIGRATION_WINDOW_MS = 3600_000;
/** What a component override set for an incident says, so that only that incident's end clears it. */
const overrideReason = (incidentId: number): string => `incident #${incidentId}`;

/** The status page impact of an incident of this severity. */
function impactOf(severity: Severity): string {
  return severity === 'critical' ? 'major' : severity === 'info' ? 'none' : 'minor';
}

/** Everything a communicator works with. */
export interface CommunicatorOptions {
  store: Store;
  clock: Clock;
  incidents: Incidents;
  /** The status page now (a reload may add or remove it). */
  statusPage: () => StatusPage | undefined;
  /** The dashboard page of a release, for links in notices. */
  releaseUrl?: (releaseId: number) => string | undefined;
}

/** Acts on a unit's events by its policy; `communicate` is what units are given (unit.ts `Shared.communicate`). */
export class Communicator {
  constructor(private readonly options: CommunicatorOptions) {}

  /** Carries out what `policy` asks for `event` of `unit`; throws when a part failed (the caller retries). */
  async communicate(unit: string, policy: CommunicationConfig, event: EventRow): Promise<void> {
    const url = this.options.releaseUrl;
    const actions = communicationFor(unit, event, policy, url && ((id) => url(id) ?? ''));
    for (const action of actions) await this.act(unit, event, action);
  }

  /**
   * An incident became public: the status page shows it, linked, on the components of its unit
   * (none when it concerns no unit), unless it shows it already. A rollback's incident is shown by
   * its policy instead, with the component status the policy says.
   */
  async incidentPublic(incident: Incident, message: string): Promise<void> {
    const page = this.options.statusPage();
    if (!page || incident.source === 'rollback') return;
    if ((await page.incidentsLinkedTo(incident.id)).some((linked) => linked.resolvedAt === null)) return;
    await page.openIncident({
      name: incident.title,
      body: message,
      impact: impactOf(incident.severity),
      components: incident.service ? page.componentsFor(incident.service) : [],
      internalIncidentId: incident.id,
    });
  }

  /**
   * An incident was resolved (by its monitoring, a person or the API): the status page incidents
   * linked to it are resolved, and the component statuses it set are cleared.
   */
  async incidentResolved(incident: Incident, message: string): Promise<void> {
    const page = this.options.statusPage();
    if (!page) return;
    for (const linked of await page.incidentsLinkedTo(incident.id))
      if (linked.resolvedAt === null) await page.resolveIncident(linked.publicId, message);
    for (const component of await page.components())
      if (component.override?.reason === overrideReason(incident.id) && component.override.setBy === ACTOR)
        await page.clearOverride(component.id);
  }

  private async act(unit: string, event: EventRow, action: CommunicationAction): Promise<void> {
    const { store, clock, incidents } = this.options;
    const page = this.options.statusPage();
    switch (action.do) {
      case 'notify': {
        const items = action.channels.map((channel) => ({
          key: `${action.key}:${channel}`,
          to: { channel },
          notice: action.notice,
        }));
        await store.notifications.enqueue(items, clock.now());
        return;
      }
      case 'open-incident': {
        const incident = await incidents.open(
          {
            key: action.key,
            title: action.title,
            message: action.message,
            severity: action.severity,
            source: 'rollback',
            service: unit,
            ...(event.releaseId !== null ? { releaseId: event.releaseId } : {}),
            ...(action.escalationPolicy ? { policy: action.escalationPolicy } : {}),
            public: action.public,
          },
          ACTOR,
        );
        if (!action.public || !page) return;
        const components = page.componentsFor(unit);
        if (components.length === 0) return;
        const linked = await page.incidentsLinkedTo(incident.id);
        if (linked.length === 0)
          await page.openIncident({
            name: action.title,
            body: action.message,
            impact: impactOf(action.severity),
            components,
            internalIncidentId: incident.id,
          });
        if (action.componentStatus)
          for (const component of components)
            await page.setOverride(component, {
              status: action.componentStatus,
              reason: overrideReason(incident.id),
              by: ACTOR,
            });
        return;
      }
      case 'resolve-incident': {
        if (action.afterMs > 0 && page) {
          const open = await store.incidents.findOpen(action.key);
          if (open)
            for (const linked of await page.incidentsLinkedTo(open.id))
              if (linked.resolvedAt === null && linked.status !== 'monitoring')
                await page.updateIncident(linked.publicId, { status: 'monitoring', body: action.message });
        }
        // Resolving (now, or once monitored) tells incidentResolved, which resolves the page's side.
        await incidents.monitor(action.key, ACTOR, action.message, action.afterMs);
        return;
      }
      case 'start-maintenance': {
        if (!page || (await this.pageRecord(action.key))) return;
        const components = page.componentsFor(unit);
        if (components.length === 0) return;
        const now = clock.now();
        const maintenance = await page.scheduleMaintenance({
          name: action.title,
          body: action.message,
          components,
          scheduledFor: now,
          scheduledUntil: now + MIGRATION_WINDOW_MS,
        });
        await page.updateMaintenance(maintenance.publicId, { status: 'in_progress', body: action.message });
        await this.savePageRecord(action.key, unit, event, maintenance.publicId);
        return;
      }
      case 'end-maintenance': {
        const record = await this.pageRecord(action.key);
        if (!page || !record || record.state === 'done') return;
        await page.updateMaintenance(String(record.data.publicId), {
          status: 'completed',
          body: action.message,
        });
        await store.saveEffect({ ...record, state: 'done', at: clock.now() });
        return;
      }
    }
  }

  /** What the status page holds for a policy key (a maintenance's public id), recorded as an effect. */
  private pageRecord(key: string): Promise<EffectRow | undefined> {
    return this.options.store.getEffect(`status-page:${key}`);
  }

  private async savePageRecord(key: string, unit: string, event: EventRow, publicId: string): Promise<void> {
    await this.options.store.saveEffect({
      key: `status-page:${key}`,
      service: unit,
      releaseId: event.releaseId,
      kind: 'notification',
      state: 'started',
      holder: ACTOR,
      at: this.options.clock.now(),
      data: { publicId },
    });
  }
}
