import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBackup } from '../../app-database/backup.js';
import { configSchema, type Config } from '../../config/schema.js';
import { ManualClock } from '../../util/clock.js';
import { backupAgeCheck } from './backup-age.js';
import { testContext } from '../../../test/support/check-context.js';

/** 2023-11-14T22:13:20Z, the ManualClock's default start. */
const T0 = 1_700_000_000_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

function configWith(backup: Record<string, unknown> | undefined): Config {
  return configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, backup });
}

describe('backup-age params', () => {
  it('defaults maxAge to 24h and wants a duration', () => {
    expect(backupAgeCheck.params.parse({})).toEqual({ maxAge: 24 * HOUR_MS });
    expect(backupAgeCheck.params.parse({ maxAge: '2h' })).toEqual({ maxAge: 2 * HOUR_MS });
    expect(backupAgeCheck.params.safeParse({ maxAge: 24 }).success).toBe(false);
    expect(backupAgeCheck.params.safeParse({ maxAge: '1h', other: 1 }).success).toBe(false);
  });
});

describe('backup-age check', () => {
  let configDir: string;
  const config = configWith({ database: 'sqlite:app.db', dir: 'backups' });

  beforeAll(() => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-backup-age-'));
    const db = new Database(path.join(configDir, 'app.db'));
    db.exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');");
    db.close();
  });

  afterAll(() => {
    fs.rmSync(configDir, { recursive: true, force: true });
  });

  const run = (clock: ManualClock, params: Record<string, unknown> = {}, overrides = { config }) =>
    backupAgeCheck.run(backupAgeCheck.params.parse(params), testContext({ configDir, clock, ...overrides }));

  it('fails naming the folder when there is no backup at all', async () => {
    const result = await run(new ManualClock(T0));
    expect(result).toMatchObject({
      ok: false,
      summary: `no backup in ${path.join(configDir, 'backups')} (max age 24h)`,
    });
  });

  it('passes on a fresh backup with its age in hours, and fails once it is older than maxAge', async () => {
    const clock = new ManualClock(T0);
    const backup = await makeBackup(config.backup!, configDir, clock);
    const name = path.basename(backup.file);

    clock.advance(2.5 * HOUR_MS);
    const fresh = await run(clock);
    expect(fresh).toMatchObject({
      ok: true,
      summary: `newest backup ${name} is 2.5h old (max 24h)`,
      value: 2.5,
      data: { file: backup.file, at: new Date(T0).toISOString() },
    });

    clock.set(T0 + 30 * HOUR_MS + 6 * MINUTE_MS);
    const stale = await run(clock);
    expect(stale).toMatchObject({
      ok: false,
      summary: `newest backup ${name} is 30.1h old (max 24h)`,
      value: 30.1,
    });

    // A newer backup is the one that counts.
    const newer = await makeBackup(config.backup!, configDir, clock);
    expect(await run(clock, { maxAge: '1h' })).toMatchObject({
      ok: true,
      summary: `newest backup ${path.basename(newer.file)} is 0h old (max 1h)`,
    });
  });

  it('fails without a backup block', async () => {
    const result = await run(new ManualClock(), {}, { config: configWith(undefined) });
    expect(result).toEqual({ ok: false, summary: 'no backup block in the config' });
  });
});
