import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { type Access, requireAccess, routeConfigOf, withAccess } from './access.js';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../engine/engine.js';
import { type AlertTarget, registerAlertmanager } from './alertmanager.js';
import {
  type PrometheusSdService,
  prometheusTargets,
} from '../providers/metrics/prometheus/prometheus-sd.js';
import {
  ConflictError,
  ForbiddenError,
  InputError,
  NotFoundError,
  OtpRequiredError,
  ProviderError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../errors.js';
import type { Signer } from '../checklist/checklist-runner.js';
import { hasSecrets, redactSecrets } from '../util/secrets.js';
import { ANONYMOUS } from '../security/auth.js';
import type { ApiSecurity } from './api-security.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerOidcRoutes } from './oidc-routes.js';
import { registerWebApp, type WebFiles, webDist } from './web-app.js';
import { registerReleasePageRoutes } from './release-page-routes.js';
import { registerBaselineRoutes } from './baseline-routes.js';
import { registerIncidentRoutes } from './incident-routes.js';
import { Incidents } from '../comms/incidents/incidents.js';
import { systemClock } from '../util/clock.js';
import { registerStatusPageRoutes } from './status-page-routes.js';
import type { StatusPage } from '../comms/status-page/status-page.js';
import { registerNotificationRoutes } from './notification-routes.js';
import type { NotificationDispatcher } from '../comms/notification-dispatcher.js';
import { registerOnCallRoutes } from './oncall-routes.js';
import { registerCatalogRoutes } from './catalog-routes.js';
import type { LoadedConfig } from '../config/loader.js';
import type { OnCallConfig } from '../config/oncall-schema.js';
import { canView, installGuard } from './guard.js';
import { API_BODY_LIMIT_BYTES, Bodies, jsonContentTypeProblem, parseBody } from './bodies.js';
import type { Store } from '../store/types.js';
import { EventHub, type EventHubLimits } from './event-stream.js';
import type { ApiTls } from './tls.js';
import { IDEMPOTENCY_KEY_HEADER, parseIdempotencyKey } from './idempotency-key.js';
import { registerScalingRoutes } from './scaling-routes.js';
import { registerMaintenanceRoutes } from './maintenance-routes.js';
import type { Scheduler } from '../maintenance/scheduler.js';

/** Most rows any list endpoint returns. */
const MAX_LIMIT = 1000;
/**
 * Methods that change something. They take JSON only: a form or a `text/plain` fetch from any web
 * page is a "simple" request a browser sends cross-site without asking, so it must not pause,
 * abort or promote a release.
 */
const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Set on a 401 that asks for a fresh TOTP code in the `x-shipcheck-otp` request header. */
export const OTP_REQUIRED_HEADER = 'x-shipcheck-otp-required';
/** HTTP 415: the body is not in a media type the route takes. */
const UNSUPPORTED_MEDIA_TYPE = 415;

/** What the API serves. */
export interface ApiOptions {
  /** The engine of each service (or service@environment), by that name. */
  engines: ReadonlyMap<string, Engine>;
  store: Store;
  logger: Logger;
  registry: Registry;
  /** Units that take Alertmanager webhooks now (see `alertTargetOf`); none when omitted. */
  alerts?: () => readonly AlertTarget[];
  /** Re-reads the installation's files and applies them (`POST /api/v1/reload`); absent in tests of the API alone. */
  reload?: () => Promise<unknown>;
  /** Authentication, the audit log and the hosts answered; absent, the API is open (tests of the API alone). */
  security?: ApiSecurity;
  /** Serve HTTPS with these (`server.tls`), HSTS on every response; plain HTTP when absent. */
  tls?: ApiTls;
  /** Limits of the event stream (clients at once, unread bytes per client); the defaults when omitted. */
  events?: EventHubLimits;
  /** The notification dispatcher the channel routes test and enable through; absent, no channel is listed. */
  notifications?: NotificationDispatcher;
  /** The installation's on-call schedules and escalation policies as they are now (they change on reload); none when omitted. */
  oncall?: () => OnCallConfig;
  /** The built dashboard (`readWebDist`); read from dist/web when omitted, the "not built" page when null. */
  web?: WebFiles | null;
  /** The incident service; when omitted, one on the store that pages nobody (no escalation policies). */
  incidents?: Incidents;
  /** The escalation policies' names now; alerts open incidents only while there is one. None when omitted. */
  escalationPolicies?: () => readonly string[];
  /** The public status page (`statusPage:`); its routes answer 404 while this gives none. */
  statusPage?: () => StatusPage | undefined;
  /** The installation's services as they are now, for the catalog routes; none when omitted. */
  catalog?: () => readonly LoadedConfig[];
  /** The scheduler of each unit (scheduled checks); none when omitted. */
  schedulers?: () => ReadonlyMap<string, Scheduler>;
}

/** Fastify's wording for body problems, replaced by wording that says what to send. */
function messageOf(err: FastifyError, bodyLimit: number): string {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than ${bodyLimit.toLocaleString('en-US')} bytes`;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is empty; send a JSON object, {} when there is nothing to say';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `the body is not valid JSON: ${err.message}`;
    default:
      return err instanceof SyntaxError ? `the body is not valid JSON: ${err.message}` : err.message;
  }
}

/** Maps the error classes to HTTP statuses; anything else is a 500 without details. */
function statusOf(err: unknown): number {
  if (err instanceof InputError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof TooManyRequestsError) return 429;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof ProviderError) return 502;
  const fastifyError = err as FastifyError;
  if (fastifyError.validation || fastifyError.statusCode === 400) return 400;
  if (fastifyError.statusCode && fastifyError.statusCode < 500) return fastifyError.statusCode;
  return 500;
}

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0) throw new InputError(`release id "${raw}" is not a positive integer`);
  return id;
}

function parseLimit(raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new InputError(`limit "${String(raw)}" is not a positive integer`);
  return Math.min(limit, MAX_LIMIT);
}

/** Builds the JSON API under /api/v1, the SSE stream, /healthz and /metrics. */
export function buildApi(options: ApiOptions): FastifyInstance {
  const { engines, store, logger, registry } = options;
  // Per-request logs are info; the API logger keeps warnings and errors only.
  const app = Fastify({
    loggerInstance: logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    // Event streams never end on their own; closing the server must not wait for them.
    forceCloseConnections: true,
    bodyLimit: API_BODY_LIMIT_BYTES,
    ...(options.tls ? { serverFactory: options.tls.serverFactory } : {}),
  });

  requireAccess(app);
  const hub = new EventHub({
    store,
    engines,
    logger: logger.child({ component: 'events' }),
    ...options.events,
  });
  app.addHook('onClose', async () => hub.close());
  app.setErrorHandler((err, request, reply) => {
    const status = statusOf(err);
    if (status >= 500) request.log.error({ err }, 'request failed');
    const message =
      status >= 500
        ? 'internal error; see the server log'
        : messageOf(err as FastifyError, request.routeOptions.bodyLimit ?? API_BODY_LIMIT_BYTES);
    request.auditReason = status >= 500 ? (err as Error).message : message;
    if (err instanceof TooManyRequestsError)
      void reply.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
    // Says so apart from the words, so a client (the dashboard) asks for a code without parsing them.
    if (err instanceof OtpRequiredError) void reply.header(OTP_REQUIRED_HEADER, 'required');
    void reply.status(status).send({ error: message });
  });
  // preParsing runs after every onRequest hook, so a route's own checks (the webhook's token) come
  // first, and before the body is read, so a refused request costs nothing.
  app.addHook('preParsing', async (request, _reply, payload) => {
    // An unknown route answers 404, whatever it was sent.
    if (!MUTATING_METHODS.has(request.method) || request.routeOptions.url === undefined) return payload;
    if (routeConfigOf(request.routeOptions.config)?.forms === true) return payload;
    const problem = jsonContentTypeProblem(request.headers['content-type']);
    if (problem === undefined) return payload;
    const err = new Error(
      `${request.method} ${request.routeOptions.url} takes a JSON body sent with "content-type: application/json" ` +
        `(${problem}); send {} when there is nothing to say`,
    );
    throw Object.assign(err, { statusCode: UNSUPPORTED_MEDIA_TYPE });
  });
  // The last word on secrets: whatever an answer holds, a known secret leaves as ***.
  app.addHook('onSend', async (_request, _reply, payload) =>
    typeof payload === 'string' && hasSecrets() ? redactSecrets(payload) : payload,
  );
  installGuard(app, {
    auth: options.security?.auth,
    audit: options.security?.audit,
    hosts: options.security?.hosts ?? [],
    protectedEnvironments: options.security?.protectedEnvironments ?? [],
    unitOfRelease: async (id) => (await store.getRelease(id))?.service,
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  const engineOf = (name: string): Engine => {
    const engine = engines.get(name);
    if (engine) return engine;
    const names = [...engines.keys()];
    const envs = names.filter((n) => n.startsWith(`${name}@`));
    const hint = envs.length > 0 ? `; "${name}" has environments, pass --env (${envs.join(', ')})` : '';
    throw new NotFoundError(
      `unknown service "${name}"; this server runs ${names.map((n) => `"${n}"`).join(', ')}${hint}`,
    );
  };
  /** The engines of one service (its environments too), or of every service without a filter. */
  const enginesOf = (service: string | undefined): [string, Engine][] => {
    const all = [...engines];
    if (service === undefined) return all;
    const found = all.filter(([name]) => name === service || name.startsWith(`${service}@`));
    if (found.length === 0) engineOf(service);
    return found;
  };
  const engineOfRelease = async (id: number): Promise<Engine> => {
    const release = await store.getRelease(id);
    const engine = release && engines.get(release.service);
    if (!engine) throw new NotFoundError(`release ${id} not found`);
    return engine;
  };

  app.get('/healthz', withAccess('public'), async () => ({ ok: true }));
  app.get('/metrics', withAccess('viewer', { everywhere: true }), async (_request, reply) => {
    void reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  const incidents =
    options.incidents ??
    new Incidents({ store, clock: systemClock, policies: () => [], resolveTargets: async () => [] });
  registerAlertmanager(app, {
    engines,
    store,
    alerts: options.alerts ?? (() => []),
    incidents: { incidents, policies: options.escalationPolicies ?? (() => []) },
  });

  // Every unit (service, or service@environment) with its stable version and active or last release.
  app.get<{ Querystring: { service?: string } }>(
    '/api/v1/services',
    withAccess('viewer'),
    async (request) => {
      const services = [];
      for (const [name, engine] of enginesOf(request.query.service)) {
        if (!canView(request.principal, name)) continue;
        const status = await engine.status();
        services.push({
          name,
          service: status.service,
          environment: status.environment,
          stable: status.stable,
          release: status.release,
          maintenance: { failing: (await options.schedulers?.().get(name)?.failingCount()) ?? 0 },
        });
      }
      return { services };
    },
  );

  app.get<{ Querystring: { service?: string } }>(
    '/api/v1/sd/prometheus',
    withAccess('viewer'),
    async (request) => {
      const services: PrometheusSdService[] = [];
      for (const [name, engine] of enginesOf(request.query.service)) {
        if (!canView(request.principal, name)) continue;
        const status = await engine.status();
        const { stable, canary } = status.versions;
        services.push({
          service: status.service,
          environment: status.environment,
          stable: stable?.version,
          canary: canary?.version,
          instances: [stable, canary].flatMap((v) =>
            v ? v.instances.map((i) => ({ address: i.address, version: v.version, state: i.state })) : [],
          ),
        });
      }
      return prometheusTargets(services);
    },
  );

  app.get<{ Params: { service: string } }>(
    '/api/v1/services/:service',
    withAccess('viewer'),
    async (request) => {
      return engineOf(request.params.service).status();
    },
  );

  app.get<{ Params: { service: string }; Querystring: { limit?: string } }>(
    '/api/v1/services/:service/releases',
    withAccess('viewer'),
    async (request) => {
      const engine = engineOf(request.params.service);
      return { releases: await engine.releases(parseLimit(request.query.limit, 20)) };
    },
  );

  app.post<{ Params: { service: string }; Body: unknown }>(
    '/api/v1/services/:service/releases',
    withAccess('deployer', { action: 'release.deploy' }),
    async (request, reply) => {
      const engine = engineOf(request.params.service);
      const { version } = parseBody(Bodies.deploy, request.body);
      // A request repeated with the same key (a retry after a lost answer) gets the release it started.
      const idempotencyKey = parseIdempotencyKey(request.headers[IDEMPOTENCY_KEY_HEADER]);
      const release = await engine.deploy(version, idempotencyKey === undefined ? {} : { idempotencyKey });
      return reply.status(201).send(await engine.release(release.id));
    },
  );

  const command = <S extends z.ZodObject>(
    name: string,
    schema: S,
    run: (engine: Engine, body: z.output<S>) => Promise<{ id: number }>,
  ): void => {
    app.post<{ Params: { service: string }; Body: unknown }>(
      `/api/v1/services/:service/${name}`,
      // Promoting moves more users onto the new version: in a protected environment, an approver's call.
      withAccess('deployer', {
        action: `release.${name}`,
        ...(name === 'promote' ? { inProtected: 'approver' as const } : {}),
      }),
      async (request) => {
        const engine = engineOf(request.params.service);
        const release = await run(engine, parseBody(schema, request.body));
        return engine.release(release.id);
      },
    );
  };
  command('promote', Bodies.promote, (engine, body) => engine.promote(body.full === true));
  command('pause', Bodies.none, (engine) => engine.pause());
  command('resume', Bodies.none, (engine) => engine.resume());
  command('abort', Bodies.none, (engine) => engine.abort());
  command('rollback', Bodies.none, (engine) => engine.rollback());

  app.get<{ Params: { service: string }; Querystring: { release?: string } }>(
    '/api/v1/services/:service/checklist',
    withAccess('viewer'),
    async (request) => {
      const engine = engineOf(request.params.service);
      const id = request.query.release === undefined ? undefined : parseId(request.query.release);
      return engine.checklistOf(id);
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/releases/:id/checklist',
    withAccess('viewer'),
    async (request) => {
      const id = parseId(request.params.id);
      return (await engineOfRelease(id)).checklistOf(id);
    },
  );
  const checklistCommand = <S extends z.ZodObject>(
    name: string,
    access: Access,
    schema: S,
    run: (engine: Engine, body: z.output<S>, signer: Signer) => Promise<unknown>,
  ): void => {
    app.post<{ Params: { service: string }; Body: unknown }>(
      `/api/v1/services/:service/checklist/${name}`,
      withAccess(access, { action: `checklist.${name}` }),
      async (request) => {
        const principal = request.principal ?? ANONYMOUS;
        const signer: Signer = { name: principal.name, groups: principal.groups };
        return run(engineOf(request.params.service), parseBody(schema, request.body), signer);
      },
    );
  };
  checklistCommand('sign', 'approver', Bodies.sign, (engine, body, signer) =>
    engine.signItem(body.item, signer, body.note),
  );
  checklistCommand('sign-gate', 'approver', Bodies.signGate, (engine, body, signer) =>
    engine.signGate(signer, body.note),
  );
  checklistCommand('waive', 'approver', Bodies.waive, (engine, body, signer) =>
    engine.waiveItem(body.item, signer, body.reason),
  );
  checklistCommand('rerun', 'deployer', Bodies.rerun, (engine, body, signer) =>
    engine.rerunItem(body.item, signer),
  );

  app.get<{ Params: { id: string } }>('/api/v1/releases/:id', withAccess('viewer'), async (request) => {
    const id = parseId(request.params.id);
    return (await engineOfRelease(id)).release(id);
  });
  app.get<{ Params: { id: string } }>(
    '/api/v1/releases/:id/effects',
    withAccess('viewer'),
    async (request) => {
      const id = parseId(request.params.id);
      const release = await (await engineOfRelease(id)).release(id);
      return { effects: await store.listEffects(release.id) };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>(
    '/api/v1/releases/:id/measurements',
    withAccess('viewer'),
    async (request) => {
      const id = parseId(request.params.id);
      const release = await (await engineOfRelease(id)).release(id);
      return {
        measurements: await store.listMeasurements(release.id, parseLimit(request.query.limit, MAX_LIMIT)),
      };
    },
  );
  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>(
    '/api/v1/releases/:id/events',
    withAccess('viewer'),
    async (request) => {
      const id = parseId(request.params.id);
      const release = await (await engineOfRelease(id)).release(id);
      return {
        events: await store.listEvents({
          releaseId: release.id,
          limit: parseLimit(request.query.limit, MAX_LIMIT),
        }),
      };
    },
  );

  registerReleasePageRoutes(app, { store, engineOf, engineOfRelease, parseId });
  registerBaselineRoutes(app, { store, engineOf, engineOfRelease, parseId });
  registerIncidentRoutes(app, { incidents });
  registerStatusPageRoutes(app, { statusPage: options.statusPage ?? (() => undefined) });
  registerAuthRoutes(app, { store, security: options.security });
  registerOnCallRoutes(app, {
    store,
    config: options.oncall ?? (() => ({ schedules: [], escalationPolicies: [] })),
    now: () => options.security?.now() ?? Date.now(),
  });
  registerOidcRoutes(app, { users: store.security, security: options.security });
  registerNotificationRoutes(app, {
    store,
    notifications: options.notifications,
    now: () => options.security?.now() ?? Date.now(),
  });
  registerScalingRoutes(app, { engineOf });
  registerCatalogRoutes(app, { services: options.catalog ?? (() => []) });
  registerMaintenanceRoutes(app, { schedulers: options.schedulers ?? (() => new Map()) });
  // An explicit `web: null` must not fall back to the built files (a default parameter would).
  registerWebApp(app, options.web === undefined ? webDist() : (options.web ?? undefined));

  if (options.reload) {
    const reload = options.reload;
    app.post<{ Body: unknown }>(
      '/api/v1/reload',
      withAccess('admin', { action: 'installation.reload' }),
      async (request) => {
        parseBody(Bodies.none, request.body);
        return reload();
      },
    );
  }

  app.get<{ Querystring: { release?: string; service?: string } }>(
    '/api/v1/events',
    withAccess('viewer'),
    async (request, reply) => {
      const releaseId = request.query.release === undefined ? undefined : parseId(request.query.release);
      const service = request.query.service;
      // An unknown service is a 404 before the stream starts, not a stream that stays silent.
      if (service !== undefined) enginesOf(service);
      const lastId = Number(request.headers['last-event-id'] ?? Number.NaN);
      const principal = request.principal;
      await hub.stream(reply, {
        visible: (unit) => canView(principal, unit),
        ...(releaseId === undefined ? {} : { releaseId }),
        ...(service === undefined ? {} : { service }),
        ...(Number.isFinite(lastId) ? { lastId } : {}),
      });
    },
  );

  return app;
}

/** A prom-client registry with the process's default metrics. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'shipcheck_' });
  return registry;
}
