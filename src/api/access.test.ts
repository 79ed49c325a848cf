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
  ['POST /api/v1/services/:service/releases', 'deployer'],
  ['POST /api/v1/services/:service/promote', 'deployer', 'approver'],
  ['POST /api/v1/services/:service/pause', 'deployer'],
  ['POST /api/v1/services/:service/resume', 'deployer'],
  ['POST /api/v1/services/:service/abort', 'deployer'],
  ['POST /api/v1/services/:service/rollback', 'deployer'],
  ['GET /api/v1/services/:service/checklist', 'viewer'],
  ['GET /api/v1/releases/:id/checklist', 'viewer'],
  ['POST /api/v1/services/:service/checklist/sign', 'approver'],
  ['POST /api/v1/services/:service/checklist/sign-gate', 'approver'],
  ['POST /api/v1/services/:service/checklist/waive', 'approver'],
  ['POST /api/v1/services/:service/checklist/rerun', 'deployer'],
  ['GET /api/v1/releases/:id', 'viewer'],
  ['GET /api/v1/releases/:id/effects', 'viewer'],
  ['GET /api/v1/releases/:id/measurements', 'viewer'],
  ['GET /api/v1/releases/:id/events', 'viewer'],
  ['GET /api/v1/releases/:id/samples', 'viewer'],
  ['GET /api/v1/services/:service/instances/:instance/log', 'deployer'],
  ['GET /api/v1/releases/:id/report', 'viewer'],
  ['GET /api/v1/incidents', 'viewer'],
  ['GET /api/v1/incidents/:incident', 'viewer'],
  ['POST /api/v1/incidents', 'deployer'],
  ['POST /api/v1/incidents/:incident/ack', 'deployer'],
  ['POST /api/v1/incidents/:incident/resolve', 'deployer'],
  ['POST /api/v1/incidents/:incident/update', 'deployer'],
  ['POST /api/v1/incidents/:incident/postmortem', 'deployer'],
  ['GET /api/v2/summary.json', 'public'],
  ['GET /api/v2/status.json', 'public'],
  ['GET /api/v2/components.json', 'public'],
  ['GET /api/v2/incidents.json', 'public'],
  ['GET /api/v2/incidents/unresolved.json', 'public'],
  ['GET /api/v2/scheduled-maintenances.json', 'public'],
  ['GET /api/v2/scheduled-maintenances/upcoming.json', 'public'],
  ['GET /api/v2/scheduled-maintenances/active.json', 'public'],
  ['POST /api/v2/subscribers.json', 'public'],
  ['POST /status/subscribe', 'public'],
  ['POST /status/unsubscribe', 'public'],
  ['POST /status/subscribe/confirm', 'public'],
  ['GET /status', 'public'],
  ['GET /status/assets/status.css', 'public'],
  ['GET /status/history.atom', 'public'],
  ['GET /status/subscribe/confirm', 'public'],
  ['GET /status/unsubscribe', 'public'],
  ['GET /api/v1/status-page/components', 'viewer'],
  ['POST /api/v1/status-page/components/:component/override', 'deployer'],
  ['POST /api/v1/status-page/components/:component/override/clear', 'deployer'],
  ['GET /api/v1/status-page/incidents', 'viewer'],
  ['POST /api/v1/status-page/incidents', 'deployer'],
  ['POST /api/v1/status-page/incidents/:incident/updates', 'deployer'],
  ['POST /api/v1/status-page/incidents/:incident/resolve', 'deployer'],
  ['GET /api/v1/status-page/maintenances', 'viewer'],
  ['POST /api/v1/status-page/maintenances', 'deployer'],
  ['POST /api/v1/status-page/maintenances/:maintenance/updates', 'deployer'],
  ['GET /api/v1/status-page/subscribers', 'viewer'],
  ['POST /api/v1/reload', 'admin'],
  ['GET /api/v1/events', 'viewer'],
  ['GET /setup', 'public'],
  ['POST /api/v1/setup', 'public'],
  ['POST /api/v1/login', 'public'],
  ['GET /api/v1/auth/methods', 'public'],
  ['GET /api/v1/auth/oidc/login', 'public'],
  ['GET /api/v1/auth/oidc/callback', 'public'],
  ['POST /api/v1/logout', 'signed-in'],
  ['GET /api/v1/session', 'signed-in'],
  ['POST /api/v1/me/mfa/enrol', 'signed-in'],
  ['POST /api/v1/me/mfa/confirm', 'signed-in'],
  ['POST /api/v1/me/mfa/verify', 'signed-in'],
  ['GET /api/v1/users', 'admin'],
  ['POST /api/v1/users', 'admin'],
  ['POST /api/v1/users/:name/disable', 'admin'],
  ['POST /api/v1/users/:name/enable', 'admin'],
  ['POST /api/v1/users/:name/unlock', 'admin'],
  ['POST /api/v1/users/:name/roles', 'admin'],
  ['POST /api/v1/users/:name/password', 'admin'],
  ['POST /api/v1/users/:name/reset-mfa', 'admin'],
  ['GET /api/v1/tokens', 'signed-in'],
  ['POST /api/v1/tokens', 'signed-in'],
  ['POST /api/v1/tokens/:id/revoke', 'signed-in'],
  ['GET /api/v1/audit', 'admin'],
  ['GET /api/v1/audit/verify', 'admin'],
  ['POST /api/v1/audit/archive', 'admin'],
  ['GET /api/v1/channels', 'viewer'],
  ['POST /api/v1/channels/:name/test', 'deployer'],
  ['POST /api/v1/channels/:name/enable', 'deployer'],
  ['GET /api/v1/notifications', 'viewer'],
  ['GET /api/v1/notifications/summary', 'viewer'],
  ['GET /api/v1/notifications/:id', 'viewer'],
  ['POST /api/v1/notifications/:id/retry', 'deployer'],
  ['GET /api/v1/users/:name/contact-methods', 'signed-in'],
  ['POST /api/v1/users/:name/contact-methods', 'signed-in'],
  ['POST /api/v1/users/:name/contact-methods/:id/remove', 'signed-in'],
  ['POST /api/v1/users/:name/contact-methods/:id/enable', 'signed-in'],
  ['GET /api/v1/oncall', 'viewer'],
  ['GET /api/v1/oncall/schedules/:name/shifts', 'viewer'],
  ['GET /api/v1/oncall/schedules/:name/overrides', 'viewer'],
  ['POST /api/v1/oncall/schedules/:name/overrides', 'deployer'],
  ['POST /api/v1/oncall/overrides/:override/remove', 'deployer'],
  ['GET /api/v1/services/:service/scale', 'viewer'],
  ['POST /api/v1/services/:service/scale', 'deployer'],
  ['GET /api/v1/services/:service/capacity', 'viewer'],
  ['GET /api/v1/maintenance', 'viewer'],
  ['GET /api/v1/services/:service/maintenance/:item/runs', 'viewer'],
  ['POST /api/v1/services/:service/maintenance/:item/run', 'deployer'],
  ['GET /api/v1/services/:service/baselines', 'viewer'],
  ['GET /api/v1/services/:service/baselines/compare', 'viewer'],
  ['GET /api/v1/releases/:id/baseline', 'viewer'],
  ['GET /', 'public'],
  ['GET /login', 'public'],
  ['GET /services', 'public'],
  ['GET /releases/:id', 'public'],
  ['GET /history', 'public'],
  ['GET /audit', 'public'],
  ['GET /people', 'public'],
  ['GET /account', 'public'],
  ['GET /incidents', 'public'],
  ['GET /incidents/:id', 'public'],
  ['GET /oncall', 'public'],
  ['GET /notifications', 'public'],
  ['GET /maintenance', 'public'],
  ['GET /status-page', 'public'],
  ['GET /services/:service/baselines', 'public'],
  ['GET /assets/:file', 'public'],
  ['GET /api/v1/catalog', 'viewer'],
  ['GET /api/v1/catalog/diagrams/:file', 'viewer'],
  ['GET /api/v1/services/:service/runbooks', 'viewer'],
  ['GET /api/v1/services/:service/runbooks/:index', 'viewer'],
  ['GET /catalog', 'public'],
] as const;

