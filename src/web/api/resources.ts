/**
 * Every read and action of the dashboard, one function per API route, grouped by resource. Pages
 * call these and nothing else, so a route's path and answer shape live in one place.
 */
import { get, post, query } from './client.js';
import type {
  AuditEntry,
  AuditVerification,
  Channel,
  ChecklistItem,
  ChecklistView,
  Incident,
  IncidentDetail,
  Measurement,
  NotificationEntry,
  NotificationState,
  NotificationSummary,
  OnCallNow,
  Release,
  Sample,
  ServiceStatus,
  ServiceSummary,
  ScheduleShifts,
  ShipcheckEvent,
  Token,
  User,
  CatalogView,
  RenderedRunbook,
  RunbookView,
} from './types.js';

const enc = encodeURIComponent;

// Services
/** Every unit the caller may view, with its active or last release. */
export async function listServices(): Promise<ServiceSummary[]> {
  return (await get<{ services: ServiceSummary[] }>('/api/v1/services')).services;
}
/** A unit's status with live figures and instances. */
export function serviceStatus(unit: string): Promise<ServiceStatus> {
  return get<ServiceStatus>(`/api/v1/services/${enc(unit)}`);
}
/** A unit's releases, newest first. */
export async function listReleases(unit: string, limit = 20): Promise<Release[]> {
  return (await get<{ releases: Release[] }>(`/api/v1/services/${enc(unit)}/releases${query({ limit })}`))
    .releases;
}

// Releases
/** One release. */
export function getRelease(id: number): Promise<Release> {
  return get<Release>(`/api/v1/releases/${id}`);
}
/** A release's stored events, oldest first. */
export async function releaseEvents(id: number): Promise<ShipcheckEvent[]> {
  return (await get<{ events: ShipcheckEvent[] }>(`/api/v1/releases/${id}/events`)).events;
}
/** A release's trigger evaluations, oldest first. */
export async function releaseMeasurements(id: number): Promise<Measurement[]> {
  return (await get<{ measurements: Measurement[] }>(`/api/v1/releases/${id}/measurements`)).measurements;
}
/** Samples the API answers at most at once (a page: about 66 minutes of a release). */
const SAMPLES_PAGE = 2000;

/**
 * A release's samples of stable and canary figures, oldest first; after `after` (epoch ms) when
 * given. A long release's samples are read page by page.
 */
export async function releaseSamples(id: number, after?: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  let from = after;
  for (;;) {
    const page = (
      await get<{ samples: Sample[] }>(
        `/api/v1/releases/${id}/samples${query({ after: from, limit: SAMPLES_PAGE })}`,
      )
    ).samples;
    samples.push(...page);
    if (page.length < SAMPLES_PAGE) return samples;
    from = page.at(-1)!.at;
  }
}
/** A release's checklist and the gate it is at. */
export function releaseChecklist(id: number): Promise<ChecklistView> {
  return get<ChecklistView>(`/api/v1/releases/${id}/checklist`);
}
/** The last lines of an instance's log. */
export function instanceLog(
  unit: string,
  instance: string,
  lines = 50,
): Promise<{ instance: string; version: string; lines: string[]; truncated: boolean }> {
  return get(`/api/v1/services/${enc(unit)}/instances/${enc(instance)}/log${query({ lines })}`);
}

// Release controls: each acts on the unit's active release.
/** Starts a release of `version`. */
export function deploy(unit: string, version: string, otp?: string): Promise<Release> {
  return post<Release>(`/api/v1/services/${enc(unit)}/releases`, { version }, otp);
}
/** A control of the active release: promote (with `full`), pause, resume, abort or rollback. */
export function control(
  unit: string,
  action: 'promote' | 'pause' | 'resume' | 'abort' | 'rollback',
  options: { full?: boolean; otp?: string } = {},
): Promise<Release> {
  const body = action === 'promote' ? { full: options.full ?? false } : {};
  return post<Release>(`/api/v1/services/${enc(unit)}/${action}`, body, options.otp);
}

