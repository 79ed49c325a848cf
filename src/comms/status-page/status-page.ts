/**
 * The public status page's behaviour: its components' statuses (derived from the units, overridden by
 * hand, recorded as transitions), its incidents and scheduled maintenances with their public updates,
 * and its subscribers (subscriptions.ts), who hear of every incident and maintenance update through
 * the notification outbox. The API (status-page-routes.ts), the CLI through it, and the release communication policy
 * all act through one StatusPage.
 */
import type { StatusComponentConfig } from '../../config/status-page-schema.js';
import { COMPONENT_STATUSES } from '../../config/status-page-schema.js';
import { InputError, NotFoundError } from '../../errors.js';
import type { AffectedComponent, PageIncidentRow } from '../../store/status-page-store.js';
import type { Store } from '../../store/types.js';
import type { Clock } from '../../util/clock.js';
import {
  type ComponentStatus,
  type UnitHealth,
  type UptimeDay,
  derivedStatus,
  effectiveStatus,
  knowsAny,
  overrideHolds,
  unitMatches,
  uptimeBar,
} from './derive.js';
import { Subscriptions } from './subscriptions.js';
import {
  INCIDENT_STATUSES,
  MAINTENANCE_STATUSES,
  IMPACTS,
  RESOLVED_STATUSES,
  ACTIVE_MAINTENANCE,
  PageConfig,
  ComponentView,
  shortHash,
  componentId,
} from './page-words.js';

export {
  INCIDENT_STATUSES,
  MAINTENANCE_STATUSES,
  IMPACTS,
  RESOLVED_STATUSES,
  ACTIVE_MAINTENANCE,
  PageConfig,
  ComponentView,
  shortHash,
  componentId,
} from './page-words.js';
import type { PageSnapshot } from './statuspage-json.js';

/** What a StatusPage needs. */
export interface StatusPageOptions {
  config: PageConfig;
  store: Store;
  clock: Clock;
  /** The health of every unit the installation runs now. */
  units: () => Promise<UnitHealth[]>;
  /**
   * Where the public reaches the page (the `/status` route), without a trailing slash: the links of
   * emails and the feed start with it. `statusPage.url` when set.
   */
  pageUrl: () => string;
}

/** What opening a page incident says. */
export interface OpenIncidentInput {
  name: string;
  /** investigating (default), identified or monitoring. */
  status?: string;
  impact?: string;
  body: string;
  /** Component ids or names. */
  components?: readonly string[];
  /** The internal incident it is linked to. */
  internalIncidentId?: number | null;
}

/** What an update of a page incident says. */
export interface UpdateIncidentInput {
  status?: string;
  impact?: string;
  name?: string;
  body: string;
  components?: readonly string[];
}

/** What scheduling a maintenance says. */
export interface MaintenanceInput {
  name: string;
  body?: string;
  components: readonly string[];
  scheduledFor: number;
  scheduledUntil: number;
}

/** What an update of a maintenance says. */
export interface MaintenanceUpdateInput {
  status?: string;
  body?: string;
  name?: string;
  scheduledFor?: number;
  scheduledUntil?: number;
}

/** The public status page. */
export class StatusPage {
  /** Its subscribers: subscribe, confirm, unsubscribe, and the notices of every update. */
  readonly subscriptions: Subscriptions;

  constructor(private readonly options: StatusPageOptions) {
    this.subscriptions = new Subscriptions({
      config: options.config,
      store: options.store,
      clock: options.clock,
      pageUrl: () => this.pageUrl,
    });
  }

  /** The page's config. */
  get config(): PageConfig {
    return this.options.config;
  }

  /** The page's stable id (Statuspage's `page.id`), derived from its name. */
  get pageId(): string {
    return shortHash(`page:${this.config.name}`);
  }

  /** Where the public reaches the page. */
  get pageUrl(): string {
    return this.options.pageUrl().replace(/\/+$/, '');
  }

