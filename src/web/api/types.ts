/**
 * The shapes of the API's answers that the dashboard reads, as docs/api.md describes them. The
 * dashboard is a client like the CLI: it keeps its own copy of the contract rather than importing
 * the server's modules.
 */

/** `progressing | waiting | paused | succeeded | rolled_back | aborted | failed`. */
export type ReleaseState = string;
/** The roles, lowest first. */
export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];

/** A release as the API shows it. */
export interface Release {
  id: number;
  service: string;
  version: string;
  fromVersion: string | null;
  kind: 'deploy' | 'rollback' | string;
  state: ReleaseState;
  phase: string;
  step: number;
  steps: number;
  stepName: string | null;
  /** Every strategy step as written (`setWeight 10`, `pause 30s`), when the server sends it. */
  plan?: string[];
  weight: number;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
  stepStartedAt: number;
  phaseStartedAt: number;
}

/** One instance of a version, as status shows it. */
export interface InstanceView {
  id: string;
  address: string;
  state: string;
  restarts: number;
  lastError: string | null;
}

/** Live figures of one version over the last 10 seconds. */
export interface VersionFigures {
  version: string;
  rps: number;
  requests: number;
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
  instances: InstanceView[];
}

/** `GET /api/v1/services/:service`. */
export interface ServiceStatus {
  service: string;
  environment: string | null;
  stable: string | null;
  previous: string | null;
  release: Release | null;
  versions: { stable: VersionFigures | null; canary: VersionFigures | null };
  replica: { id: string; leading: boolean; holder: string | null } | null;
}

/** One unit of `GET /api/v1/services`. */
export interface ServiceSummary {
  /** The unit's name: `web`, or `web@production` with environments. */
  name: string;
  service: string;
  environment: string | null;
  stable: string | null;
  release: Release | null;
  /** How many of the unit's scheduled checks are failing now. */
  maintenance?: { failing: number };
}

/** One stored event, as the API and the event stream carry it. */
export interface ShipcheckEvent {
  id: number;
  service: string;
  releaseId: number | null;
  at: number;
  type: string;
  message: string;
  data: Record<string, unknown>;
}

/** One evaluation of one trigger. */
export interface Measurement {
  id?: number;
  releaseId?: number;
  at: number;
  trigger: string;
  metric: string;
  version: string;
  value: number | null;
  threshold: number | null;
  verdict: 'pass' | 'fail' | 'inconclusive';
  windowMs: number;
  requests: number;
  message: string;
  inputs: Record<string, unknown>;
}

/** One version's figures in a sample of a release's traffic. */
export interface SampleFigures {
  version: string;
  rps: number;
  requests: number;
  errors: number;
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
}

/** Stable and canary figures at one moment of a release (`GET /api/v1/releases/:id/samples`). */
export interface Sample {
  at: number;
  stable: SampleFigures | null;
  canary: SampleFigures | null;
}

/** What an item saw, or who signed it. */
export interface Evidence {
  at: number;
  summary: string;
  output?: string;
  value?: number;
  data?: Record<string, unknown>;
  by?: string;
  note?: string;
}

/** One item of a release's checklist. */
export interface ChecklistItem {
  releaseId: number;
  id: string;
  position: number;
  section: string;
  title: string;
  kind: string;
  gate: string;
  params: Record<string, unknown>;
  hint: string | null;
  automated: boolean;
  state: string;
  evidence: Evidence[];
  updatedAt: number;
}

/** `GET /api/v1/releases/:id/checklist`. */
export interface ChecklistView {
  release: Release;
  gate: string | null;
  items: ChecklistItem[];
  auditHead: { seq: number; hash: string } | null;
}

/** A person who may sign in. */
export interface User {
  name: string;
  email: string | null;
  roles: string[];
  groups: string[];
  source: 'local' | 'oidc';
  disabled: boolean;
  lockedUntil: number | null;
  mfa: boolean;
  createdAt: number;
}