// Checklist
/** Signs a manual item. */
export function signItem(unit: string, item: string, note: string, otp?: string): Promise<ChecklistItem> {
  return post<ChecklistItem>(
    `/api/v1/services/${enc(unit)}/checklist/sign`,
    note ? { item, note } : { item },
    otp,
  );
}
/** Signs every pending manual item of the gate the unit's active release is at, with one note. */
export function signGate(
  unit: string,
  note: string,
  otp?: string,
): Promise<{ gate: string; signed: ChecklistItem[] }> {
  return post(`/api/v1/services/${enc(unit)}/checklist/sign-gate`, note ? { note } : {}, otp);
}
/** Waives an item with a reason. */
export function waiveItem(unit: string, item: string, reason: string, otp?: string): Promise<ChecklistItem> {
  return post<ChecklistItem>(`/api/v1/services/${enc(unit)}/checklist/waive`, { item, reason }, otp);
}
/** Runs a failed or inconclusive automated item again. */
export function rerunItem(unit: string, item: string, otp?: string): Promise<ChecklistItem> {
  return post<ChecklistItem>(`/api/v1/services/${enc(unit)}/checklist/rerun`, { item }, otp);
}

// Audit log
/** Filters of the audit log. */
export interface AuditFilter {
  actor?: string;
  action?: string;
  service?: string;
  since?: string;
  until?: string;
  after?: number;
  limit?: number;
}
/** Audit entries, oldest first, with the chain's head. */
export function auditEntries(filter: AuditFilter): Promise<{
  entries: AuditEntry[];
  head: { seq: number; hash: string } | null;
  archive: { seq: number; hash: string } | null;
}> {
  return get(`/api/v1/audit${query({ ...filter })}`);
}
/** Checks the whole chain. */
export function verifyAudit(): Promise<AuditVerification> {
  return get<AuditVerification>('/api/v1/audit/verify');
}

// People
/** Every user (admin). */
export async function listUsers(): Promise<User[]> {
  return (await get<{ users: User[] }>('/api/v1/users')).users;
}
/** Adds a user (admin). */
export async function addUser(user: {
  name: string;
  email?: string;
  password?: string;
  roles: string[];
  groups?: string[];
}): Promise<User> {
  return (await post<{ user: User }>('/api/v1/users', user)).user;
}
/** A user action that takes no fields (admin). */
export async function userAction(
  name: string,
  action: 'disable' | 'enable' | 'unlock' | 'reset-mfa',
): Promise<User> {
  return (await post<{ user: User }>(`/api/v1/users/${enc(name)}/${action}`)).user;
}
/** Replaces a user's roles and groups (admin). */
export async function setRoles(name: string, roles: string[], groups?: string[]): Promise<User> {
  return (
    await post<{ user: User }>(`/api/v1/users/${enc(name)}/roles`, groups ? { roles, groups } : { roles })
  ).user;
}
/** Sets a user's password (admin). */
export async function setPassword(name: string, password: string): Promise<User> {
  return (await post<{ user: User }>(`/api/v1/users/${enc(name)}/password`, { password })).user;
}

// Tokens
/** The caller's tokens, or everyone's with `all` (admin). */
export async function listTokens(all = false): Promise<Token[]> {
  return (await get<{ tokens: Token[] }>(`/api/v1/tokens${query({ all: all || undefined })}`)).tokens;
}
/** Creates a token; the answer is the only place its secret appears. */
export function createToken(body: {
  name: string;
  role: string;
  expiresIn?: string;
}): Promise<Token & { token: string }> {
  return post('/api/v1/tokens', body);
}
/** Revokes a token. */
export function revokeToken(id: string): Promise<Token> {
  return post<Token>(`/api/v1/tokens/${enc(id)}/revoke`);
}

// The caller's own TOTP
/** Starts TOTP enrolment: a secret, its otpauth URI and a QR code. */
export function enrolMfa(): Promise<{ secret: string; uri: string; qrSvg: string }> {
  return post('/api/v1/me/mfa/enrol');
}
/** Confirms enrolment with a code; answers the recovery codes, shown once. */
export function confirmMfa(code: string): Promise<{ recoveryCodes: string[] }> {
  return post('/api/v1/me/mfa/confirm', { code });
}
/** Proves a fresh code for the session (a step-up before protected actions). */
export function verifyMfa(code: string): Promise<{ ok: true }> {
  return post('/api/v1/me/mfa/verify', { code });
}

