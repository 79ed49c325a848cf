import { z } from 'zod';
import type { Gate } from '../domain/checklist.js';
import type { ReleaseView, StatusView } from '../engine/views.js';
import type { ChecklistItemRow, EventRow } from '../store/types.js';
import type { ServiceSummary } from './format.js';
import type { ReloadReport } from '../control-plane.js';
import type { AuditEntry, ChainLink, VerifyResult } from '../security/audit-chain.js';

/**
 * The shape of one API answer: a schema of every field the CLI reads, typed as the server's view.
 * Objects are loose, so a newer server may add fields; states and kinds are checked as strings, so a
 * new state reaches the CLI as data (and its exit-code fallback) rather than as "not shipcheck".
 */
export interface ApiShape<T> {
  /** What the answer is, for messages: `a release`, `the checklist`. */
  readonly what: string;
  readonly schema: z.ZodType;
  /** Only carries `T`; never set. */
  readonly type?: T;
}

function shape<T>(what: string, schema: z.ZodType): ApiShape<T> {
  return { what, schema };
}

const epochMs = z.number().nonnegative();
const percent = z.number().min(0).max(100);

const release = z.looseObject({
  id: z.number().int().positive(),
  service: z.string(),
  version: z.string(),
  fromVersion: z.string().nullable(),
  kind: z.string(),
  state: z.string().min(1),
  phase: z.string().min(1),
  step: z.number().int().nonnegative(),
  steps: z.number().int().nonnegative(),
  stepName: z.string().nullable(),
  weight: percent,
  reason: z.string().nullable(),
  createdAt: epochMs,
  endedAt: epochMs.nullable(),
});

const figures = z.looseObject({
  version: z.string(),
  rps: z.number(),
  errorRate: z.number().nullable(),
  p99: z.number().nullable(),
  instances: z.array(z.looseObject({ id: z.string(), state: z.string() })),
});

const evidence = z.looseObject({
  at: epochMs,
  summary: z.string(),
  note: z.string().optional(),
  by: z.string().optional(),
});

const checklistItem = z.looseObject({
  id: z.string().min(1),
  section: z.string(),
  title: z.string(),
  kind: z.string(),
  gate: z.string(),
  automated: z.boolean(),
  state: z.string().min(1),
  hint: z.string().nullable(),
  evidence: z.array(evidence),
});

/** A release: what deploy, promote, pause, resume, abort and rollback answer, and GET /releases/:id. */
export const releaseShape = shape<ReleaseView>('a release', release);

/** GET /services/:service. */
export const statusShape = shape<StatusView>(
  'the service status',
  z.looseObject({
    service: z.string(),
    environment: z.string().nullable().optional(),
    stable: z.string().nullable(),
    previous: z.string().nullable(),
    release: release.nullable(),
    versions: z.looseObject({ stable: figures.nullable(), canary: figures.nullable() }),
    replica: z
      .looseObject({ id: z.string(), leading: z.boolean(), holder: z.string().nullable() })
      .nullable()
      .optional(),
  }),
);

/** GET /services: every unit with its stable version and its active or last release. */
export const servicesShape = shape<{ services: (ServiceSummary & { service: string })[] }>(
  'the list of services',
  z.looseObject({
    services: z.array(
      z.looseObject({
        name: z.string(),
        service: z.string(),
        stable: z.string().nullable(),
        release: release.nullable().optional(),
      }),
    ),
  }),
);

/** GET /releases/:id/events. */
export const eventsShape = shape<{ events: EventRow[] }>(
  "a release's events",
  z.looseObject({
    events: z.array(
      z.looseObject({ id: z.number().int(), at: epochMs, type: z.string(), message: z.string() }),
    ),
  }),
);

/** What `checklist --json` prints: `{release, gate, items: [{id, section, title, kind, gate, state, evidence}]}`. */
export interface ChecklistView {
  release: ReleaseView;
  gate: Gate | null;
  items: ChecklistItemRow[];
  /** The audit log's head when the checklist was read (null from a server before the audit log). */
  auditHead: { seq: number; hash: string } | null;
}

/** GET /services/:service/checklist and /releases/:id/checklist. */
export const checklistShape = shape<ChecklistView>(
  'a checklist',
  z.looseObject({
    release,
    gate: z.string().nullable(),
    items: z.array(checklistItem),
    // Servers before the audit log send none.
    auditHead: z
      .object({ seq: z.number(), hash: z.string() })
      .nullable()
      .optional()
      .transform((head) => head ?? null),
  }),
);

/** POST /services/:service/checklist/sign, waive and rerun. */
export const checklistItemShape = shape<ChecklistItemRow>('a checklist item', checklistItem);