  get now(): number {
    return this.options.clock.now();
  }

  /** One read of the page: what its JSON, HTML and feed are built from. */
  async snapshot(): Promise<PageSnapshot> {
    const { store } = this.options;
    const [components, incidents, maintenances] = await Promise.all([
      this.components(),
      store.statusPage.listIncidents('incident', { limit: 50 }),
      store.statusPage.listIncidents('maintenance', { limit: 50 }),
    ]);
    return {
      id: this.pageId,
      name: this.config.name,
      url: this.pageUrl,
      timeZone: this.config.timeZone,
      now: this.now,
      components,
      incidents,
      maintenances,
    };
  }

  // Components

  /** Every component with its derived, overridden and shown status, in the config's order. */
  async components(): Promise<ComponentView[]> {
    const { store } = this.options;
    const [units, overrides, latest, maintenances] = await Promise.all([
      this.options.units(),
      store.statusPage.overrides(),
      store.statusPage.latestStatuses(),
      store.statusPage.listIncidents('maintenance', { statuses: ACTIVE_MAINTENANCE }),
    ]);
    const inMaintenance = new Set(maintenances.flatMap((m) => m.components));
    const now = this.now;
    const firsts = await Promise.all(
      this.config.components.map(async (c) => (await store.statusPage.history(componentId(c), now)).firstAt),
    );
    return this.config.components.map((c, i) => {
      const id = componentId(c);
      const mine = units.filter((u) => c.services.some((ref) => unitMatches(ref, u.unit)));
      const derived = derivedStatus(
        mine,
        inMaintenance.has(id),
        latest.get(id)?.status as ComponentStatus | undefined,
      );
      const row = overrides.get(id);
      const override = row
        ? {
            status: row.status as ComponentStatus,
            until: row.until,
            reason: row.reason,
            setBy: row.setBy,
            setAt: row.setAt,
          }
        : undefined;
      return {
        id,
        name: c.name,
        description: c.description ?? null,
        group: c.group ?? null,
        position: i + 1,
        onlyShowIfDegraded: c.onlyShowIfDegraded,
        showcase: c.showcase,
        services: c.services,
        units: mine.map((u) => u.unit),
        known: knowsAny(mine),
        derived,
        override: overrideHolds(override, now) ? override : null,
        status: effectiveStatus(derived, override, now),
        createdAt: firsts[i] ?? null,
        updatedAt: latest.get(id)?.from ?? null,
      };
    });
  }

  /** The component a reference (id or name, any case) names; `error` builds what is thrown otherwise. */
  component(
    ref: string,
    error: (message: string) => Error = (m) => new NotFoundError(m),
  ): StatusComponentConfig {
    const found = this.config.components.find(
      (c) => componentId(c) === ref || c.name.toLowerCase() === ref.toLowerCase(),
    );
    if (found) return found;
    const names = this.config.components.map((c) => `"${c.name}" (${componentId(c)})`).join(', ');
    throw error(`no component "${ref}" on the status page; it has ${names}`);
  }

  /**
   * The ids of the components that show `unit` (`web` or `web@production`): what a release event of
   * that unit affects on the page. Integration: the components of a page incident opened for a rollback.
   */
  componentsFor(unit: string): string[] {
    return this.config.components
      .filter((c) => c.services.some((ref) => unitMatches(ref, unit)))
      .map(componentId);
  }

  private componentIds(refs: readonly string[] | undefined): string[] {
    return [
      ...new Set((refs ?? []).map((ref) => componentId(this.component(ref, (m) => new InputError(m))))),
    ];
  }

