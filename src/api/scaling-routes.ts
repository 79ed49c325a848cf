/**
 * Scaling and capacity (docs/capacity.md): the stable instance count of a unit, setting it, and the
 * capacity report from its load samples.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import { InputError } from '../errors.js';
import { ANONYMOUS } from '../security/auth.js';
import { withAccess } from './access.js';
import { parseBody } from './bodies.js';
import { environmentOf } from './guard.js';

/** `POST /services/:service/scale` */
export const scaleBody = z.strictObject({
  instances: z.int().min(1).max(1000),
  environment: z.string().min(1).max(64).optional(),
  reason: z.string().max(2000).optional(),
});

/** What the scaling routes read. */
export interface ScalingRoutesOptions {
  engineOf: (name: string) => Engine;
}

/** A `?rate=` query: a positive number of requests per second, or absent. */
function parseRate(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const rate = Number(raw);
  if (!Number.isFinite(rate) || rate <= 0)
    throw new InputError(`rate "${raw.slice(0, 40)}" is not a positive number of requests per second`);
  return rate;
}

/** Registers the scale and capacity routes: reading needs viewer, scaling needs deployer. */
export function registerScalingRoutes(app: FastifyInstance, options: ScalingRoutesOptions): void {
  const { engineOf } = options;

  app.get<{ Params: { service: string } }>(
    '/api/v1/services/:service/scale',
    withAccess('viewer'),
    async (request) => engineOf(request.params.service).scaling.view(),
  );

  app.post<{ Params: { service: string }; Body: unknown }>(
    '/api/v1/services/:service/scale',
    withAccess('deployer', { action: 'fleet.scale' }),
    async (request) => {
      const unit = request.params.service;
      const body = parseBody(scaleBody, request.body);
      // The path names the unit that access is checked for: the body may repeat its environment, not change it.
      if (body.environment !== undefined && body.environment !== environmentOf(unit))
        throw new InputError(
          `environment "${body.environment}" is not the environment of ${unit}; address it in the path, e.g. /api/v1/services/${unit.split('@')[0] ?? unit}@${body.environment}/scale`,
        );
      const principal = request.principal ?? ANONYMOUS;
      return engineOf(unit).scaling.scale(body.instances, {
        name: principal.name,
        source: 'user',
        ...(body.reason ? { reason: body.reason } : {}),
      });
    },
  );

  app.get<{ Params: { service: string }; Querystring: { rate?: string } }>(
    '/api/v1/services/:service/capacity',
    withAccess('viewer'),
    async (request) => {
      const rate = parseRate(request.query.rate);
      return engineOf(request.params.service).scaling.capacity(rate);
    },
  );
}