/** What `sign --gate` gets back: the items it signed, and the gate they belong to. */
export interface SignedGate {
  gate: Gate;
  signed: ChecklistItemRow[];
}

/** POST /services/:service/checklist/sign-gate. */
export const signedGateShape = shape<SignedGate>(
  'the signed items',
  z.looseObject({ gate: z.string().min(1), signed: z.array(checklistItem) }),
);

/** Every error answer of the API: `{"error": "..."}`. */
export const errorSchema = z.looseObject({ error: z.string() });

/** POST /reload: what the reload did, by service (and channel) name. */
export const reloadShape = shape<ReloadReport>(
  'a reload report',
  z.looseObject({
    added: z.array(z.string()),
    changed: z.array(z.string()),
    removed: z.array(z.string()),
    deferred: z.array(z.string()),
    unchanged: z.array(z.string()),
    restartNeeded: z.array(z.string()),
    // A server from before channels were reloaded says nothing of them.
    channels: z
      .looseObject({ added: z.array(z.string()), changed: z.array(z.string()), removed: z.array(z.string()) })
      .prefault({ added: [], changed: [], removed: [] }),
  }),
);

/** A user as the API shows one (never a password hash or TOTP secret). */
export interface UserView {
  name: string;
  email: string | null;
  /** `admin`, `deployer@production`. */
  roles: string[];
  groups: string[];
  source: string;
  disabled: boolean;
  /** When a lockout after failed logins ends (epoch ms); null when not locked. */
  lockedUntil: number | null;
  mfa: boolean;
  createdAt: number;
}

const user = z.looseObject({
  name: z.string().min(1),
  email: z.string().nullable(),
  roles: z.array(z.string()),
  groups: z.array(z.string()),
  source: z.string(),
  disabled: z.boolean(),
  lockedUntil: epochMs.nullable(),
  mfa: z.boolean(),
  createdAt: epochMs,
});

/** POST /users and /users/:name/ACTION. */
export const userShape = shape<{ user: UserView }>('a user', z.looseObject({ user }));

/** GET /users. */
export const usersShape = shape<{ users: UserView[] }>(
  'the list of users',
  z.looseObject({ users: z.array(user) }),
);

/** An API token as lists show it; `id` is its first characters, never the token. */
export interface TokenView {
  id: string;
  name: string;
  user: string | null;
  role: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const token = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  user: z.string().nullable(),
  role: z.string(),
  createdAt: epochMs,
  expiresAt: epochMs.nullable(),
  lastUsedAt: epochMs.nullable(),
  revokedAt: epochMs.nullable(),
});

/** GET /tokens. */
export const tokensShape = shape<{ tokens: TokenView[] }>(
  'the list of tokens',
  z.looseObject({ tokens: z.array(token) }),
);

/** POST /tokens/:id/revoke. */
export const tokenShape = shape<TokenView>('a token', token);

/** POST /tokens: the token itself, in this answer only. */
export const createdTokenShape = shape<TokenView & { token: string }>(
  'a new token',
  token.extend({ token: z.string().startsWith('shc_') }),
);

/** POST /login: the session's CSRF token; the cookie comes in set-cookie. */
export const loginShape = shape<{ user: UserView; csrf: string; expiresAt: number }>(
  'a login',
  z.looseObject({ user, csrf: z.string().min(1), expiresAt: epochMs }),
);

/** GET /session: who the credentials belong to. */
export const sessionShape = shape<{ actor: string; user: UserView | null }>(
  'the session',
  z.looseObject({ actor: z.string(), user: user.nullable() }),
);

/** POST /logout. */
export const okShape = shape<{ ok: boolean }>('an acknowledgement', z.looseObject({ ok: z.boolean() }));

/** POST /me/mfa/enrol: the new TOTP secret and its otpauth:// URI. */
export const enrolmentShape = shape<{ secret: string; uri: string }>(
  'a TOTP enrolment',
  z.looseObject({ secret: z.string().min(1), uri: z.string().startsWith('otpauth://') }),
);

/** POST /me/mfa/confirm: the recovery codes, shown once. */
export const recoveryCodesShape = shape<{ recoveryCodes: string[] }>(
  'recovery codes',
  z.looseObject({ recoveryCodes: z.array(z.string().min(1)) }),
);

const auditEntry = z.looseObject({
  seq: z.number().int().positive(),
  at: epochMs,
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  service: z.string().nullable(),
  address: z.string().nullable(),
  result: z.enum(['ok', 'denied', 'failed']),
  reason: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  prev: z.string(),
  hash: z.string(),
});