  /**
   * Records each component's shown status where it changed since the last record (and starts
   * maintenances that are due, and completes those that are over). Returns the components that changed.
   */
  async record(): Promise<{ component: string; status: ComponentStatus }[]> {
    await this.advanceMaintenances();
    const latest = await this.options.store.statusPage.latestStatuses();
    const changed: { component: string; status: ComponentStatus }[] = [];
    const now = this.now;
    for (const view of await this.components()) {
      if (latest.get(view.id)?.status === view.status) continue;
      // Another replica drives all of its units: the one that sees them records it.
      if (!view.known) continue;
      await this.options.store.statusPage.recordStatus(view.id, view.status, now);
      changed.push({ component: view.id, status: view.status });
    }
    return changed;
  }

  /** The 90-day uptime bar of each component, by component id. */
  async uptime(days = 90): Promise<Map<string, UptimeDay[]>> {
    const now = this.now;
    const since = now - (days + 1) * 86_400_000;
    const bars = new Map<string, UptimeDay[]>();
    for (const c of this.config.components) {
      const id = componentId(c);
      const { rows } = await this.options.store.statusPage.history(id, since);
      bars.set(
        id,
        uptimeBar(
          rows.map((r) => ({ status: r.status as ComponentStatus, from: r.from })),
          now,
          this.config.timeZone,
          days,
        ),
      );
    }
    return bars;
  }

  /**
   * Shows `status` on a component by hand, until `until` (epoch ms) or until cleared; the new status
   * is recorded at once. Integration: what marks a component's status from a release event.
   */
  async setOverride(
    ref: string,
    input: { status: string; until?: number | null; reason?: string | null; by: string },
  ): Promise<ComponentView> {
    const component = this.component(ref);
    const status = parseComponentStatus(input.status);
    if (input.until !== undefined && input.until !== null && input.until <= this.now)
      throw new InputError('the override would end before it starts; give an end time in the future');
    await this.options.store.statusPage.setOverride({
      component: componentId(component),
      status,
      until: input.until ?? null,
      reason: input.reason ?? null,
      setBy: input.by,
      setAt: this.now,
    });
    await this.record();
    return this.view(component);
  }

  /** Clears a component's override: it shows its derived status again. */
  async clearOverride(ref: string): Promise<ComponentView> {
    const component = this.component(ref);
    await this.options.store.statusPage.clearOverride(componentId(component));
    await this.record();
    return this.view(component);
  }

  private async view(component: StatusComponentConfig): Promise<ComponentView> {
    const id = componentId(component);
    return (await this.components()).find((c) => c.id === id) as ComponentView;
  }

  // Incidents

  /**
   * Opens a page incident with its first public update and tells the confirmed subscribers.
   * Integration: the release policy opens one on an automated rollback, with its reason as the body.
   */
  async openIncident(input: OpenIncidentInput): Promise<PageIncidentRow> {
    const name = requireText('name', input.name, 200);
    const body = requireText('body', input.body, 10_000);
    const status = parseOneOf('status', input.status ?? 'investigating', [
      'investigating',
      'identified',
      'monitoring',
    ]);
    const impact = parseOneOf('impact', input.impact ?? 'minor', IMPACTS);
    const components = this.componentIds(input.components);
    const now = this.now;
    const incident = await this.options.store.statusPage.createIncident(
      {
        kind: 'incident',
        name,
        status,
        impact,
        components,
        internalIncidentId: input.internalIncidentId ?? null,
        startedAt: now,
        monitoringAt: status === 'monitoring' ? now : null,
        resolvedAt: null,
        scheduledFor: null,
        scheduledUntil: null,
      },
      { status, body, affectedComponents: await this.affected(components) },
      now,
    );
    await this.subscriptions.notifySubscribers(incident, 'created');
    return incident;
  }