// Incidents
/** Incidents the caller may view, newest first. */
export async function listIncidents(
  filter: { state?: string; service?: string; limit?: number } = {},
): Promise<Incident[]> {
  return (await get<{ incidents: Incident[] }>(`/api/v1/incidents${query(filter)}`)).incidents;
}
/** One incident and its timeline. */
export function getIncident(id: number): Promise<IncidentDetail> {
  return get<IncidentDetail>(`/api/v1/incidents/${id}`);
}
/** Opens an incident by hand. */
export function openIncident(body: {
  title: string;
  severity?: string;
  service?: string;
  public?: boolean;
  message?: string;
}): Promise<IncidentDetail> {
  return post<IncidentDetail>('/api/v1/incidents', body);
}
/** Acknowledges or resolves an incident, with an optional message for the timeline. */
export function changeIncident(
  id: number,
  action: 'ack' | 'resolve',
  message?: string,
): Promise<IncidentDetail> {
  return post<IncidentDetail>(`/api/v1/incidents/${id}/${action}`, message ? { message } : {});
}
/** Adds a note; optionally changes the severity or the public flag. */
export function noteIncident(
  id: number,
  body: { message: string; severity?: string; public?: boolean },
): Promise<IncidentDetail> {
  return post<IncidentDetail>(`/api/v1/incidents/${id}/update`, body);
}
/** Sets the postmortem note. */
export function postmortemIncident(id: number, text: string): Promise<IncidentDetail> {
  return post<IncidentDetail>(`/api/v1/incidents/${id}/postmortem`, { text });
}

// On-call
/** Who each schedule has on call now, and whom each escalation step reaches. */
export function oncallNow(): Promise<OnCallNow> {
  return get<OnCallNow>('/api/v1/oncall');
}
/** A schedule's shifts from `from` to `to` (epoch ms, at most 90 days apart). */
export function scheduleShifts(schedule: string, from: number, to: number): Promise<ScheduleShifts> {
  return get<ScheduleShifts>(`/api/v1/oncall/schedules/${enc(schedule)}/shifts${query({ from, to })}`);
}

// Notifications
/** The installation's channels, with whether each is disabled and why. */
export async function listChannels(): Promise<Channel[]> {
  return (await get<{ channels: Channel[] }>('/api/v1/channels')).channels;
}
/**
 * Sends a test notice through a channel now. A refusal is an ApiError: 502 with the channel
 * server's answer, 409 when the channel is disabled.
 */
export function testChannel(name: string): Promise<{ delivered: true; notification: NotificationEntry }> {
  return post(`/api/v1/channels/${enc(name)}/test`);
}
/** Enables a channel an endpoint's 410 disabled. */
export function enableChannel(name: string): Promise<Channel> {
  return post<Channel>(`/api/v1/channels/${enc(name)}/enable`);
}
/** The delivery log, newest first; `before` reads below that entry's id. */
export async function listNotifications(
  filter: { channel?: string; state?: NotificationState | ''; before?: number; limit?: number } = {},
): Promise<NotificationEntry[]> {
  return (await get<{ notifications: NotificationEntry[] }>(`/api/v1/notifications${query(filter)}`))
    .notifications;
}
/** How many notifications are pending and failed, and which channels are disabled. */
export function notificationSummary(): Promise<NotificationSummary> {
  return get<NotificationSummary>('/api/v1/notifications/summary');
}
/** One delivery log entry. */
export function getNotification(id: number): Promise<NotificationEntry> {
  return get<NotificationEntry>(`/api/v1/notifications/${id}`);
}
/** Sends a failed notification again: it is pending once more. */
export function retryNotification(id: number): Promise<NotificationEntry> {
  return post<NotificationEntry>(`/api/v1/notifications/${id}/retry`);
}

// Catalog
/** Every service's catalog, with the diagrams' sources and edges. */
export function getCatalog(): Promise<CatalogView> {
  return get<CatalogView>('/api/v1/catalog');
}
/** A unit's runbooks (the service's; a unit with an environment reads its service's). */
export async function listRunbooks(unit: string): Promise<RunbookView[]> {
  return (await get<{ runbooks: RunbookView[] }>(`/api/v1/services/${enc(unit)}/runbooks`)).runbooks;
}
/** One runbook rendered to HTML by the server. */
export async function getRunbook(unit: string, index: number): Promise<RenderedRunbook> {
  return (await get<{ runbook: RenderedRunbook }>(`/api/v1/services/${enc(unit)}/runbooks/${index}`)).runbook;
}
