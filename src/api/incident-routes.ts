/**
 * Incidents over the API: list, show (with the timeline), open by hand, acknowledge, resolve, note
 * and postmortem. Reading needs a viewer; changing needs a deployer (approvers and admins include
 * it). An incident about a unit is shown to, and changed by, those holding the role in the unit's
 * environment; one about no unit needs the role in some environment.
 *
 * The path parameter is `:incident`, not `:id`: the guard reads `:id` as a release id.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TEXT_LIMIT, TITLE_LIMIT, type Incidents } from '../comms/incidents/incidents.js';
import { INCIDENT_STATES, type Incident, type IncidentState, SEVERITIES } from '../comms/incidents/types.js';
import { ForbiddenError, InputError, NotFoundError } from '../errors.js';
import { roleAtLeast } from '../security/roles.js';
import { withAccess } from './access.js';
import { parseBody } from './bodies.js';
import { canView, environmentOf } from './guard.js';

/** Incidents one list returns when the request names no limit. */
export const DEFAULT_INCIDENT_LIMIT = 50;
/** The most incidents one list returns. */
export const MAX_INCIDENT_LIMIT = 500;

/** Whether `value` holds a control character other than tab and line breaks (escape sequences drive terminals). */
function hasControls(value: string): boolean {
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code === 0x09 || code === 0x0a || code === 0x0d) continue;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** One line or several, but nothing that drives a terminal. */
function text(limit: number) {
  return z
    .string()
    .max(limit)
    .refine((value) => !hasControls(value), { message: 'control characters are not allowed' });
}
const severity = z.enum(SEVERITIES, { error: `expected one of ${SEVERITIES.join(', ')}` });

/** The bodies the incident routes take. */
export const IncidentBodies = {
  /** `POST /incidents` */
  open: z.strictObject({
    title: text(TITLE_LIMIT).refine((t) => t.trim() !== '', 'must not be empty'),
    severity: severity.optional(),
    key: text(TITLE_LIMIT).optional(),
    service: text(TITLE_LIMIT).optional(),
    policy: text(TITLE_LIMIT).optional(),
    public: z.boolean().optional(),
    message: text(TEXT_LIMIT).optional(),
  }),
  /** `ack`, `resolve`: an optional message for the timeline. */
  change: z.strictObject({ message: text(TEXT_LIMIT).optional() }),
  /** `POST /incidents/:incident/update` */
  update: z.strictObject({
    message: text(TEXT_LIMIT).refine((t) => t.trim() !== '', 'must not be empty'),
    severity: severity.optional(),
    public: z.boolean().optional(),
  }),
  /** `POST /incidents/:incident/postmortem` */
  postmortem: z.strictObject({
    text: text(TEXT_LIMIT).refine((t) => t.trim() !== '', 'must not be empty'),
  }),
} as const;

/** An incident id from the path; InputError when it is not a positive integer. */
export function parseIncidentId(raw: string): number {
  const id = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(id) || id <= 0)
    throw new InputError(`incident id "${raw}" is not a positive integer`);
  return id;
}

function parseState(raw: string | undefined): IncidentState | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(INCIDENT_STATES as readonly string[]).includes(raw))
    throw new InputError(`state "${raw}" is not one of ${INCIDENT_STATES.join(', ')}`);
  return raw as IncidentState;
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_INCIDENT_LIMIT;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit <= 0 || limit > MAX_INCIDENT_LIMIT)
    throw new InputError(`limit "${raw}" is not a whole number from 1 to ${MAX_INCIDENT_LIMIT}`);
  return limit;
}

/** Who the timeline names: the signed-in person. */
function actorOf(request: FastifyRequest): string {
  return request.principal?.name ?? 'anonymous';
}

/** Whether the caller may see `incident`: those who may see its unit; anyone signed in for one about none. */
function visible(request: FastifyRequest, incident: Incident): boolean {
  return incident.service === null || canView(request.principal, incident.service);
}

/** Throws ForbiddenError unless the caller holds a deployer's role where the incident's unit is. */
function mayChange(request: FastifyRequest, service: string | null): void {
  if (service === null) return;
  const environment = environmentOf(service);
  const held = request.principal?.roleIn(environment);
  if (held === undefined || !roleAtLeast(held, 'deployer'))
    throw new ForbiddenError(
      `${request.principal?.name ?? 'anonymous'} may not do this: it needs the deployer role ${environment ? `in ${environment}` : `for ${service}`}`,
    );
}

