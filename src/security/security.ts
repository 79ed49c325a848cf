/**
 * Authentication and the audit log for one control plane: the key ring that seals TOTP secrets,
 * the auth service, the first-admin setup code, and the audit entries of the engines' automated
 * actions.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { ApiSecurity } from '../api/api-security.js';
import type { Config } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import type { Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { InputError } from '../errors.js';
import { AuditLog } from './audit.js';
import { Auth } from './auth.js';
import { newSecret } from './credentials.js';
import { type KeyRing, keyAgeMs, loadKeyRing } from './key-ring.js';
import { Mfa } from './mfa.js';
import type { Sealer } from './sealed-params.js';
import { SecretBoxError, open, seal } from './secret-box.js';

/** Engine events the audit log records as the engine's own actions, with their reason. */
const AUTOMATED_EVENTS: ReadonlySet<string> = new Set(['release.rolling_back', 'release.failed']);

/** The master key file of an installation, when SHIPCHECK_MASTER_KEY does not give the key. */
export function keyFileOf(dir: string): string {
  return path.join(dir, '.shipcheck', 'master.key');
}

/** The host of `server.listen` when it names one interface (not 0.0.0.0 or ::). */
function listenHost(listen: string): string[] {
  const colon = listen.lastIndexOf(':');
  const host = colon < 0 ? '' : listen.slice(0, colon).replace(/^\[|\]$/g, '');
  return host === '' || host === '0.0.0.0' || host === '::' ? [] : [host.toLowerCase()];
}

/** What `startControlPlane` needs of security. */
export interface Security extends ApiSecurity {
  /** The current master key's id, origin and age, for the key rotation schedule item. */
  masterKey(): { id: string; origin: string; ageMs: number | undefined };
  /** Seals what the store must keep secret (checklist params that hold a secret) under the key ring. */
  sealer: Sealer;
  /** Records the automated actions of `engine` in the audit log until the returned function is called. */
  watch(engine: Engine): () => void;
}

/** Sets up authentication and the audit log over `store`, as `server.auth` says. */
export async function startSecurity(options: {
  server: Config['server'];
  dir: string;
  store: Store;
  clock: Clock;
  logger: Logger;
  secure: boolean;
  /** The API's URL from its listen address, once it listens. */
  listenUrl: () => string;
}): Promise<Security> {
  const { server, store, clock, logger } = options;
  let ring: KeyRing | undefined;
  const keys = (reload = false): KeyRing => {
    if (reload || ring === undefined)
      ring = loadKeyRing({ env: process.env, file: keyFileOf(options.dir), now: clock.now() });
    return ring;
  };
  const settings = server.auth;
  // Single sign-on reads its provider at the first sign-in; a missing secret is found now.
  const oidc = settings.oidc;
  if (settings.required && oidc && !process.env[oidc.clientSecretEnv])
    throw new InputError(
      `server.auth.oidc.clientSecretEnv: the environment variable ${oidc.clientSecretEnv}, which should hold the OpenID client secret, is not set`,
    );
  const auth = settings.required
    ? new Auth(
        store.security,
        {
          sessionIdleMs: settings.session.idle,
          sessionAbsoluteMs: settings.session.absolute,
          mfaFreshMs: settings.mfaFreshFor,
          lockoutAttempts: settings.lockout.attempts,
          lockoutMs: settings.lockout.for,
          secure: options.secure,
        },
        new Mfa(store.security, keys, clock),
        clock,
        logger.child({ component: 'auth' }),
      )
    : undefined;
  const audit = new AuditLog(store.security, clock, logger.child({ component: 'audit' }));
  const needsSetup = settings.required && (await store.security.countUsers()) === 0;
  const sealer: Sealer = {
    seal: (plaintext, aad) => seal(keys(), plaintext, aad),
    open: (sealed, aad) => {
      try {
        return open(keys(), sealed, aad);
      } catch (err) {
        // Sealed under a key another process added (keys rotate): read the ring again.
        if (!(err instanceof SecretBoxError) || err.reason !== 'unknown-key') throw err;
        return open(keys(true), sealed, aad);
      }
    },
  };
  return {
    masterKey: () => {
      const ring = keys(true);
      return { id: ring.current.id, origin: ring.origin, ageMs: keyAgeMs(ring, clock.now()) };
    },
    sealer,
    auth,
    audit,
    hosts: [
      ...server.hosts,
      ...(server.publicUrl ? [new URL(server.publicUrl).hostname] : []),
      // The address it listens on is a name of this server too (all interfaces names none).
      ...listenHost(server.listen),
    ],
    protectedEnvironments: settings.protectedEnvironments,
    setup: { code: needsSetup ? newSecret(18) : undefined },
    now: () => clock.now(),
    oidc: settings.oidc,
    publicUrl: () => (server.publicUrl ?? options.listenUrl()).replace(/\/$/, ''),
    secure: options.secure,
    watch(engine) {
      const onEvent = (event: {
        type: string;
        service: string;
        releaseId: number | null;
        message: string;
      }): void => {
        if (!AUTOMATED_EVENTS.has(event.type)) return;
        void audit.record({
          actor: 'engine',
          action: event.type,
          target: event.releaseId === null ? event.service : `${event.service}#${event.releaseId}`,
          service: event.service,
          result: 'ok',
          reason: event.message,
        });
      };
      engine.events.on('event', onEvent);
      return () => engine.events.off('event', onEvent);
    },
  };
}
