/**
 * `--offline`: commands that open the store named by the config file directly instead of asking the
 * API. This is how the first admin is made on a fresh store, and how an admin who is locked out gets
 * back in; it needs nothing but read and write access to the store (for SQLite, its files). What is
 * done this way is still written to the audit log, under the operating system's user name.
 */
import os from 'node:os';
import { pino } from 'pino';
import { type Installation, loadInstallation } from '../config/installation.js';
import { ShipcheckError } from '../errors.js';
import { AuditLog, type AuditFields } from '../security/audit.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/types.js';
import { type Clock, systemClock } from '../util/clock.js';

/** The store of an installation, opened here, with its audit log. */
export interface OfflineStore {
  installation: Installation;
  store: Store;
  clock: Clock;
  /** How the audit log names whoever runs the command: `offline:<os user>`. */
  actor: string;
  /** Appends an entry as `actor`; a ShipcheckError when the entry could not be written. */
  record(fields: Omit<AuditFields, 'actor'>): Promise<void>;
}

/** The audit actor of an offline command: `offline:` and the operating system's user name. */
export function offlineActor(): string {
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    // A uid with no passwd entry (some containers) has no name; its number still says who.
    name = String(process.getuid?.() ?? 'unknown');
  }
  return `offline:${name}`;
}

/** Opens the store `config` names, runs `work` with it, and closes it whatever happens. */
export async function withOfflineStore<T>(
  config: string,
  work: (offline: OfflineStore) => Promise<T>,
): Promise<T> {
  const installation = await loadInstallation(config);
  const store = await openStore(installation.store);
  try {
    // The log only ever says why an entry could not be appended; that also fails the command below.
    const audit = new AuditLog(store.security, systemClock, pino({ level: 'error' }, pino.destination(2)));
    const actor = offlineActor();
    return await work({
      installation,
      store,
      clock: systemClock,
      actor,
      async record(fields) {
        const entry = await audit.record({ ...fields, actor });
        if (entry === undefined)
          throw new ShipcheckError(
            `${fields.action} was done, but it could not be written to the audit log of ${installation.store}`,
          );
      },
    });
  } finally {
    await store.close();
  }
}