/** What the routes need. */
export interface IncidentRoutesOptions {
  incidents: Incidents;
}

/** Registers the incident routes on `app`. */
export function registerIncidentRoutes(app: FastifyInstance, options: IncidentRoutesOptions): void {
  const { incidents } = options;

  /** The incident of the path, as the caller may see it; NotFoundError otherwise. */
  const visibleIncident = async (request: FastifyRequest, raw: string): Promise<Incident> => {
    const { incident } = await incidents.get(parseIncidentId(raw));
    // One the caller may not see answers as one that does not exist.
    if (!visible(request, incident)) throw new NotFoundError(`incident #${incident.id} not found`);
    return incident;
  };

  app.get<{ Querystring: { state?: string; service?: string; limit?: string } }>(
    '/api/v1/incidents',
    withAccess('viewer'),
    async (request) => {
      const { state, service, limit } = request.query;
      const list = await incidents.list({
        ...(parseState(state) ? { state: parseState(state)! } : {}),
        ...(service ? { service } : {}),
        limit: parseLimit(limit),
      });
      return { incidents: list.filter((incident) => visible(request, incident)) };
    },
  );

  app.get<{ Params: { incident: string } }>(
    '/api/v1/incidents/:incident',
    withAccess('viewer'),
    async (request) => {
      const incident = await visibleIncident(request, request.params.incident);
      return incidents.get(incident.id);
    },
  );

  app.post<{ Body: unknown }>(
    '/api/v1/incidents',
    withAccess('deployer', { action: 'incident.open' }),
    async (request, reply) => {
      const body = parseBody(IncidentBodies.open, request.body);
      mayChange(request, body.service ?? null);
      const incident = await incidents.open(
        {
          key: body.key ?? `manual:${crypto.randomUUID()}`,
          title: body.title,
          severity: body.severity ?? 'error',
          source: 'manual',
          ...(body.service !== undefined ? { service: body.service } : {}),
          ...(body.policy !== undefined ? { policy: body.policy } : {}),
          ...(body.public !== undefined ? { public: body.public } : {}),
          ...(body.message !== undefined ? { message: body.message } : {}),
        },
        actorOf(request),
      );
      return reply.status(201).send(await incidents.get(incident.id));
    },
  );

  const change = (
    name: string,
    run: (id: number, actor: string, body: z.output<typeof IncidentBodies.change>) => Promise<unknown>,
  ): void => {
    app.post<{ Params: { incident: string }; Body: unknown }>(
      `/api/v1/incidents/:incident/${name}`,
      withAccess('deployer', { action: `incident.${name}` }),
      async (request) => {
        const body = parseBody(IncidentBodies.change, request.body);
        const incident = await visibleIncident(request, request.params.incident);
        mayChange(request, incident.service);
        await run(incident.id, actorOf(request), body);
        return incidents.get(incident.id);
      },
    );
  };
  change('ack', (id, actor, body) => incidents.acknowledge(id, actor, body.message));
  change('resolve', (id, actor, body) => incidents.resolve(id, actor, body.message));

  app.post<{ Params: { incident: string }; Body: unknown }>(
    '/api/v1/incidents/:incident/update',
    withAccess('deployer', { action: 'incident.update' }),
    async (request) => {
      const body = parseBody(IncidentBodies.update, request.body);
      const incident = await visibleIncident(request, request.params.incident);
      mayChange(request, incident.service);
      await incidents.update(incident.id, actorOf(request), body);
      return incidents.get(incident.id);
    },
  );

  app.post<{ Params: { incident: string }; Body: unknown }>(
    '/api/v1/incidents/:incident/postmortem',
    withAccess('deployer', { action: 'incident.postmortem' }),
    async (request) => {
      const body = parseBody(IncidentBodies.postmortem, request.body);
      const incident = await visibleIncident(request, request.params.incident);
      mayChange(request, incident.service);
      await incidents.postmortem(incident.id, actorOf(request), body.text);
      return incidents.get(incident.id);
    },
  );
}
