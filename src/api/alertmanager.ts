import { registerSecret } from '../util/secrets.js';
import { withAccess } from './access.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { Reasons } from '../engine/reasons.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Store } from '../store/types.js';
import { unitName } from '../domain/release.js';
import type { Incidents } from '../comms/incidents/incidents.js';
import { SEVERITIES } from '../comms/incidents/types.js';
import type { Severity } from '../comms/types.js';

/** Where Alertmanager's webhook receiver posts. */
export const ALERTMANAGER_PATH = '/api/v1/alerts/alertmanager';
/** The webhook payload version Alertmanager sends (the only one it has ever sent). */
export const PAYLOAD_VERSION = '4';
/** Event recorded for a resolved alert; firing alerts are recorded by the engine as `alert.firing`. */
export const ALERT_RESOLVED = 'alert.resolved';
/** The event type of a firing alert that was recorded without a rollback. */
export const ALERT_FIRING = 'alert.firing';
/** Shortest token accepted, the same bound the config schema puts on `rollback.alerts.token`. */
const MIN_TOKEN_LENGTH = 16;
/** A large alert group is still one delivery; refusing it with 413 would make Alertmanager retry forever. */
const BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** Alert deliveries remembered for de-duplication; the oldest are forgotten first. */
const SEEN_LIMIT = 10_000;
/** Longest summary kept in a release reason; the whole alert is in the event data. */
const SUMMARY_LIMIT = 200;
/** Validation problems listed in one 400 answer. */
const ISSUE_LIMIT = 5;
/** Sent with every 401, as RFC 6750 asks. */
const WWW_AUTHENTICATE = 'Bearer realm="shipcheck"';
const NOT_CONFIGURED =
  'no service takes Alertmanager alerts: configure rollback.alerts (a token and label matchers) in shipcheck.yaml';

// ---- targets: what each unit accepts, built from its config ------------------------------------------

/** One unit (service or service@environment) that takes Alertmanager alerts, built by `alertTargetOf`. */
export interface AlertTarget {
  /** The engine's name: `web`, or `web@staging`. */
  unit: string;
  service: string;
  environment?: string;
  /** As written in `rollback.alerts.matchers`; placeholders are filled in on each delivery. */
  matchers: string[];
  /** The bearer token Alertmanager must send to reach this unit. */
  token: string;
}

/**
 * The alert target of one unit, or undefined when its config has no `rollback.alerts`. Reads the token
 * from `env` when the config names `tokenEnv`; throws InputError when that variable is unset, empty or
 * too short, or when a matcher is not a valid `label OP "value"` (with a valid regex for `=~`, `!~`).
 */
export function alertTargetOf(
  config: Config,
  environment: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): AlertTarget | undefined {
  const alerts = config.rollback.alerts;
  if (!alerts) return undefined;
  const where = environment ? ` (environment ${environment})` : '';
  let token = alerts.token;
  if (token === undefined && alerts.tokenEnv !== undefined) {
    token = env[alerts.tokenEnv];
    if (!token) {
      throw new InputError(
        `rollback.alerts.tokenEnv${where}: the environment variable ${alerts.tokenEnv} is not set; ` +
          'set it to the bearer token Alertmanager sends',
      );
    }
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new InputError(
        `rollback.alerts.tokenEnv${where}: ${alerts.tokenEnv} holds ${token.length} characters; ` +
          `use a token of at least ${MIN_TOKEN_LENGTH}`,
      );
    }
  }
  if (token === undefined) throw new InputError(`rollback.alerts${where}: give token or tokenEnv`);
  registerSecret(token);
  const vars = { service: config.service, environment: environment ?? '', version: 'v0' };
  alerts.matchers.forEach((text, i) => {
    try {
      compileMatcher(parseMatcher(text), vars);
    } catch (err) {
      throw new InputError(`rollback.alerts.matchers[${i}]${where}: ${(err as Error).message}`);
    }
  });
  return {
    unit: unitName(config.service, environment),
    service: config.service,
    ...(environment ? { environment } : {}),
    matchers: [...alerts.matchers],
    token,
  };
}

// ---- matchers: Prometheus label matching ------------------------------------------------------------

/** A label matcher operator, as in PromQL and Alertmanager. */
export type MatchOp = '=' | '!=' | '=~' | '!~';

/** One matcher as written: the value is unquoted, its placeholders not yet filled in. */
export interface LabelMatcher {
  label: string;
  op: MatchOp;
  value: string;
}

