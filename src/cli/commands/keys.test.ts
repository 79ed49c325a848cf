import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ContactMethods, contactMethodAad } from '../../comms/contact-methods.js';
import { loadKeyRing } from '../../security/key-ring.js';
import { open, seal } from '../../security/secret-box.js';
import { keyFileOf } from '../../security/security.js';
import { openStore } from '../../store/open-store.js';
import { keysRotateCommand } from './keys.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-keys-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('shipcheck keys rotate', () => {
  it("re-seals users' contact methods under the new key, still bound to their user and id", async () => {
    const config = path.join(dir, 'shipcheck.yaml');
    fs.writeFileSync(config, 'service: web\nfleet: { kind: local, command: "true" }\n');
    const keyFile = keyFileOf(dir);
    const ring = (): ReturnType<typeof loadKeyRing> =>
      loadKeyRing({ env: {}, file: keyFile, now: Date.now() });
    const before = ring();
    const store = await openStore(`sqlite:${path.join(dir, '.shipcheck', 'state.db')}`);
    let methodId: number;
    let userId: number;
    let sealedBefore: string;
    try {
      const user = await store.security.createUser({
        name: 'alice',
        email: null,
        passwordHash: null,
        grants: [],
        groups: [],
        source: 'local',
        subject: null,
        createdAt: 0,
      });
      userId = user.id;
      const methods = new ContactMethods(store.notifications, {
        seal: (text, aad) => seal(before, text, aad),
        open: (sealed, aad) => open(before, sealed, aad),
      });
      methodId = (
        await methods.add(user.id, { type: 'slack', url: 'https://hooks.slack.com/services/T/B/SECRET' }, 0)
      ).id;
      sealedBefore = (await store.notifications.contacts.get(methodId))!.sealed;
      expect(sealedBefore).not.toContain('SECRET');
    } finally {
      await store.close();
    }

    const out: string[] = [];
    const code = await keysRotateCommand(
      { config },
      { out: (l) => out.push(l), err: () => undefined, isTTY: false },
    );
    expect(code).toBe(0);
    expect(out).toContain('re-sealed 1 contact method');

    const after = ring();
    expect(after.current.id).not.toBe(before.current.id);
    const reopened = await openStore(`sqlite:${path.join(dir, '.shipcheck', 'state.db')}`);
    try {
      const row = (await reopened.notifications.contacts.get(methodId))!;
      expect(row.sealed).not.toBe(sealedBefore);
      expect(JSON.parse(open(after, row.sealed, contactMethodAad(userId, methodId)))).toEqual({
        type: 'slack',
        url: 'https://hooks.slack.com/services/T/B/SECRET',
      });
      // Bound to its user and id: under another id it does not open.
      expect(() => open(after, row.sealed, contactMethodAad(userId, methodId + 1))).toThrow();
    } finally {
      await reopened.close();
    }
  });
});
