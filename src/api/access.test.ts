import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { declaredAccess } from './access.js';
import { buildApi, createRegistry } from './server.js';

/** Every route of the API and who it is for. A new route, or a changed role, changes this table. */
const ROUTES = [
  ['GET /healthz', 'public'],
  ['GET /metrics', 'viewer'],
  ['POST /api/v1/alerts/alertmanager', 'alert-token'],
  ['GET /api/v1/services', 'viewer'],
  ['GET /api/v1/sd/prometheus', 'viewer'],
  ['GET /api/v1/services/:service', 'viewer'],
  ['GET /api/v1/services/:service/releases', 'viewer'],
  ['POST /api/v1/services/:service/releases', 'operator'],
  ['POST /api/v1/services/:service/promote', 'operator'],
  ['POST /api/v1/services/:service/pause', 'operator'],
  ['POST /api/v1/services/:service/resume', 'operator'],
  ['POST /api/v1/services/:service/abort', 'operator'],
  ['POST /api/v1/services/:service/rollback', 'operator'],
  ['GET /api/v1/services/:service/checklist', 'viewer'],
  ['GET /api/v1/releases/:id/checklist', 'viewer'],
  ['POST /api/v1/services/:service/checklist/sign', 'approver'],
  ['POST /api/v1/services/:service/checklist/sign-gate', 'approver'],
  ['POST /api/v1/services/:service/checklist/waive', 'approver'],
  ['POST /api/v1/services/:service/checklist/rerun', 'operator'],
  ['GET /api/v1/releases/:id', 'viewer'],
  ['GET /api/v1/releases/:id/effects', 'viewer'],
  ['GET /api/v1/releases/:id/measurements', 'viewer'],
  ['GET /api/v1/releases/:id/events', 'viewer'],
  ['POST /api/v1/reload', 'admin'],
  ['GET /api/v1/events', 'viewer'],
] as const;

function api(): ReturnType<typeof buildApi> {
  const store = SqliteStore.open(':memory:');
  const app = buildApi({
    engines: new Map(),
    store,
    logger: pino({ level: 'silent' }),
    registry: createRegistry(),
    reload: async () => ({}),
  });
  app.addHook('onClose', async () => store.close());
  return app;
}

describe('who each route is for', () => {
  it('declares the access of every route, as the table says', async () => {
    const app = api();
    await app.ready();
    const declared = declaredAccess(app).map(({ route, access }) => [route, access]);
    expect(declared.sort()).toEqual(ROUTES.map(([route, access]) => [route, access]).sort());
    await app.close();
  });

  it('refuses a route that does not say who it is for', async () => {
    const app = api();
    expect(() => app.get('/api/v1/undeclared', async () => ({}))).toThrow(
      'GET /api/v1/undeclared declares no access; register it with withAccess(...)',
    );
    await app.close();
  });
});