/** What placeholders in a matcher value become. */
export interface MatcherVars {
  service: string;
  /** Empty without environments, which matches an alert that has no such label. */
  environment: string;
  /** The active release's version, else the stable version, else empty. */
  version: string;
}

/** A matcher with its placeholders filled in, ready to test label sets. */
export interface CompiledMatcher {
  /** `service="web"`: the matcher as it was applied. */
  readonly text: string;
  matches(labels: Readonly<Record<string, string>>): boolean;
}

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/;
const PLACEHOLDER = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;
const PLACEHOLDERS: readonly (keyof MatcherVars)[] = ['service', 'environment', 'version'];
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };

/** Parses `label OP "value"` (OP one of `=`, `!=`, `=~`, `!~`); throws InputError otherwise. */
export function parseMatcher(text: string): LabelMatcher {
  const match = MATCHER.exec(text);
  if (!match) {
    throw new InputError(
      `matcher '${text}' is not label OP "value" (operators =, !=, =~, !~), e.g. service="{{service}}"`,
    );
  }
  const [, label = '', op = '=', quoted = ''] = match;
  // Go string escapes; any other backslash is kept, so a regex such as "5\d\d" means what it says.
  const value = quoted.replace(/\\(.)/g, (all, c: string) => ESCAPES[c] ?? all);
  for (const [, name = ''] of value.matchAll(PLACEHOLDER)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new InputError(
        `matcher '${text}': unknown placeholder {{${name}}}; use {{service}}, {{environment}} or {{version}}`,
      );
    }
  }
  return { label, op: op as MatchOp, value };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Fills in the placeholders (escaped for a regex under `=~`, `!~`) and builds the test. Regexes are
 * fully anchored, `^(?:re)$`, as in Prometheus; a missing label matches as the empty string.
 */
export function compileMatcher(matcher: LabelMatcher, vars: MatcherVars): CompiledMatcher {
  const regex = matcher.op === '=~' || matcher.op === '!~';
  const value = matcher.value.replace(PLACEHOLDER, (_all, name: keyof MatcherVars) =>
    regex ? escapeRegex(vars[name]) : vars[name],
  );
  const text = `${matcher.label}${matcher.op}${JSON.stringify(value)}`;
  const valueOf = (labels: Readonly<Record<string, string>>): string => labels[matcher.label] ?? '';
  if (!regex) {
    const equal = matcher.op === '=';
    return { text, matches: (labels) => (valueOf(labels) === value) === equal };
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(`^(?:${value})$`);
  } catch (err) {
    throw new InputError(`matcher '${text}': ${(err as Error).message}`);
  }
  const positive = matcher.op === '=~';
  return { text, matches: (labels) => pattern.test(valueOf(labels)) === positive };
}

/** Parses and compiles every matcher of a target; an alert must satisfy them all. */
export function compileMatchers(texts: readonly string[], vars: MatcherVars): CompiledMatcher[] {
  return texts.map((text) => compileMatcher(parseMatcher(text), vars));
}

/** True when `labels` satisfy every matcher. */
export function matchesAll(
  matchers: readonly CompiledMatcher[],
  labels: Readonly<Record<string, string>>,
): boolean {
  return matchers.every((m) => m.matches(labels));
}

// ---- the payload ------------------------------------------------------------------------------------

const labelSet = z.record(z.string(), z.string({ error: 'expected a string label value' }));
const timestamp = z
  .string({ error: 'expected an RFC 3339 time such as 2026-01-02T03:04:05Z' })
  .refine((s) => !Number.isNaN(Date.parse(s)), 'expected an RFC 3339 time such as 2026-01-02T03:04:05Z');
const alertStatus = z.enum(['firing', 'resolved'], { error: 'expected "firing" or "resolved"' });

const alertSchema = z.looseObject({
  status: alertStatus,
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: timestamp,
  endsAt: timestamp.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1, 'expected the alert fingerprint Alertmanager computes'),
});

/** Alertmanager's webhook payload, version 4; fields shipcheck does not read are kept as they are. */
export const alertmanagerPayloadSchema = z.looseObject({
  version: z.literal(PAYLOAD_VERSION, {
    error: (issue) =>
      issue.input === undefined
        ? `missing; Alertmanager sends "version": "${PAYLOAD_VERSION}"`
        : `expected "${PAYLOAD_VERSION}" (the Alertmanager webhook payload version shipcheck reads), got ${JSON.stringify(issue.input)}`,
  }),
  receiver: z.string(),
  status: alertStatus,
  alerts: z.array(alertSchema),
  groupKey: z.string(),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().optional(),
});

