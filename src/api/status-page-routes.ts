/**
 * The status page's routes. Public, with no login: Statuspage's API v2 JSON under `/api/v2/`, the
 * HTML page at `/status` with its stylesheet, the Atom feed of incidents, and the subscription links
 * (subscribe, confirm, one-click unsubscribe). Signed in, under `/api/v1/status-page/`: components
 * with their derived and overridden status, overrides, incidents, maintenances and subscriber counts;
 * reading takes a viewer, changing a deployer in every environment (the page is the whole
 * installation's). Without `statusPage:` in the config every route answers 404.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InputError, NotFoundError } from '../errors.js';
import { pageStatus } from '../comms/status-page/derive.js';
import { ACTIVE_MAINTENANCE, RESOLVED_STATUSES, type StatusPage } from '../comms/status-page/status-page.js';
import { maskedAddress } from '../comms/status-page/subscriptions.js';
import {
  STATUS_CSS,
  STATUS_CSS_PATH,
  renderAtom,
  renderNotePage,
  renderStatusPage,
} from '../comms/status-page/status-html.js';
import { StatuspageJson } from '../comms/status-page/statuspage-json.js';
import { ANONYMOUS } from '../security/auth.js';
import { withAccess } from './access.js';
import { parseBody } from './bodies.js';

/** The page's HTML: its own stylesheet, no script at all, forms only to itself, never framed. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The largest form or JSON body the public subscription routes read. */
const FORM_BODY_LIMIT = 8 * 1024;

/** What the routes need: the page, when the installation has one. */
export interface StatusPageRoutesOptions {
  statusPage: () => StatusPage | undefined;
}

const time = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO 8601 time such as 2026-05-14T14:00:00Z')
  .transform((s) => Date.parse(s));

/** Admin bodies. */
const OverrideBody = z.strictObject({
  status: z.string(),
  until: time.nullable().optional(),
  reason: z.string().max(500).nullable().optional(),
});
const IncidentBody = z.strictObject({
  name: z.string(),
  status: z.string().optional(),
  impact: z.string().optional(),
  body: z.string(),
  components: z.array(z.string()).optional(),
  internalIncidentId: z.number().int().positive().nullable().optional(),
});
const IncidentUpdateBody = z.strictObject({
  status: z.string().optional(),
  impact: z.string().optional(),
  name: z.string().optional(),
  body: z.string(),
  components: z.array(z.string()).optional(),
});
const ResolveBody = z.strictObject({ body: z.string().optional() });
const MaintenanceBody = z.strictObject({
  name: z.string(),
  body: z.string().optional(),
  components: z.array(z.string()),
  scheduledFor: time,
  scheduledUntil: time,
});
const MaintenanceUpdateBody = z.strictObject({
  status: z.string().optional(),
  body: z.string().optional(),
  name: z.string().optional(),
  scheduledFor: time.optional(),
  scheduledUntil: time.optional(),
});

/** A form body (`a=1&b=2`) as a plain object; JSON bodies are parsed already. */
function formOrJson(body: unknown): Record<string, unknown> {
  if (typeof body === 'string') return Object.fromEntries(new URLSearchParams(body));
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
}