/** GET /audit: one page of entries, oldest first, and the chain's recorded head. */
export const auditPageShape = shape<{
  entries: AuditEntry[];
  head: ChainLink | null;
  archive: ChainLink | null;
}>(
  'a page of the audit log',
  z.looseObject({
    entries: z.array(auditEntry),
    head: z.looseObject({ seq: z.number().int(), hash: z.string() }).nullable(),
    // The last entry moved to an archive file; servers before retention send none.
    archive: z
      .object({ seq: z.number().int(), hash: z.string() })
      .nullable()
      .optional()
      .transform((link) => link ?? null),
  }),
);

/** POST /audit/archive: how many entries went, and where the live chain now starts. */
export const auditArchivedShape = shape<{ archived: number; archive: ChainLink }>(
  'an audit archive receipt',
  z.looseObject({
    archived: z.number().int(),
    archive: z.object({ seq: z.number().int(), hash: z.string() }),
  }),
);

/** GET /audit/verify: the verdict on the whole chain. */
export const auditVerdictShape = shape<VerifyResult>(
  'an audit verdict',
  z.union([
    z.looseObject({
      ok: z.literal(true),
      count: z.number().int().nonnegative(),
      head: z.looseObject({ seq: z.number().int(), hash: z.string() }).optional(),
    }),
    z.looseObject({
      ok: z.literal(false),
      count: z.number().int().nonnegative(),
      firstBad: z.number().int(),
      problem: z.string(),
      message: z.string(),
    }),
  ]),
);

const oncallShift = z.looseObject({
  user: z.string(),
  start: epochMs,
  end: epochMs,
  layer: z.string().nullable(),
  override: z.boolean(),
  overrideId: z.number().int().nullable(),
});

/** One shift as the on-call routes answer it. */
export type OnCallShiftView = z.output<typeof oncallShift>;

/** GET /oncall: who each schedule has on call, and whom each escalation step reaches. */
export const oncallShape = shape<{
  at: number;
  schedules: {
    name: string;
    timeZone: string;
    users: string[];
    shifts: OnCallShiftView[];
    start: number | null;
    end: number | null;
  }[];
  policies: {
    name: string;
    repeat: number;
    ackTimeoutMs: number;
    steps: { delayMs: number; users: string[]; channels: string[]; targets: Record<string, unknown>[] }[];
  }[];
  warnings: string[];
}>(
  'who is on call',
  z.looseObject({
    at: epochMs,
    schedules: z.array(
      z.looseObject({
        name: z.string(),
        timeZone: z.string(),
        users: z.array(z.string()),
        shifts: z.array(oncallShift),
        start: epochMs.nullable(),
        end: epochMs.nullable(),
      }),
    ),
    policies: z.array(
      z.looseObject({
        name: z.string(),
        repeat: z.number(),
        ackTimeoutMs: z.number(),
        steps: z.array(
          z.looseObject({
            delayMs: z.number(),
            users: z.array(z.string()),
            channels: z.array(z.string()),
            targets: z.array(z.record(z.string(), z.unknown())),
          }),
        ),
      }),
    ),
    warnings: z.array(z.string()),
  }),
);

/** GET /oncall/schedules/:name/shifts. */
export const oncallShiftsShape = shape<{
  schedule: string;
  timeZone: string;
  from: number;
  to: number;
  shifts: OnCallShiftView[];
}>(
  "a schedule's shifts",
  z.looseObject({
    schedule: z.string(),
    timeZone: z.string(),
    from: epochMs,
    to: epochMs,
    shifts: z.array(oncallShift),
  }),
);

const oncallOverride = z.looseObject({
  id: z.number().int().positive(),
  schedule: z.string(),
  user: z.string(),
  startsAt: epochMs,
  endsAt: epochMs,
  reason: z.string().nullable(),
  createdBy: z.string(),
  removedAt: epochMs.nullable(),
});

/** An on-call override made through the API. */
export type OnCallOverrideView = z.output<typeof oncallOverride>;

/** GET /oncall/schedules/:name/overrides. */
export const oncallOverridesShape = shape<{
  schedule: string;
  overrides: OnCallOverrideView[];
  configured: { user: string; startsAt: number; endsAt: number; reason: string | null }[];
}>(
  "a schedule's overrides",
  z.looseObject({
    schedule: z.string(),
    overrides: z.array(oncallOverride),
    configured: z.array(
      z.looseObject({ user: z.string(), startsAt: epochMs, endsAt: epochMs, reason: z.string().nullable() }),
    ),
  }),
);

/** POST /oncall/schedules/:name/overrides and POST /oncall/overrides/:id/remove. */
export const oncallOverrideShape = shape<{ override: OnCallOverrideView; warnings?: string[] }>(
  'an on-call override',
  z.looseObject({ override: oncallOverride, warnings: z.array(z.string()).optional() }),
);