/** A validated webhook payload. */
export type AlertmanagerPayload = z.output<typeof alertmanagerPayloadSchema>;
/** One alert of a payload. */
export type AlertmanagerAlert = AlertmanagerPayload['alerts'][number];

function pathOf(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`))
    .join('');
}

/** Validates a webhook body; throws InputError naming each bad field (`alerts[0].startsAt: ...`). */
export function parseAlertmanagerPayload(body: unknown): AlertmanagerPayload {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError(
      `body must be a JSON object: the Alertmanager webhook payload (version ${PAYLOAD_VERSION})`,
    );
  }
  const parsed = alertmanagerPayloadSchema.safeParse(body, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  const listed = issues.slice(0, ISSUE_LIMIT).map((issue) => {
    const at = pathOf(issue.path);
    // A missing field reads better as "missing" than as a type mismatch against undefined.
    const missing = issue.code === 'invalid_type' && issue.input === undefined && at !== 'version';
    return `${at || '(payload)'}: ${missing ? 'missing' : issue.message}`;
  });
  const more = issues.length > ISSUE_LIMIT ? `; and ${issues.length - ISSUE_LIMIT} more` : '';
  throw new InputError(`invalid Alertmanager payload: ${listed.join('; ')}${more}`);
}

/** `HighErrorRate (severity=page): 5xx above 5%`: an alert as a person reads it in a release reason. */
export function describeAlert(alert: AlertmanagerAlert): string {
  const name = alert.labels.alertname ?? `alert ${alert.fingerprint}`;
  const severity = alert.labels.severity ? ` (severity=${alert.labels.severity})` : '';
  const text = (alert.annotations.summary ?? alert.annotations.description ?? '').replace(/\s+/g, ' ').trim();
  const summary = text.length > SUMMARY_LIMIT ? `${text.slice(0, SUMMARY_LIMIT - 1)}…` : text;
  return `${name}${severity}${summary ? `: ${summary}` : ''}`;
}

// ---- tokens -----------------------------------------------------------------------------------------

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Compares in constant time; hashing first gives equal-length buffers and hides the token's length. */
export function sameToken(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

// ---- the route --------------------------------------------------------------------------------------

/** The two engine entry points alerts use. */
export type AlertSink = Pick<Engine, 'alertFired' | 'alertRecorded'>;

/** What the webhook route needs. */
export interface AlertmanagerOptions {
  /** Engines by unit name, as the API holds them. */
  engines: ReadonlyMap<string, AlertSink>;
  /** Read for the version `{{version}}` stands for and the release an alert would roll back. */
  store: Pick<Store, 'activeRelease' | 'getService'>;
  /** Units that take alerts now (a reload may change them); empty when no config has `rollback.alerts`. */
  alerts: () => readonly AlertTarget[];
  /** Opens and resolves an incident per alert; alerts open none without it (docs/incidents.md). */
  incidents?: AlertIncidents;
}

/** How alerts open and resolve incidents. */
export interface AlertIncidents {
  incidents: Pick<Incidents, 'open' | 'resolveByKey'>;
  /**
   * The escalation policies' names now. Alerts open incidents only while there is one: an alert
   * labelled `escalation_policy` pages that policy, any other the first one.
   */
  policies: () => readonly string[];
}

/** The actor alert-driven incident changes are written as. */
export const ALERTMANAGER_ACTOR = 'alertmanager';

/** The dedup key of the incident an alert opens: one per alert, whatever the units it matched. */
export function alertIncidentKey(alert: AlertmanagerAlert): string {
  return `alertmanager:${alert.fingerprint}`;
}

/** `HighErrorRate: 5xx above 5%`: an alert's incident title. */
export function alertIncidentTitle(alert: AlertmanagerAlert): string {
  const name = alert.labels.alertname ?? `alert ${alert.fingerprint}`;
  const text = (alert.annotations.summary ?? '').replace(/\s+/g, ' ').trim();
  const title = text ? `${name}: ${text}` : name;
  return title.length > SUMMARY_LIMIT ? `${title.slice(0, SUMMARY_LIMIT - 1)}…` : title;
}

/** The alert's `severity` label when it is one of ours, else `error`. */
export function alertSeverity(alert: AlertmanagerAlert): Severity {
  const label = alert.labels.severity ?? '';
  return (SEVERITIES as readonly string[]).includes(label) ? (label as Severity) : 'error';
}

/** What one delivery did; Alertmanager ignores the body, people and tests read it. */
export interface AlertmanagerResult {
  /** Releases this delivery started rolling back. */
  rolledBack: { service: string; release: number; version: string }[];
  /** Alerts recorded as events without a rollback: resolved, or firing with nothing to roll back. */
  recorded: number;
  /** Alerts that matched no unit this token may reach. */
  ignored: number;
  /** Alerts already handled: Alertmanager retries and repeats notifications. */
  duplicates: number;
  /** Incidents this delivery opened (or found open) and resolved; absent while alerts open none. */
  incidents?: { opened: number[]; resolved: number[] };
}

/** Remembers handled deliveries of alerts, forgetting the oldest past a bound. */
class SeenAlerts {
  private readonly keys = new Set<string>();

  /** False when `key` was already there. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > SEEN_LIMIT) {
      const oldest = this.keys.values().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
    return true;
  }

  delete(key: string): void {
    this.keys.delete(key);
  }
}

/**
 * Registers `POST /api/v1/alerts/alertmanager`. Order of checks: 404 when no unit takes alerts, 401
 * without a matching bearer token (before the body is read), 400 for a malformed payload. A firing
 * alert matching a unit rolls its active release back once; repeats of it (same fingerprint and
 * startsAt) are counted and skipped. Resolved alerts are recorded; alerts matching nothing are ignored.
 */
export function registerAlertmanager(app: FastifyInstance, options: AlertmanagerOptions): void {
  const { engines, store } = options;
  const targetsNow = (): AlertTarget[] => options.alerts().filter((t) => engines.has(t.unit));
  const seen = new SeenAlerts();
  const allowedFor = new WeakMap<FastifyRequest, AlertTarget[]>();

  const unauthorized = (reply: FastifyReply, message: string): FastifyReply =>
    reply.status(401).header('www-authenticate', WWW_AUTHENTICATE).send({ error: message });

  const varsOf = async (target: AlertTarget): Promise<MatcherVars> => {
    const active = await store.activeRelease(target.unit);
    const version = active?.version ?? (await store.getService(target.unit))?.stableVersion ?? '';
    return { service: target.service, environment: target.environment ?? '', version };
  };

  const fire = async (
    target: AlertTarget,
    engine: AlertSink,
    alert: AlertmanagerAlert,
    payload: AlertmanagerPayload,
    result: AlertmanagerResult,
  ): Promise<void> => {
    const before = await store.activeRelease(target.unit);
    const reason = describeAlert(alert);
    if (before && Date.parse(alert.startsAt) < before.createdAt) {
      // Firing since before this release began: the release did not cause it, and rolling it back
      // would not cure it (a hotfix must get through an incident). Every replica decides the same way,
      // so a repeat that reaches another replica, or comes after a restart, cannot roll back twice.
      await engine.alertRecorded(
        ALERT_FIRING,
        `${reason}; firing since before release #${before.id} began, so it is not rolled back`,
        {
          fingerprint: alert.fingerprint,
          labels: alert.labels,
          startsAt: alert.startsAt,
          release: before.id,
        },
      );
      result.recorded += 1;
      return;
    }
    const release = await engine.alertFired(reason, {
      fingerprint: alert.fingerprint,
      labels: alert.labels,
      annotations: alert.annotations,
      startsAt: alert.startsAt,
      groupKey: payload.groupKey,
      receiver: payload.receiver,
    });
    // The engine records the alert without rolling back when nothing is active or a rollback is under
    // way already; only a release that was not rolling back and now carries this alert was ours.
    const ours =
      release !== undefined &&
      before !== undefined &&
      before.phase !== 'rolling-back' &&
      release.id === before.id &&
      (release.reason ?? '').includes(Reasons.alertFired(reason));
    if (ours) result.rolledBack.push({ service: target.unit, release: release.id, version: release.version });
    else result.recorded += 1;
  };

  const resolve = async (
    engine: AlertSink,
    alert: AlertmanagerAlert,
    payload: AlertmanagerPayload,
    result: AlertmanagerResult,
  ): Promise<void> => {
    await engine.alertRecorded(ALERT_RESOLVED, `alert resolved: ${describeAlert(alert)}`, {
      fingerprint: alert.fingerprint,
      labels: alert.labels,
      startsAt: alert.startsAt,
      endsAt: alert.endsAt,
      groupKey: payload.groupKey,
      receiver: payload.receiver,
    });
    result.recorded += 1;
  };

  app.post(
    ALERTMANAGER_PATH,
    {
      ...withAccess('alert-token'),
      bodyLimit: BODY_LIMIT_BYTES,
      // Runs before the body is read: nobody without the token gets a rollback or a parse error.
      onRequest: async (request, reply) => {
        const targets = targetsNow();
        if (targets.length === 0) throw new NotFoundError(NOT_CONFIGURED);
        const token = bearerToken(request.headers.authorization);
        if (token === undefined) {
          return unauthorized(
            reply,
            'missing "Authorization: Bearer <token>" header; set http_config.authorization.credentials ' +
              'in the Alertmanager webhook receiver to rollback.alerts.token',
          );
        }
        // Every token is compared, so the time taken does not depend on which one matched.
        const allowed = targets.filter((t) => sameToken(token, t.token));
        if (allowed.length === 0)
          return unauthorized(reply, 'the bearer token does not match rollback.alerts.token');
        allowedFor.set(request, allowed);
      },
    },
    async (request): Promise<AlertmanagerResult> => {
      const allowed = allowedFor.get(request) ?? [];
      const payload = parseAlertmanagerPayload(request.body);
      const result: AlertmanagerResult = { rolledBack: [], recorded: 0, ignored: 0, duplicates: 0 };
      const policies = options.incidents?.policies() ?? [];
      if (policies.length > 0) result.incidents = { opened: [], resolved: [] };
      // Placeholders are filled once per delivery, with the version each unit is releasing now.
      const units: { target: AlertTarget; engine: AlertSink; matchers: CompiledMatcher[] }[] = [];
      for (const target of allowed) {
        const engine = engines.get(target.unit);
        if (engine)
          units.push({ target, engine, matchers: compileMatchers(target.matchers, await varsOf(target)) });
      }
      for (const alert of payload.alerts) {
        const matching = units.filter((u) => matchesAll(u.matchers, alert.labels));
        if (matching.length === 0) {
          result.ignored += 1;
          continue;
        }
        const handled: string[] = [];
        for (const { target, engine } of matching) {
          // startsAt as a number: the same instant may be written with more or fewer fraction digits.
          const key = [target.unit, alert.status, alert.fingerprint, Date.parse(alert.startsAt)].join('\n');
          if (!seen.add(key)) {
            result.duplicates += 1;
            continue;
          }
          try {
            if (alert.status === 'firing') await fire(target, engine, alert, payload, result);
            else await resolve(engine, alert, payload, result);
          } catch (err) {
            // Not handled after all: Alertmanager retries on the 500, and the retry must act.
            seen.delete(key);
            throw err;
          }
          handled.push(key);
        }
        if (handled.length === 0 || !options.incidents || !result.incidents) continue;
        try {
          await alertIncident(
            options.incidents.incidents,
            policies,
            alert,
            matching[0]!.target,
            result.incidents,
          );
        } catch (err) {
          for (const key of handled) seen.delete(key);
          throw err;
        }
      }
      return result;
    },
  );
}

/** Opens the incident of a firing alert, or resolves it for a resolved one. */
async function alertIncident(
  incidents: AlertIncidents['incidents'],
  policies: readonly string[],
  alert: AlertmanagerAlert,
  target: AlertTarget,
  done: { opened: number[]; resolved: number[] },
): Promise<void> {
  const key = alertIncidentKey(alert);
  if (alert.status === 'resolved') {
    const resolved = await incidents.resolveByKey(
      key,
      ALERTMANAGER_ACTOR,
      `alert resolved: ${describeAlert(alert)}`,
    );
    if (resolved) done.resolved.push(resolved.id);
    return;
  }
  const named = alert.labels.escalation_policy;
  const policy = named !== undefined && policies.includes(named) ? named : policies[0];
  const incident = await incidents.open(
    {
      key,
      title: alertIncidentTitle(alert),
      severity: alertSeverity(alert),
      source: 'alert',
      service: target.unit,
      ...(policy !== undefined ? { policy } : {}),
      message: `alert firing: ${describeAlert(alert)}`,
    },
    ALERTMANAGER_ACTOR,
  );
  done.opened.push(incident.id);
}
