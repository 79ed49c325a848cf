/**
 * The API alone (no engines) with authentication and the audit log on, over a real SQLite store in
 * a temporary folder, listening on a free loopback port: what the security tests drive over HTTP.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { buildApi, createRegistry } from '../../src/api/server.js';
import { NotificationDispatcher } from '../../src/comms/notification-dispatcher.js';
import type { ChannelsConfig } from '../../src/config/channels-schema.js';
import type { WebFiles } from '../../src/api/web-app.js';
import { configSchema } from '../../src/config/schema.js';
import { type Security, startSecurity } from '../../src/security/security.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { type Clock, systemClock } from '../../src/util/clock.js';

/** A running API and what it runs on. */
export interface SecuredApi {
  url: string;
  app: ReturnType<typeof buildApi>;
  store: SqliteStore;
  security: Security;
  /** The notification dispatcher, when `channels` were given. */
  notifications: NotificationDispatcher | undefined;
  close(): Promise<void>;
}

/**
 * Starts the API with `server` as the config's server block (auth on unless it says otherwise),
 * on `port` (0: any free one; the OpenID provider needs the callback's port before the API starts).
 */
export async function startSecuredApi(
  options: {
    server?: Record<string, unknown>;
    clock?: Clock;
    port?: number;
    web?: WebFiles | null;
    /** Notification channels: the API then sends, tests and lists them. */
    channels?: ChannelsConfig;
  } = {},
): Promise<SecuredApi> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-secured-api-'));
  const store = SqliteStore.open(path.join(dir, 'state.db'));
  await store.migrate();
  const port = options.port ?? 0;
  const config = configSchema.parse({
    service: 'web',
    server: { listen: `127.0.0.1:${port}`, ...options.server },
    fleet: { kind: 'local', command: 'true' },
  });
  let url = port === 0 ? '' : `http://127.0.0.1:${port}`;
  const security = await startSecurity({
    server: config.server,
    dir,
    store,
    clock: options.clock ?? systemClock,
    logger: pino({ level: 'silent' }),
    secure: false,
    listenUrl: () => url,
  });
  const notifications =
    options.channels &&
    new NotificationDispatcher({
      store,
      channels: options.channels,
      sealer: security.sealer,
      clock: options.clock ?? systemClock,
      logger: pino({ level: 'silent' }),
      holder: 'secured-api',
    });
  const app = buildApi({
    engines: new Map(),
    store,
    logger: pino({ level: 'silent' }),
    registry: createRegistry(),
    reload: async () => ({}),
    security,
    ...(options.web !== undefined ? { web: options.web } : {}),
    ...(notifications ? { notifications } : {}),
  });
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`;
  return {
    url,
    app,
    store,
    security,
    notifications,
    async close() {
      await app.close();
      await notifications?.stop();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
