/**
 * The dashboard's reads and actions on the status page (`/api/v1/status-page/`), beside resources.ts:
 * components with their overrides, page incidents with their updates, scheduled maintenances and
 * subscriber counts. The shapes mirror the route handlers' JSON (src/api/status-page-routes.ts).
 */
import { get, post } from './client.js';

/** A component's status, in Statuspage's words, from best to worst (maintenance aside). */
export const COMPONENT_STATUSES = [
  'operational',
  'under_maintenance',
  'degraded_performance',
  'partial_outage',
  'major_outage',
] as const;
/** The statuses a page incident is opened with. */
export const OPEN_INCIDENT_STATUSES = ['investigating', 'identified', 'monitoring'] as const;
/** The statuses an update of a page incident may give it. */
export const INCIDENT_STATUSES = [
  'investigating',
  'identified',
  'monitoring',
  'resolved',
  'postmortem',
] as const;
/** Incident statuses that are over. */
export const RESOLVED_STATUSES: readonly string[] = ['resolved', 'postmortem'];
/** Impacts a page incident may have. */
export const IMPACTS = ['none', 'minor', 'major', 'critical'] as const;
/** A maintenance's statuses, in the order it moves through them. */
export const MAINTENANCE_STATUSES = ['scheduled', 'in_progress', 'verifying', 'completed'] as const;

/** A status set by hand, while it holds. */
export interface ComponentOverride {
  status: string;
  /** When it ends (epoch ms); null until cleared. */
  until: number | null;
  reason: string | null;
  setBy: string;
  setAt: number;
}

/** One component, as `GET /api/v1/status-page/components` lists it. */
export interface PageComponent {
  id: string;
  name: string;
  description: string | null;
  group: string | null;
  position: number;
  onlyShowIfDegraded: boolean;
  showcase: boolean;
  services: string[];
  units: string[];
  known: boolean;
  /** What the instances and releases say. */
  derived: string;
  override: ComponentOverride | null;
  /** What the page shows: the override while it holds, else the derived status. */
  status: string;
  createdAt: number | null;
  updatedAt: number | null;
}

/** A component's change recorded in an update. */
export interface AffectedComponent {
  code: string;
  name: string;
  old_status: string;
  new_status: string;
}

/** One public update of a page incident or maintenance. */
export interface PageIncidentUpdate {
  id: number;
  publicId: string;
  incidentId: number;
  status: string;
  body: string;
  affectedComponents: AffectedComponent[] | null;
  createdAt: number;
  displayAt: number;
}

/** A page incident or maintenance, with its updates newest first. */
export interface PageIncident {
  id: number;
  publicId: string;
  kind: 'incident' | 'maintenance';
  name: string;
  status: string;
  impact: string;
  /** Component ids. */
  components: string[];
  internalIncidentId: number | null;
  startedAt: number;
  monitoringAt: number | null;
  resolvedAt: number | null;
  scheduledFor: number | null;
  scheduledUntil: number | null;
  createdAt: number;
  updatedAt: number;
  updates: PageIncidentUpdate[];
}

/** How many subscribers of one kind are in one state. */
export interface SubscriberCount {
  kind: string;
  state: string;
  count: number;
}

/** What `GET /api/v1/status-page/subscribers` answers. */
export interface SubscriberCounts {
  subscribers: SubscriberCount[];
  confirmed: number;
}

const BASE = '/api/v1/status-page';
const enc = encodeURIComponent;

/** Every component with its shown, derived and overridden status, in the config's order. */
export async function listPageComponents(): Promise<PageComponent[]> {
  return (await get<{ components: PageComponent[] }>(`${BASE}/components`)).components;
}
/** Shows `status` on a component by hand, until `until` (ISO 8601) or until cleared. */
export function setComponentOverride(
  component: string,
  body: { status: string; until?: string | null; reason?: string | null },
): Promise<PageComponent> {
  return post<PageComponent>(`${BASE}/components/${enc(component)}/override`, body);
}
/** Clears a component's override: it shows its derived status again. */
export function clearComponentOverride(component: string): Promise<PageComponent> {
  return post<PageComponent>(`${BASE}/components/${enc(component)}/override/clear`);
}

/** The 50 most recent page incidents, newest first. */
export async function listPageIncidents(): Promise<PageIncident[]> {
  return (await get<{ incidents: PageIncident[] }>(`${BASE}/incidents`)).incidents;
}
/** Opens a page incident with its first update. */
export function openPageIncident(body: {
  name: string;
  body: string;
  status?: string;
  impact?: string;
  components?: string[];
}): Promise<PageIncident> {
  return post<PageIncident>(`${BASE}/incidents`, body);
}
/** Posts an update of a page incident (by public id). */
export function updatePageIncident(
  publicId: string,
  body: { body: string; status?: string; impact?: string },
): Promise<PageIncident> {
  return post<PageIncident>(`${BASE}/incidents/${enc(publicId)}/updates`, body);
}
/** Resolves a page incident with a last update (a default text when none is given). */
export function resolvePageIncident(publicId: string, body?: string): Promise<PageIncident> {
  return post<PageIncident>(`${BASE}/incidents/${enc(publicId)}/resolve`, body ? { body } : {});
}

/** The 50 most recent maintenances, latest scheduled first. */
export async function listPageMaintenances(): Promise<PageIncident[]> {
  return (await get<{ maintenances: PageIncident[] }>(`${BASE}/maintenances`)).maintenances;
}
/** Schedules a maintenance of some components; the times are ISO 8601. */
export function schedulePageMaintenance(body: {
  name: string;
  components: string[];
  scheduledFor: string;
  scheduledUntil: string;
  body?: string;
}): Promise<PageIncident> {
  return post<PageIncident>(`${BASE}/maintenances`, body);
}
/** Moves a maintenance along (`in_progress`, `verifying`, `completed`), with an optional message. */
export function updatePageMaintenance(
  publicId: string,
  body: { status?: string; body?: string },
): Promise<PageIncident> {
  return post<PageIncident>(`${BASE}/maintenances/${enc(publicId)}/updates`, body);
}

/** The page's subscribers counted by kind and state, and how many are confirmed. */
export function pageSubscriberCounts(): Promise<SubscriberCounts> {
  return get<SubscriberCounts>(`${BASE}/subscribers`);
}
