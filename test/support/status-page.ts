/** The status page's test harness: a real API server with a page whose units' health the test sets. */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApi, createRegistry } from '../../src/api/server.js';
import type { UnitHealth } from '../../src/comms/status-page/derive.js';
import { StatusPage } from '../../src/comms/status-page/status-page.js';
import { statusPageSchema } from '../../src/config/status-page-schema.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ManualClock } from '../../src/util/clock.js';

/** A page of four components, two in a group, one shown only when degraded. */
export const CONFIG = statusPageSchema.parse({
  name: 'Example <status>',
  url: 'https://status.example.com/status',
  timeZone: 'America/Denver',
  components: [
    { name: 'API', description: 'The public API', services: ['web'] },
    { name: 'Database', services: ['db'], group: 'Backend' },
    { name: 'Queue', services: ['worker'], group: 'Backend' },
    { name: 'Admin', services: ['admin@production'], onlyShowIfDegraded: true },
  ],
});

/** A real API server serving a status page over an in-memory SQLite store, on a ManualClock. */
export interface Harness {
  app: FastifyInstance;
  base: string;
  store: SqliteStore;
  clock: ManualClock;
  page: StatusPage;
  units: UnitHealth[];
}

/** A unit whose two stable instances are ready. */
export function healthy(unit: string): UnitHealth {
  return { unit, stable: ['ready', 'ready'], canary: [], release: null };
}

/** Starts the harness; without the page, the API serves none. */
export async function start(withPage = true): Promise<Harness> {
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  const clock = new ManualClock(Date.UTC(2026, 4, 14, 20, 0));
  const units = [healthy('web'), healthy('db'), healthy('worker'), healthy('admin@production')];
  const page = new StatusPage({
    config: CONFIG as NonNullable<typeof CONFIG>,
    store,
    clock,
    // The units' health as the engines would report it; the tests change it.
    units: async () => units,
    pageUrl: () => CONFIG?.url ?? `${harness.base}/status`,
  });
  const app = buildApi({
    engines: new Map(),
    store,
    logger: pino({ level: 'silent' }),
    registry: createRegistry(),
    web: null,
    ...(withPage ? { statusPage: () => page } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const harness: Harness = { app, base: `http://127.0.0.1:${port}`, store, clock, page, units };
  return harness;
}

/** Closes the server and the store. */
export async function stop(h: Harness): Promise<void> {
  await h.app.close();
  await h.store.close();
}

/** POSTs JSON. */
export async function post(h: Harness, path: string, body: object): Promise<Response> {
  return fetch(`${h.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** POSTs JSON and reads a 2xx answer; throws with the body otherwise. */
export async function postOk<T>(h: Harness, path: string, body: object): Promise<T> {
  const res = await post(h, path, body);
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}