/** An API token, without its secret. */
export interface Token {
  id: string;
  name: string;
  user: string;
  role: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** `GET /api/v1/session`. */
export interface Session {
  actor: string;
  user: User;
  token: Token | null;
  csrf: string | null;
  expiresAt: number | null;
}

/** One entry of the audit log. */
export interface AuditEntry {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  service: string | null;
  address: string | null;
  result: 'ok' | 'denied' | 'failed';
  reason: string | null;
  data: Record<string, unknown> | null;
  prev: string;
  hash: string;
}

/** `GET /api/v1/audit/verify`. */
export type AuditVerification =
  | { ok: true; count: number; head: { seq: number; hash: string } | null }
  | { ok: false; count: number; firstBad: number; problem: string; message: string };

/** An incident, as `GET /api/v1/incidents` lists it (docs/incidents.md). */
export interface Incident {
  id: number;
  key: string;
  title: string;
  severity: 'critical' | 'error' | 'warning' | 'info';
  state: 'triggered' | 'acknowledged' | 'resolved';
  source: 'manual' | 'rollback' | 'alert';
  service: string | null;
  releaseId: number | null;
  policy: string | null;
  public: boolean;
  postmortem: string | null;
  acknowledgedBy: string | null;
  acknowledgedAt: number | null;
  resolvedBy: string | null;
  resolvedAt: number | null;
  createdAt: number;
  updatedAt: number;
  escalation: { step: number; round: number; cycle: number; nextAt: number | null; exhausted: boolean };
}

/** One entry of an incident's timeline. */
export interface IncidentEntry {
  id: number;
  at: number;
  actor: string;
  kind: string;
  message: string;
}

/** `GET /api/v1/incidents/:id`. */
export interface IncidentDetail {
  incident: Incident;
  timeline: IncidentEntry[];
}

/** One person on call from `start` to `end`, by a layer or an override. */
export interface OnCallShift {
  user: string;
  start: number;
  end: number;
  layer: string | null;
  override: boolean;
  overrideId: number | null;
}

/** `GET /api/v1/oncall`. */
export interface OnCallNow {
  at: number;
  schedules: {
    name: string;
    timeZone: string;
    users: string[];
    shifts: OnCallShift[];
    start: number | null;
    end: number | null;
  }[];
  policies: {
    name: string;
    repeat: number;
    ackTimeoutMs: number;
    steps: { delayMs: number; users: string[]; channels: string[] }[];
  }[];
  warnings: string[];
}

/** `GET /api/v1/oncall/schedules/:name/shifts`. */
export interface ScheduleShifts {
  schedule: string;
  timeZone: string;
  from: number;
  to: number;
  shifts: OnCallShift[];
}

/** A notification channel as `GET /api/v1/channels` shows it. */
export interface Channel {
  name: string;
  /** `webhook`, `slack`, `email`, `pagerduty`… */
  type: string;
  /** Where it sends, without secrets. */
  target: string;
  disabled: boolean;
  /** Why it was disabled (an endpoint answered 410), when it is. */
  disabledReason: string | null;
  disabledAt: number | null;
}

/** What a notification says. */
export interface Notice {
  event: string;
  title: string;
  text: string;
  severity: string;
  service?: string;
  url?: string;
}

/** `pending | delivered | failed`. */
export type NotificationState = 'pending' | 'delivered' | 'failed';

/** One entry of the delivery log. */
export interface NotificationEntry {
  id: number;
  key: string;
  /** The channel name, `user:NAME` or `subscriber:ID`. */
  channel: string;
  to: { channel: string } | { user: string; contactMethod?: number } | { subscriber: number };
  notice: Notice;
  state: NotificationState;
  attempts: number;
  /** When the next attempt is due (pending entries). */
  nextAttemptAt: number;
  lastError: string | null;
  claimedBy: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

/** `GET /api/v1/notifications/summary`. */
export interface NotificationSummary {
  pending: number;
  failed: number;
  disabledChannels: { name: string; reason: string; at: number }[];
}

/** One runbook of a service, as `GET /api/v1/services/:service/runbooks` lists it. */
export interface RunbookView {
  index: number;
  title: string;
  kind: 'file' | 'url';
  file?: string;
  url?: string;
}

/** One runbook rendered: HTML made by the server from markdown with raw HTML escaped. */
export interface RenderedRunbook extends RunbookView {
  html: string;
  error?: string;
}

/** One service's entry of `GET /api/v1/catalog`. */
export interface CatalogServiceView {
  service: string;
  catalog: {
    owner?: string;
    team?: string;
    tier?: number | string;
    description?: string;
    dependencies: { name: string; kind: string; url?: string; critical: boolean }[];
    dataFlows: { from: string; to: string; data: string; description?: string }[];
    runbooks: { title: string; file?: string; url?: string }[];
    contacts: ({ user: string } | { schedule: string })[];
  } | null;
  runbooks: RunbookView[];
}

/** `GET /api/v1/catalog`. */
export interface CatalogView {
  catalog: string;
  services: CatalogServiceView[];
  diagrams: Record<
    'dependencies' | 'data-flow',
    { title: string; svg: string; mermaid: string; edges: string[] }
  >;
}