/**
 * Routes anyone may call without credentials: health, the first-admin setup, login, the
 * dashboard's HTML and assets (which hold no data; the app reads everything through the API), and
 * the public status page (its Statuspage JSON, HTML, feed and subscription links).
 */
const PUBLIC = [
  'GET /healthz',
  'GET /setup',
  'POST /api/v1/setup',
  'POST /api/v1/login',
  'GET /api/v1/auth/methods',
  'GET /api/v1/auth/oidc/login',
  'GET /api/v1/auth/oidc/callback',
  'GET /',
  'GET /login',
  'GET /services',
  'GET /releases/:id',
  'GET /history',
  'GET /audit',
  'GET /people',
  'GET /account',
  'GET /incidents',
  'GET /incidents/:id',
  'GET /oncall',
  'GET /notifications',
  'GET /maintenance',
  'GET /status-page',
  'GET /assets/:file',
  'GET /catalog',
  'GET /api/v2/summary.json',
  'GET /api/v2/status.json',
  'GET /api/v2/components.json',
  'GET /api/v2/incidents.json',
  'GET /api/v2/incidents/unresolved.json',
  'GET /api/v2/scheduled-maintenances.json',
  'GET /api/v2/scheduled-maintenances/upcoming.json',
  'GET /api/v2/scheduled-maintenances/active.json',
  'POST /api/v2/subscribers.json',
  'POST /status/subscribe',
  'POST /status/unsubscribe',
  'POST /status/subscribe/confirm',
  'GET /status',
  'GET /status/assets/status.css',
  'GET /status/history.atom',
  'GET /status/subscribe/confirm',
  'GET /status/unsubscribe',
  'GET /services/:service/baselines',
];

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
    const declared = declaredAccess(app).map(({ route, access, inProtected }) =>
      inProtected ? [route, access, inProtected] : [route, access],
    );
    expect(declared.sort()).toEqual(ROUTES.map((row) => [...row]).sort());
    // Only the short list is public.
    expect(
      declaredAccess(app)
        .filter((r) => r.access === 'public')
        .map((r) => r.route)
        .sort(),
    ).toEqual([...PUBLIC].sort());
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
