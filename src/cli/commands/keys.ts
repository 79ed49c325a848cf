/**
 * `shipcheck keys rotate`: a new master key for the secrets sealed at rest (security/key-ring.ts),
 * and every sealed secret (TOTP secrets, checklist params, users' contact methods) sealed again under
 * it. Runs on the store directly, like `user --offline`, since it needs the key file beside it.
 */
import { keyFileOf } from '../../security/security.js';
import {
  type KeyRing,
  MASTER_KEY_ENV,
  PREVIOUS_MASTER_KEYS_ENV,
  loadKeyRing,
  rotateKeyFile,
} from '../../security/key-ring.js';
import { SecretBoxError, reseal } from '../../security/secret-box.js';
import { SEALED_KEY, paramsAad } from '../../security/sealed-params.js';
import { contactMethodAad } from '../../comms/contact-methods.js';
import { plural } from '../../util/words.js';
import { withOfflineStore } from '../offline.js';
import type { GlobalOptions, Io } from '../target.js';

/** The additional data a user's TOTP secret is sealed with (security/mfa.ts). */
const totpAad = (userId: number): string => `totp:${userId}`;

/**
 * Rotates the key file (or, with SHIPCHECK_MASTER_KEY set, explains how the operator rotates that
 * key) and re-seals every TOTP secret not sealed with the current key. Prints what was re-sealed;
 * returns 1 when a secret could not be opened (its key is missing), 0 otherwise.
 */
export async function keysRotateCommand(opts: GlobalOptions, io: Io): Promise<number> {
  return withOfflineStore(opts.config, async (offline) => {
    const now = offline.clock.now();
    const file = keyFileOf(offline.installation.dir);
    let ring: KeyRing;
    if (process.env[MASTER_KEY_ENV] !== undefined) {
      ring = loadKeyRing({ env: process.env, file, now });
      io.err(
        `the master key comes from ${MASTER_KEY_ENV}, which shipcheck does not write: to rotate it, set a new ` +
          `key in ${MASTER_KEY_ENV} (openssl rand -base64 32), move the old one to ${PREVIOUS_MASTER_KEYS_ENV} ` +
          `(comma-separated, with any older ones), then run "shipcheck keys rotate" to re-seal the secrets; ` +
          `an old key can go once nothing is sealed with it`,
      );
      io.out(`current master key ${ring.current.id} from $${MASTER_KEY_ENV}`);
    } else {
      ring = rotateKeyFile(file, now);
      io.out(
        `new master key ${ring.current.id} in ${file}; ${plural(ring.keys.length - 1, 'older key')} kept to open what ${ring.keys.length === 2 ? 'it' : 'they'} sealed`,
      );
    }

    const resealed: string[] = [];
    const failed: string[] = [];
    for (const user of await offline.store.security.listUsers()) {
      if (user.totpSecret === null) continue;
      let sealed: string;
      try {
        sealed = reseal(ring, user.totpSecret, totpAad(user.id));
      } catch (err) {
        if (!(err instanceof SecretBoxError)) throw err;
        failed.push(`the TOTP secret of ${user.name}: ${err.message}`);
        continue;
      }
      if (sealed === user.totpSecret) continue;
      await offline.store.security.updateUser(user.id, { totpSecret: sealed }, now);
      resealed.push(user.name);
    }
    // Checklist params that hold a secret carry a sealed copy too.
    let params = 0;
    for (const item of await offline.store.listSealedChecklistItems()) {
      const sealed = item.params[SEALED_KEY];
      if (typeof sealed !== 'string') continue;
      let next: string;
      try {
        next = reseal(ring, sealed, paramsAad(item.releaseId, item.id));
      } catch (err) {
        if (!(err instanceof SecretBoxError)) throw err;
        failed.push(`release #${item.releaseId} item ${item.id}: ${err.message}`);
        continue;
      }
      if (next === sealed) continue;
      await offline.store.setChecklistParams(item.releaseId, item.id, { ...item.params, [SEALED_KEY]: next });
      params += 1;
    }
    // Users' contact methods are sealed too, each bound to its user and id.
    let contacts = 0;
    for (const method of await offline.store.notifications.contacts.list()) {
      let next: string;
      try {
        next = reseal(ring, method.sealed, contactMethodAad(method.userId, method.id));
      } catch (err) {
        if (!(err instanceof SecretBoxError)) throw err;
        failed.push(`contact method ${method.id}: ${err.message}`);
        continue;
      }
      if (next === method.sealed) continue;
      await offline.store.notifications.contacts.setSealed(method.id, next);
      contacts += 1;
    }
    await offline.record({
      action: 'keys.rotate',
      target: null,
      result: failed.length === 0 ? 'ok' : 'failed',
      reason: failed.length === 0 ? null : `${plural(failed.length, 'secret')} could not be opened`,
      data: { key: ring.current.id, resealed, params, contacts },
    });

    io.out(
      resealed.length === 0
        ? `no TOTP secret needed re-sealing: all are sealed with key ${ring.current.id}`
        : `re-sealed ${plural(resealed.length, 'TOTP secret')} with key ${ring.current.id}: ${resealed.join(', ')}`,
    );
    if (params > 0) io.out(`re-sealed the secret params of ${plural(params, 'checklist item')}`);
    if (contacts > 0) io.out(`re-sealed ${plural(contacts, 'contact method')}`);
    failed.forEach((line) => io.err(`could not re-seal ${line}`));
    io.err(
      process.env[MASTER_KEY_ENV] !== undefined
        ? `restart every running "shipcheck up" of this store with the new ${MASTER_KEY_ENV} and ${PREVIOUS_MASTER_KEYS_ENV}`
        : 'a running "shipcheck up" reads the key file again when it meets the new key: no restart is needed (replicas on other machines need the new file)',
    );
    return failed.length === 0 ? 0 : 1;
  });
}