/** `subscriber[email]` or `subscriber[endpoint]`, written as a form, as JSON `{subscriber: {...}}`, or plainly. */
function subscriberOf(body: unknown): { email?: string; endpoint?: string } {
  const flat = formOrJson(body);
  const nested = (flat.subscriber ?? {}) as Record<string, unknown>;
  const pick = (key: 'email' | 'endpoint'): string | undefined => {
    const value = flat[`subscriber[${key}]`] ?? nested[key] ?? flat[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new InputError(`subscriber[${key}] must be a string`);
    return value;
  };
  const email = pick('email');
  const endpoint = pick('endpoint');
  return { ...(email !== undefined ? { email } : {}), ...(endpoint !== undefined ? { endpoint } : {}) };
}

function htmlHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', STATUS_PAGE_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

/**
 * The token of a subscription link: the posted form's `token` field, else the link's `?token=` (where
 * RFC 8058's one-click POST keeps it). Undefined when there is none or it cannot be one.
 */
function tokenOf(request: FastifyRequest): string | undefined {
  const posted = request.method === 'POST' ? formOrJson(request.body).token : undefined;
  const token = posted ?? (request.query as { token?: unknown }).token;
  if (typeof token !== 'string' || token === '' || token.length > 200) return undefined;
  return token;
}

/** The subscription links' paths: GET shows a page with a button, POST (the button) acts. */
const CONFIRM_PATH = '/status/subscribe/confirm';
const UNSUBSCRIBE_PATH = '/status/unsubscribe';

function noToken(reply: FastifyReply, p: StatusPage): FastifyReply {
  return htmlHeaders(reply.status(400)).send(
    renderNotePage(
      p.config.name,
      'Link not valid',
      'The link has no token; open the link from the message as it was sent.',
    ),
  );
}

function unknownConfirmation(reply: FastifyReply, p: StatusPage): FastifyReply {
  return htmlHeaders(reply.status(404)).send(
    renderNotePage(p.config.name, 'Link not valid', 'This confirmation link is unknown or was used already.'),
  );
}

function unknownUnsubscribe(reply: FastifyReply, p: StatusPage): FastifyReply {
  return htmlHeaders(reply.status(404)).send(
    renderNotePage(p.config.name, 'Link not valid', 'This unsubscribe link is unknown.'),
  );
}

/** Registers the status page's routes on `app`. */
export function registerStatusPageRoutes(app: FastifyInstance, options: StatusPageRoutesOptions): void {
  const page = (): StatusPage => {
    const found = options.statusPage();
    if (!found)
      throw new NotFoundError('this installation has no status page; add statusPage: to its config');
    return found;
  };
  const json = async (reply: FastifyReply, build: (page: StatuspageJson) => object): Promise<object> => {
    const snapshot = await page().snapshot();
    // Widgets on other sites read these, as they read Statuspage's.
    void reply.header('access-control-allow-origin', '*').header('cache-control', 'no-cache');
    return build(new StatuspageJson(snapshot));
  };

  // Statuspage's public API v2.
  const v2 = (path: string, build: (page: StatuspageJson) => object): void => {
    app.get(`/api/v2/${path}`, withAccess('public'), async (_request, reply) => json(reply, build));
  };
  v2('summary.json', (p) => p.summary());
  v2('status.json', (p) => p.statusJson());
  v2('components.json', (p) => p.componentsJson());
  v2('incidents.json', (p) => p.incidentsJson('all'));
  v2('incidents/unresolved.json', (p) => p.incidentsJson('unresolved'));
  v2('scheduled-maintenances.json', (p) => p.maintenancesJson('all'));
  v2('scheduled-maintenances/upcoming.json', (p) => p.maintenancesJson('upcoming'));
  v2('scheduled-maintenances/active.json', (p) => p.maintenancesJson('active'));

  // Forms and JSON alike; the body is read as text and parsed by the route.
  app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
      (_request, body, done) => done(null, body),
    );
    // RFC 8058 allows a one-click unsubscribe to come as multipart; what it says is not needed.
    scope.addContentTypeParser(
      'multipart/form-data',
      { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
      (_request, _body, done) => done(null, {}),
    );
    scope.post(
      '/api/v2/subscribers.json',
      {
        ...withAccess('public', { forms: true, action: 'statuspage.subscribe' }),
        bodyLimit: FORM_BODY_LIMIT,
      },
      async (request, reply) => {
        await page().subscriptions.subscribe(subscriberOf(request.body), request.ip);
        void reply.header('access-control-allow-origin', '*');
        // The same answer whether the address was new, pending or subscribed already.
        return reply.status(202).send({
          subscriber: { state: 'pending' },
          message:
            'If the address can be subscribed, a confirmation is on its way; follow its link to start receiving updates.',
        });
      },
    );
    scope.post(
      '/status/subscribe',
      {
        ...withAccess('public', { forms: true, action: 'statuspage.subscribe' }),
        bodyLimit: FORM_BODY_LIMIT,
      },
      async (request, reply) => {
        const p = page();
        await p.subscriptions.subscribe(subscriberOf(request.body), request.ip);
        return htmlHeaders(reply).send(
          renderNotePage(
            p.config.name,
            'Check your inbox',
            'If the address can be subscribed, a message with a confirmation link is on its way. Updates start once you follow it.',
          ),
        );
      },
    );
    /** A link's button: POST with the token does `act`, then says `done`; an unknown token says so. */
    const tokenAction = (
      path: string,
      action: string,
      act: (p: StatusPage, token: string) => Promise<unknown>,
      unknown: (reply: FastifyReply, p: StatusPage) => FastifyReply,
      done: [title: string, text: string],
    ): void => {
      scope.post(
        path,
        { ...withAccess('public', { forms: true, action }), bodyLimit: FORM_BODY_LIMIT },
        async (request, reply) => {
          const p = page();
          const token = tokenOf(request);
          if (token === undefined) return noToken(reply, p);
          try {
            await act(p, token);
          } catch (err) {
            if (!(err instanceof NotFoundError)) throw err;
            return unknown(reply, p);
          }
          return htmlHeaders(reply).send(renderNotePage(p.config.name, ...done));
        },
      );
    };
    // The confirmation page's button; the link's GET only shows it (mail scanners follow links).
    tokenAction(
      CONFIRM_PATH,
      'statuspage.confirm',
      (p, token) => p.subscriptions.confirm(token),
      unknownConfirmation,
      ['Subscribed', 'You will receive updates when incidents and maintenances are posted.'],
    );
    // RFC 8058: a mail client posts `List-Unsubscribe=One-Click` to the link; the page's button posts the token.
    tokenAction(
      UNSUBSCRIBE_PATH,
      'statuspage.unsubscribe',
      (p, token) => p.subscriptions.unsubscribe(token),
      unknownUnsubscribe,
      ['Unsubscribed', 'You will not receive updates from this page any more.'],
    );
  });

  app.get('/status', withAccess('public'), async (_request, reply) => {
    const p = page();
    const snapshot = await p.snapshot();
    const view = new StatuspageJson(snapshot);
    const html = renderStatusPage({
      name: snapshot.name,
      timeZone: snapshot.timeZone,
      now: snapshot.now,
      status: pageStatus(
        snapshot.components.map((c) => c.status),
        view.unresolved().map((i) => i.impact as 'none' | 'minor' | 'major' | 'critical'),
      ),
      components: snapshot.components,
      uptime: await p.uptime(),
      unresolved: view.unresolved(),
      recent: snapshot.incidents.filter((i) => RESOLVED_STATUSES.includes(i.status)).slice(0, 10),
      active: view.maintenancesIn(ACTIVE_MAINTENANCE),
      upcoming: view.maintenancesIn(['scheduled']),
    });
    return htmlHeaders(reply).send(html);
  });
  app.get(STATUS_CSS_PATH, withAccess('public'), async (_request, reply) => {
    page();
    return reply
      .type('text/css; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'public, max-age=3600')
      .send(STATUS_CSS);
  });
  app.get('/status/history.atom', withAccess('public'), async (_request, reply) => {
    const p = page();
    const snapshot = await p.snapshot();
    const incidents = [...snapshot.incidents, ...snapshot.maintenances].sort(
      (a, b) => b.updatedAt - a.updatedAt,
    );
    return reply
      .type('application/atom+xml; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(
        renderAtom({
          name: snapshot.name,
          pageUrl: snapshot.url,
          pageId: snapshot.id,
          now: snapshot.now,
          incidents,
        }),
      );
  });
  // The links' GETs change nothing: mail scanners and link previewers fetch every link in a message,
  // so a GET that acted would confirm subscriptions nobody asked for and unsubscribe real readers.
  app.get(CONFIRM_PATH, withAccess('public'), async (request, reply) => {
    const p = page();
    const token = tokenOf(request);
    if (token === undefined) return noToken(reply, p);
    const subscriber = await p.subscriptions.pendingByConfirmToken(token);
    if (!subscriber) return unknownConfirmation(reply, p);
    return htmlHeaders(reply).send(
      renderNotePage(
        p.config.name,
        'Confirm your subscription',
        `Send incident and maintenance updates to ${maskedAddress(subscriber)}?`,
        { action: CONFIRM_PATH, button: 'Confirm', fields: { token } },
      ),
    );
  });
  app.get(UNSUBSCRIBE_PATH, withAccess('public'), async (request, reply) => {
    const p = page();
    const token = tokenOf(request);
    if (token === undefined) return noToken(reply, p);
    const subscriber = await p.subscriptions.byUnsubscribeToken(token);
    if (!subscriber) return unknownUnsubscribe(reply, p);
    if (subscriber.state === 'unsubscribed')
      return htmlHeaders(reply).send(
        renderNotePage(
          p.config.name,
          'Unsubscribed',
          `${maskedAddress(subscriber)} receives no updates from this page.`,
        ),
      );
    return htmlHeaders(reply).send(
      renderNotePage(
        p.config.name,
        'Unsubscribe',
        `Stop sending updates from this status page to ${maskedAddress(subscriber)}?`,
        { action: UNSUBSCRIBE_PATH, button: 'Unsubscribe', fields: { token } },
      ),
    );
  });

  // The admin API.
  const who = (request: FastifyRequest): string => (request.principal ?? ANONYMOUS).name;
  const change = { everywhere: true };
  app.get('/api/v1/status-page/components', withAccess('viewer'), async () => ({
    components: await page().components(),
  }));
  app.post<{ Params: { component: string }; Body: unknown }>(
    '/api/v1/status-page/components/:component/override',
    withAccess('deployer', { ...change, action: 'statuspage.override' }),
    async (request) => {
      const body = parseBody(OverrideBody, request.body);
      return page().setOverride(request.params.component, {
        status: body.status,
        until: body.until ?? null,
        reason: body.reason ?? null,
        by: who(request),
      });
    },
  );
  app.post<{ Params: { component: string }; Body: unknown }>(
    '/api/v1/status-page/components/:component/override/clear',
    withAccess('deployer', { ...change, action: 'statuspage.override_clear' }),
    async (request) => {
      parseBody(z.strictObject({}), request.body);
      return page().clearOverride(request.params.component);
    },
  );
  app.get('/api/v1/status-page/incidents', withAccess('viewer'), async () => {
    const snapshot = await page().snapshot();
    return { incidents: snapshot.incidents };
  });
  app.post<{ Body: unknown }>(
    '/api/v1/status-page/incidents',
    withAccess('deployer', { ...change, action: 'statuspage.incident_open' }),
    async (request, reply) => {
      const body = parseBody(IncidentBody, request.body);
      const incident = await page().openIncident({
        name: body.name,
        body: body.body,
        ...(body.status !== undefined ? { status: body.status } : {}),
        ...(body.impact !== undefined ? { impact: body.impact } : {}),
        ...(body.components !== undefined ? { components: body.components } : {}),
        internalIncidentId: body.internalIncidentId ?? null,
      });
      return reply.status(201).send(incident);
    },
  );
  app.post<{ Params: { incident: string }; Body: unknown }>(
    '/api/v1/status-page/incidents/:incident/updates',
    withAccess('deployer', { ...change, action: 'statuspage.incident_update' }),
    async (request) => {
      const body = parseBody(IncidentUpdateBody, request.body);
      return page().updateIncident(request.params.incident, {
        body: body.body,
        ...(body.status !== undefined ? { status: body.status } : {}),
        ...(body.impact !== undefined ? { impact: body.impact } : {}),
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.components !== undefined ? { components: body.components } : {}),
      });
    },
  );
  app.post<{ Params: { incident: string }; Body: unknown }>(
    '/api/v1/status-page/incidents/:incident/resolve',
    withAccess('deployer', { ...change, action: 'statuspage.incident_resolve' }),
    async (request) => {
      const body = parseBody(ResolveBody, request.body);
      return page().resolveIncident(request.params.incident, body.body);
    },
  );
  app.get('/api/v1/status-page/maintenances', withAccess('viewer'), async () => {
    const snapshot = await page().snapshot();
    return { maintenances: snapshot.maintenances };
  });
  app.post<{ Body: unknown }>(
    '/api/v1/status-page/maintenances',
    withAccess('deployer', { ...change, action: 'statuspage.maintenance_schedule' }),
    async (request, reply) => {
      const body = parseBody(MaintenanceBody, request.body);
      const maintenance = await page().scheduleMaintenance({
        name: body.name,
        components: body.components,
        scheduledFor: body.scheduledFor,
        scheduledUntil: body.scheduledUntil,
        ...(body.body !== undefined ? { body: body.body } : {}),
      });
      return reply.status(201).send(maintenance);
    },
  );
  app.post<{ Params: { maintenance: string }; Body: unknown }>(
    '/api/v1/status-page/maintenances/:maintenance/updates',
    withAccess('deployer', { ...change, action: 'statuspage.maintenance_update' }),
    async (request) => {
      const body = parseBody(MaintenanceUpdateBody, request.body);
      return page().updateMaintenance(request.params.maintenance, {
        ...(body.status !== undefined ? { status: body.status } : {}),
        ...(body.body !== undefined ? { body: body.body } : {}),
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.scheduledFor !== undefined ? { scheduledFor: body.scheduledFor } : {}),
        ...(body.scheduledUntil !== undefined ? { scheduledUntil: body.scheduledUntil } : {}),
      });
    },
  );
  app.get('/api/v1/status-page/subscribers', withAccess('viewer'), async () => {
    const counts = await page().subscriptions.subscriberCounts();
    return {
      subscribers: counts,
      confirmed: counts.filter((c) => c.state === 'confirmed').reduce((n, c) => n + c.count, 0),
    };
  });
}