  /** Adds a public update to a page incident (by public id), changing its status or impact, and tells the subscribers. */
  async updateIncident(publicId: string, input: UpdateIncidentInput): Promise<PageIncidentRow> {
    const incident = await this.incidentOf(publicId, 'incident');
    const body = requireText('body', input.body, 10_000);
    const status =
      input.status === undefined ? incident.status : parseOneOf('status', input.status, INCIDENT_STATUSES);
    if (RESOLVED_STATUSES.includes(incident.status) && !RESOLVED_STATUSES.includes(status))
      throw new InputError(
        `incident ${publicId} is ${incident.status}; open a new incident rather than reopening it`,
      );
    const impact = input.impact === undefined ? undefined : parseOneOf('impact', input.impact, IMPACTS);
    const components = input.components === undefined ? undefined : this.componentIds(input.components);
    const now = this.now;
    const updated = await this.options.store.statusPage.addUpdate(
      incident.id,
      {
        status,
        ...(impact !== undefined ? { impact } : {}),
        ...(input.name !== undefined ? { name: requireText('name', input.name, 200) } : {}),
        ...(components !== undefined ? { components } : {}),
        ...(status === 'monitoring' && incident.monitoringAt === null ? { monitoringAt: now } : {}),
        ...(RESOLVED_STATUSES.includes(status) && incident.resolvedAt === null ? { resolvedAt: now } : {}),
      },
      { status, body, affectedComponents: await this.affected(components ?? incident.components) },
      now,
    );
    await this.subscriptions.notifySubscribers(
      updated,
      RESOLVED_STATUSES.includes(status) ? 'resolved' : 'updated',
    );
    return updated;
  }

  /** Resolves a page incident with a last update. Integration: once a rollback is verified. */
  async resolveIncident(publicId: string, body?: string): Promise<PageIncidentRow> {
    return this.updateIncident(publicId, {
      status: 'resolved',
      body: body ?? 'This incident has been resolved.',
    });
  }

  /** The page incidents linked to an internal incident, newest first. */
  async incidentsLinkedTo(internalIncidentId: number): Promise<PageIncidentRow[]> {
    const all = await this.options.store.statusPage.listIncidents('incident', { limit: 200 });
    return all.filter((i) => i.internalIncidentId === internalIncidentId);
  }

  /** A page incident or maintenance by public id; NotFoundError otherwise. */
  async incidentOf(publicId: string, kind: 'incident' | 'maintenance'): Promise<PageIncidentRow> {
    const found = await this.options.store.statusPage.incidentByPublicId(publicId);
    if (!found || found.kind !== kind) throw new NotFoundError(`no ${kind} "${publicId}" on the status page`);
    return found;
  }

  private async affected(components: readonly string[]): Promise<AffectedComponent[] | null> {
    if (components.length === 0) return null;
    const views = await this.components();
    return components.flatMap((id) => {
      const view = views.find((v) => v.id === id);
      return view ? [{ code: id, name: view.name, old_status: view.status, new_status: view.status }] : [];
    });
  }

  // Maintenances

  /** Schedules a maintenance of some components. */
  async scheduleMaintenance(input: MaintenanceInput): Promise<PageIncidentRow> {
    const name = requireText('name', input.name, 200);
    const components = this.componentIds(input.components);
    if (components.length === 0) throw new InputError('name the components the maintenance covers');
    checkWindow(input.scheduledFor, input.scheduledUntil);
    const now = this.now;
    const status = 'scheduled';
    const maintenance = await this.options.store.statusPage.createIncident(
      {
        kind: 'maintenance',
        name,
        status,
        impact: 'maintenance',
        components,
        internalIncidentId: null,
        startedAt: input.scheduledFor,
        monitoringAt: null,
        resolvedAt: null,
        scheduledFor: input.scheduledFor,
        scheduledUntil: input.scheduledUntil,
      },
      {
        status,
        body:
          input.body?.trim() ||
          `Maintenance of ${components.length === 1 ? 'one component' : `${components.length} components`} is scheduled.`,
        affectedComponents: await this.affected(components),
      },
      now,
    );
    await this.subscriptions.notifySubscribers(maintenance, 'created');
    return maintenance;
  }

