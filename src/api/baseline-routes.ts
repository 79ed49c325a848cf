/** The baselines routes: a unit's baselines, a release's baseline with its comparison, and two compared. */
import type { FastifyInstance } from 'fastify';
import { baselineHistory, compareNamed, releaseBaseline } from '../baseline/views.js';
import { unitName } from '../domain/release.js';
import type { Engine } from '../engine/engine.js';
import { InputError } from '../errors.js';
import type { Store } from '../store/types.js';
import { withAccess } from './access.js';

/** What the routes read: the engines as the API finds them, and the store. */
export interface BaselineRoutesOptions {
  store: Store;
  /** The engine of a unit by name; NotFoundError for an unknown one. */
  engineOf: (unit: string) => Engine;
  /** The engine of a release's unit; NotFoundError for an unknown release. */
  engineOfRelease: (id: number) => Promise<Engine>;
  /** A release id from the path; InputError when it is not a positive integer. */
  parseId: (raw: string) => number;
}

type ServiceQuery = {
  Params: { service: string };
  Querystring: { environment?: string; a?: string; b?: string };
};

/** Registers the baselines routes on `app`. */
export function registerBaselineRoutes(app: FastifyInstance, options: BaselineRoutesOptions): void {
  const { store, engineOf, engineOfRelease, parseId } = options;
  const unitOf = (service: string, environment: string | undefined): { unit: string; engine: Engine } => {
    if (environment !== undefined && !/^[a-z][a-z0-9-]*$/.test(environment))
      throw new InputError(`environment "${environment}" is not an environment name`);
    const unit = unitName(service, environment);
    return { unit, engine: engineOf(unit) };
  };

  app.get<ServiceQuery>('/api/v1/services/:service/baselines', withAccess('viewer'), async (request) => {
    const { unit, engine } = unitOf(request.params.service, request.query.environment);
    const settings = engine.baselines.settings;
    return { unit, settings, baselines: await baselineHistory(store.baselines, unit, settings) };
  });

  app.get<ServiceQuery>(
    '/api/v1/services/:service/baselines/compare',
    withAccess('viewer'),
    async (request) => {
      const { a, b, environment } = request.query;
      if (!a || !b)
        throw new InputError('compare takes two baselines: ?a=RELEASE_OR_VERSION&b=RELEASE_OR_VERSION');
      const { unit, engine } = unitOf(request.params.service, environment);
      return { unit, ...(await compareNamed(store.baselines, unit, a, b, engine.baselines.settings)) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/releases/:id/baseline',
    withAccess('viewer'),
    async (request) => {
      const id = parseId(request.params.id);
      const engine = await engineOfRelease(id);
      return releaseBaseline(store.baselines, id, engine.baselines.settings);
    },
  );
}