  /** Changes a maintenance's status or window with a public update; `in_progress` puts its components under maintenance. */
  async updateMaintenance(publicId: string, input: MaintenanceUpdateInput): Promise<PageIncidentRow> {
    const maintenance = await this.incidentOf(publicId, 'maintenance');
    const status =
      input.status === undefined
        ? maintenance.status
        : parseOneOf('status', input.status, MAINTENANCE_STATUSES);
    if (maintenance.status === 'completed' && status !== 'completed')
      throw new InputError(`maintenance ${publicId} is completed; schedule a new one`);
    const scheduledFor = input.scheduledFor ?? (maintenance.scheduledFor as number);
    const scheduledUntil = input.scheduledUntil ?? (maintenance.scheduledUntil as number);
    checkWindow(scheduledFor, scheduledUntil);
    const body = input.body?.trim() || MAINTENANCE_WORDS[status as (typeof MAINTENANCE_STATUSES)[number]];
    const updated = await this.maintenanceUpdate(maintenance, status, body, {
      ...(input.name !== undefined ? { name: requireText('name', input.name, 200) } : {}),
      scheduledFor,
      scheduledUntil,
    });
    await this.record();
    return updated;
  }

  private async maintenanceUpdate(
    maintenance: PageIncidentRow,
    status: string,
    body: string,
    patch: { name?: string; scheduledFor?: number; scheduledUntil?: number } = {},
  ): Promise<PageIncidentRow> {
    const now = this.now;
    const updated = await this.options.store.statusPage.addUpdate(
      maintenance.id,
      {
        ...patch,
        status,
        ...(status === 'completed' && maintenance.resolvedAt === null ? { resolvedAt: now } : {}),
      },
      { status, body, affectedComponents: await this.affected(maintenance.components) },
      now,
    );
    await this.subscriptions.notifySubscribers(updated, status === 'completed' ? 'resolved' : 'updated');
    return updated;
  }

  /** Starts scheduled maintenances whose time has come and completes active ones whose window is over. */
  async advanceMaintenances(): Promise<number> {
    const now = this.now;
    let moved = 0;
    const open = await this.options.store.statusPage.listIncidents('maintenance', {
      statuses: ['scheduled', 'in_progress', 'verifying'],
      limit: 200,
    });
    for (const m of open) {
      if (m.scheduledUntil !== null && m.scheduledUntil <= now) {
        await this.maintenanceUpdate(m, 'completed', MAINTENANCE_WORDS.completed);
        moved++;
      } else if (m.status === 'scheduled' && m.scheduledFor !== null && m.scheduledFor <= now) {
        await this.maintenanceUpdate(m, 'in_progress', MAINTENANCE_WORDS.in_progress);
        moved++;
      }
    }
    return moved;
  }
}

/** What a maintenance update says when none is written. */
const MAINTENANCE_WORDS: Record<(typeof MAINTENANCE_STATUSES)[number], string> = {
  scheduled: 'The maintenance has been rescheduled.',
  in_progress: 'Scheduled maintenance is currently in progress. We will provide updates as necessary.',
  verifying: 'Verification is currently underway for the maintenance items.',
  completed: 'The scheduled maintenance has been completed.',
};

/** A component status from input; InputError names the ones there are. */
export function parseComponentStatus(raw: string): ComponentStatus {
  return parseOneOf('status', raw, COMPONENT_STATUSES);
}

function parseOneOf<T extends string>(what: string, raw: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new InputError(`${what} "${raw}" is not one of ${allowed.join(', ')}`);
}

function requireText(what: string, raw: string | undefined, max: number): string {
  const text = (raw ?? '').trim();
  if (text === '') throw new InputError(`give the ${what}; it is empty`);
  if (text.length > max) throw new InputError(`the ${what} is longer than ${max} characters`);
  return text;
}

function checkWindow(from: number, until: number): void {
  if (!Number.isFinite(from) || !Number.isFinite(until))
    throw new InputError('give scheduled_for and scheduled_until as ISO 8601 times');
  if (until <= from) throw new InputError('scheduled_until must be after scheduled_for');
}
