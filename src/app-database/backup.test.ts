import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.js';
import { ManualClock } from '../util/clock.js';
import { makeBackup } from './backup.js';
import {
  BackupStopped,
  COUNTS_SUFFIX,
  newestBackup,
  readRecordedCounts,
  type BackupConfig,
  type RecordedCounts,
} from './backup-folder.js';
import { findPgTool } from './backup-programs.js';
import { restoreAndCompare } from './restore-check.js';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../test/support/postgres.js';

/** 2023-11-14T22:13:20Z, the ManualClock's default start. */
const T0 = 1_700_000_000_000;
const T0_STAMP = '20231114T221320Z';
const HOUR_MS = 3_600_000;
/** Rows of padded text: enough pages that cutting the file in half loses table data. */
const BULK_ROWS = 2000;
const PADDING = 'x'.repeat(200);

const pgProblem = await probePostgres(PG_URL);
const pgUnreachable = unreachableMessage(pgProblem);
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the PostgreSQL tests of backups: ${pgUnreachable}`);

/** A validated backup block, as the config loader would produce it. */
function backupConfig(input: Record<string, unknown>): BackupConfig {
  const config = configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'true' },
    backup: input,
  });
  return config.backup!;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-backup-'));
}

function editCounts(file: string, edit: (counts: RecordedCounts) => void): void {
  const sidecar = `${file}${COUNTS_SUFFIX}`;
  const counts = JSON.parse(fs.readFileSync(sidecar, 'utf8')) as RecordedCounts;
  edit(counts);
  fs.writeFileSync(sidecar, JSON.stringify(counts));
}

function truncateToHalf(file: string): void {
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
}

const live = (): AbortSignal => new AbortController().signal;

describe('findPgTool', () => {
  it('looks on PATH, then in the newest Debian version folder, then says what to install', async () => {
    const root = tempDir();
    try {
      await expect(findPgTool('pg_dump', '', root)).rejects.toThrow(
        'pg_dump not found; apt-get install postgresql-client',
      );
      for (const version of ['9.6', '15', '13']) {
        fs.mkdirSync(path.join(root, version, 'bin'), { recursive: true });
        fs.writeFileSync(path.join(root, version, 'bin', 'pg_dump'), '#!/bin/sh\n', { mode: 0o755 });
      }
      expect(await findPgTool('pg_dump', '', root)).toBe(path.join(root, '15', 'bin', 'pg_dump'));
      const onPath = path.join(root, 'path');
      fs.mkdirSync(onPath);
      fs.writeFileSync(path.join(onPath, 'pg_dump'), '#!/bin/sh\n', { mode: 0o755 });
      expect(await findPgTool('pg_dump', onPath, root)).toBe(path.join(onPath, 'pg_dump'));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('SQLite backups', () => {
  let configDir: string;

  beforeAll(() => {
    configDir = tempDir();
    const db = new Database(path.join(configDir, 'app.db'));
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
      CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT);
      INSERT INTO users (name) VALUES ('ada'), ('grace'), ('linus');`);
    const insert = db.prepare('INSERT INTO orders (note) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < BULK_ROWS; i++) insert.run(`${i}${PADDING}`);
    })();
    db.close();
  });

  afterAll(() => {
    fs.rmSync(configDir, { recursive: true, force: true });
  });

  it('has no newest backup before the first one', async () => {
    const config = backupConfig({ database: 'sqlite:app.db', dir: 'none-yet' });
    expect(await newestBackup(config, configDir)).toBeUndefined();
  });

  it('backs up online with counts from the same snapshot, and the restore matches them', async () => {
    const config = backupConfig({ database: 'sqlite:app.db', dir: 'fresh' });
    const backup = await makeBackup(config, configDir, new ManualClock(T0), live());
    expect(backup.file).toBe(path.join(configDir, 'fresh', `app-${T0_STAMP}.sqlite`));
    expect(backup.at).toBe(T0);
    expect(backup.bytes).toBe(fs.statSync(backup.file).size);
    expect(fs.statSync(backup.file).mtimeMs).toBe(T0);
    expect(await readRecordedCounts(backup.file)).toEqual({
      at: T0,
      sameSnapshot: true,
      tables: { orders: BULK_ROWS, users: 3 },
    });
    // Only the backup is left in the folder: no partial file, no WAL files.
    expect(fs.readdirSync(path.join(configDir, 'fresh')).sort()).toEqual([
      `app-${T0_STAMP}.sqlite`,
      `app-${T0_STAMP}.sqlite${COUNTS_SUFFIX}`,
    ]);
    expect(await newestBackup(config, configDir)).toEqual(backup);

    const result = await restoreAndCompare(config, configDir, backup.file, live());
    expect(result).toMatchObject({
      ok: true,
      basis: 'backup',
      summary: `restored app-${T0_STAMP}.sqlite into a scratch database: 2 tables, 2,003 rows, all counts match`,
      tables: [
        { table: 'orders', source: BULK_ROWS, restored: BULK_ROWS },
        { table: 'users', source: 3, restored: 3 },
      ],
    });
    expect(fs.existsSync(result.scratch)).toBe(false);
  });

  it('names a second backup of the same second apart, and newest follows the clock', async () => {
    const config = backupConfig({ database: 'sqlite:app.db', dir: 'twice' });
    const clock = new ManualClock(T0);
    const first = await makeBackup(config, configDir, clock, live());
    const second = await makeBackup(config, configDir, clock, live());
    expect(path.basename(second.file)).toBe(`app-${T0_STAMP}-2.sqlite`);
    clock.advance(HOUR_MS);
    const third = await makeBackup(config, configDir, clock, live());
    expect(third.file).not.toBe(first.file);
    expect((await newestBackup(config, configDir))?.file).toBe(third.file);
  });

  it('compares with the counts of backup time, so later writes to the source do not fail it', async () => {
    const source = path.join(configDir, 'busy.db');
    const db = new Database(source);
    db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY); INSERT INTO events DEFAULT VALUES;');
    try {
      const config = backupConfig({ database: 'sqlite:busy.db', dir: 'busy' });
      const backup = await makeBackup(config, configDir, new ManualClock(), live());
      // Rollback-journal mode: the counts are taken just before the copy, and say so.
      expect((await readRecordedCounts(backup.file))?.sameSnapshot).toBe(false);
      db.exec('INSERT INTO events DEFAULT VALUES; INSERT INTO events DEFAULT VALUES;');
      const result = await restoreAndCompare(config, configDir, backup.file, live());
      expect(result).toMatchObject({ ok: true, tables: [{ table: 'events', source: 1, restored: 1 }] });

      // Without the recorded counts, the live source is all there is, and the difference shows.
      fs.rmSync(`${backup.file}${COUNTS_SUFFIX}`);
      const againstLive = await restoreAndCompare(config, configDir, backup.file, live());
      expect(againstLive).toMatchObject({ ok: false, basis: 'live' });
      expect(againstLive.summary).toContain('events: 3 in the live source, 1 restored');
      expect(againstLive.summary).toContain('no counts were recorded with this backup');
    } finally {
      db.close();
    }
  });

  it('fails naming the table when a recorded count does not match the restore', async () => {
    const config = backupConfig({ database: 'sqlite:app.db', dir: 'tampered' });
    const backup = await makeBackup(config, configDir, new ManualClock(), live());
    editCounts(backup.file, (counts) => {
      counts.tables.users = 4;
    });
    const result = await restoreAndCompare(config, configDir, backup.file, live());
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/: 1 of 2 tables differs: users: 4 at backup time, 3 restored$/);
    expect(result.tables).toContainEqual({ table: 'users', source: 4, restored: 3 });
  });

  it('fails naming the tables a truncated backup lost', async () => {
    const config = backupConfig({ database: 'sqlite:app.db', dir: 'truncated' });
    const backup = await makeBackup(config, configDir, new ManualClock(), live());
    truncateToHalf(backup.file);
    const result = await restoreAndCompare(config, configDir, backup.file, live());
    expect(result.ok).toBe(false);
    expect(result.summary).toContain('orders: 2,000 at backup time');
  });

  it('refuses a source file that does not exist', async () => {
    const config = backupConfig({ database: 'sqlite:missing.db', dir: 'missing' });
    await expect(makeBackup(config, configDir, new ManualClock(), live())).rejects.toThrow(
      `SQLite file ${path.join(configDir, 'missing.db')} does not exist`,
    );
  });

  it('finds the newest file, skipping counts sidecars and hidden files', async () => {
    const dir = path.join(configDir, 'listing');
    fs.mkdirSync(dir);
    const write = (name: string, at: number): void => {
      fs.writeFileSync(path.join(dir, name), name);
      fs.utimesSync(path.join(dir, name), at / 1000, at / 1000);
    };
    write('old.dump', T0);
    write('new.dump', T0 + HOUR_MS);
    write(`old.dump${COUNTS_SUFFIX}`, T0 + 2 * HOUR_MS);
    write('.restore-checks.json', T0 + 2 * HOUR_MS);
    write('.half.dump.partial', T0 + 2 * HOUR_MS);
    const config = backupConfig({ command: 'true', dir: 'listing' });
    expect(await newestBackup(config, configDir)).toEqual({
      file: path.join(dir, 'new.dump'),
      bytes: 'new.dump'.length,
      at: T0 + HOUR_MS,
    });
  });
});

describe('backups made and restored by commands', () => {
  let configDir: string;

  beforeAll(() => {
    configDir = tempDir();
    const db = new Database(path.join(configDir, 'app.db'));
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
      INSERT INTO users (name) VALUES ('ada'), ('grace');`);
    db.close();
    fs.writeFileSync(
      path.join(configDir, 'backup.sh'),
      '#!/bin/sh\nset -e\ncp app.db "$SHIPCHECK_BACKUP_DIR/app-copy-$$.db"\n',
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(configDir, 'restore.sh'),
      '#!/bin/sh\nset -e\ncp "$SHIPCHECK_BACKUP_FILE" "$SHIPCHECK_SCRATCH_DATABASE"\n',
      { mode: 0o755 },
    );
  });

  afterAll(() => {
    fs.rmSync(configDir, { recursive: true, force: true });
  });

  it('runs the backup command, records counts of backup.database, and restores with restoreCommand', async () => {
    const config = backupConfig({
      command: './backup.sh',
      restoreCommand: ['./restore.sh'],
      database: 'sqlite:app.db',
      dir: 'by-command',
    });
    const backup = await makeBackup(config, configDir, new ManualClock(T0), live());
    expect(path.dirname(backup.file)).toBe(path.join(configDir, 'by-command'));
    expect(path.basename(backup.file)).toMatch(/^app-copy-\d+\.db$/);
    expect(backup.at).toBe(T0);
    expect(await readRecordedCounts(backup.file)).toEqual({
      at: T0,
      sameSnapshot: false,
      tables: { users: 2 },
    });

    const result = await restoreAndCompare(config, configDir, backup.file, live());
    expect(result).toMatchObject({
      ok: true,
      basis: 'backup',
      tables: [{ table: 'users', source: 2, restored: 2 }],
    });

    editCounts(backup.file, (counts) => {
      counts.tables.users = 7;
    });
    const tampered = await restoreAndCompare(config, configDir, backup.file, live());
    expect(tampered).toMatchObject({ ok: false });
    expect(tampered.summary).toContain('users: 7 at backup time, 2 restored');
  });

  it('checks only that something was restored when there is no database to compare with', async () => {
    const config = backupConfig({ command: './backup.sh', restoreCommand: './restore.sh', dir: 'no-source' });
    const backup = await makeBackup(config, configDir, new ManualClock(), live());
    expect(await readRecordedCounts(backup.file)).toBeUndefined();
    const result = await restoreAndCompare(config, configDir, backup.file, live());
    expect(result).toMatchObject({ ok: true, basis: 'none' });
    expect(result.summary).toMatch(/: 1 table, 2 rows; no backup.database to compare counts with$/);

    const nothing = backupConfig({ command: './backup.sh', restoreCommand: 'true', dir: 'no-source' });
    const empty = await restoreAndCompare(nothing, configDir, backup.file, live());
    expect(empty.ok).toBe(false);
    expect(empty.summary).toContain('the restoreCommand wrote nothing to $SHIPCHECK_SCRATCH_DATABASE');
  });

  it('fails with the exit code and last line of a failing restoreCommand', async () => {
    const config = backupConfig({
      command: './backup.sh',
      restoreCommand: 'echo "no space left on device" >&2; exit 3',
      database: 'sqlite:app.db',
      dir: 'failing',
    });
    const backup = await makeBackup(config, configDir, new ManualClock(), live());
    const result = await restoreAndCompare(config, configDir, backup.file, live());
    expect(result.ok).toBe(false);
    expect(result.summary).toContain('restoreCommand failed (exit 3): no space left on device');
    expect(result.summary).toContain('users: 2 at backup time, missing from the restore');
  });

  it('says what is missing without a restoreCommand, and when the command writes no file', async () => {
    const config = backupConfig({ command: './backup.sh', dir: 'no-restore' });
    const backup = await makeBackup(config, configDir, new ManualClock(), live());
    await expect(restoreAndCompare(config, configDir, backup.file, live())).rejects.toThrow(
      'backup.restoreCommand is not set',
    );
    const idle = backupConfig({ command: 'true', dir: 'idle' });
    await expect(makeBackup(idle, configDir, new ManualClock(), live())).rejects.toThrow(
      'backup command exited 0 but wrote no new file',
    );
    const broken = backupConfig({ command: 'echo "disk full" >&2; exit 2', dir: 'broken' });
    await expect(makeBackup(broken, configDir, new ManualClock(), live())).rejects.toThrow(
      'backup command failed (exit 2): disk full',
    );
  });

  it('stops a restoreCommand when the signal fires', async () => {
    const config = backupConfig({ command: './backup.sh', restoreCommand: 'sleep 30', dir: 'stopped' });
    const backup = await makeBackup(config, configDir, new ManualClock(), live());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(restoreAndCompare(config, configDir, backup.file, controller.signal)).rejects.toBeInstanceOf(
      BackupStopped,
    );
  });
});

describe.skipIf(pgProblem !== undefined)(
  `PostgreSQL backups${pgProblem === undefined ? '' : ` (skipped: ${pgUnreachable})`}`,
  () => {
    const sourceName = `sc_src_${crypto.randomBytes(6).toString('hex')}`;
    const sourceUrl = (() => {
      const url = new URL(PG_URL);
      url.pathname = `/${sourceName}`;
      return url.href;
    })();
    let admin: pg.Client;
    let configDir: string;

    /** Whether a database of this name exists on the test server. */
    async function databaseExists(name: string): Promise<boolean> {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      return rowCount === 1;
    }

    beforeAll(async () => {
      configDir = tempDir();
      admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${sourceName}`);
      const source = new pg.Client({ connectionString: sourceUrl });
      await source.connect();
      try {
        await source.query(`CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
          INSERT INTO users (name) VALUES ('ada'), ('grace'), ('linus');
          CREATE SCHEMA billing;
          CREATE TABLE billing.invoices (id serial PRIMARY KEY, note text NOT NULL);
          INSERT INTO billing.invoices (note) SELECT i || repeat('x', 200) FROM generate_series(1, ${BULK_ROWS}) i;
          CREATE TABLE empty (id int);`);
      } finally {
        await source.end();
      }
      fs.writeFileSync(
        path.join(configDir, 'pg-backup.sh'),
        `#!/bin/sh\nset -e\npg_dump -Fc -f "$SHIPCHECK_BACKUP_DIR/by-script.dump" "$SOURCE_URL"\n`,
        { mode: 0o755 },
      );
      fs.writeFileSync(
        path.join(configDir, 'pg-restore.sh'),
        '#!/bin/sh\nset -e\npg_restore --no-owner -d "$SHIPCHECK_SCRATCH_DATABASE" "$SHIPCHECK_BACKUP_FILE"\n',
        { mode: 0o755 },
      );
    });

    afterAll(async () => {
      // Dropped even when a test failed half-way; FORCE ends any session a test left open.
      await admin?.query(`DROP DATABASE IF EXISTS ${sourceName} WITH (FORCE)`);
      await admin?.end();
      fs.rmSync(configDir, { recursive: true, force: true });
    });

    it('dumps in custom format with counts from the same snapshot, restores into a scratch database and drops it', async () => {
      const config = backupConfig({ database: sourceUrl, dir: 'pg' });
      const backup = await makeBackup(config, configDir, new ManualClock(T0), live());
      expect(backup.file).toBe(path.join(configDir, 'pg', `${sourceName}-${T0_STAMP}.dump`));
      // Custom-format archives start with PGDMP.
      expect(fs.readFileSync(backup.file).subarray(0, 5).toString()).toBe('PGDMP');
      expect(await readRecordedCounts(backup.file)).toEqual({
        at: T0,
        sameSnapshot: true,
        tables: { 'billing.invoices': BULK_ROWS, 'public.empty': 0, 'public.users': 3 },
      });

      const result = await restoreAndCompare(config, configDir, backup.file, live());
      expect(result).toMatchObject({
        ok: true,
        basis: 'backup',
        summary: `restored ${sourceName}-${T0_STAMP}.dump into a scratch database: 3 tables, 2,003 rows, all counts match`,
      });
      expect(result.scratch).toMatch(/^shipcheck_restore_[0-9a-f]+$/);
      expect(await databaseExists(result.scratch)).toBe(false);
    });

    it('fails naming the table whose recorded count differs', async () => {
      const config = backupConfig({ database: sourceUrl, dir: 'pg-tampered' });
      const backup = await makeBackup(config, configDir, new ManualClock(), live());
      editCounts(backup.file, (counts) => {
        counts.tables['public.users'] = 2;
      });
      const result = await restoreAndCompare(config, configDir, backup.file, live());
      expect(result.ok).toBe(false);
      expect(result.summary).toMatch(/: 1 of 3 tables differs: public\.users: 2 at backup time, 3 restored$/);
      expect(await databaseExists(result.scratch)).toBe(false);
    });

    it('fails naming the tables a truncated dump lost, and still drops the scratch database', async () => {
      const config = backupConfig({ database: sourceUrl, dir: 'pg-truncated' });
      const backup = await makeBackup(config, configDir, new ManualClock(), live());
      truncateToHalf(backup.file);
      const result = await restoreAndCompare(config, configDir, backup.file, live());
      expect(result.ok).toBe(false);
      expect(result.summary).toContain('pg_restore failed (exit 1)');
      expect(result.summary).toContain('billing.invoices: 2,000 at backup time');
      expect(await databaseExists(result.scratch)).toBe(false);
    });

    it('restores with a restoreCommand into a scratch database it creates, and drops it when stopped', async () => {
      const config = backupConfig({
        command: './pg-backup.sh',
        restoreCommand: './pg-restore.sh',
        database: sourceUrl,
        dir: 'pg-command',
      });
      process.env.SOURCE_URL = sourceUrl;
      try {
        const backup = await makeBackup(config, configDir, new ManualClock(), live());
        expect(path.basename(backup.file)).toBe('by-script.dump');
        const result = await restoreAndCompare(config, configDir, backup.file, live());
        expect(result).toMatchObject({ ok: true, basis: 'backup' });
        expect(result.tables).toContainEqual({ table: 'public.users', source: 3, restored: 3 });
        expect(await databaseExists(result.scratch)).toBe(false);

        // The scratch database outlives no stopped restore.
        const seen = path.join(configDir, 'scratch-name');
        const slow = backupConfig({
          command: './pg-backup.sh',
          restoreCommand: `echo "$SHIPCHECK_SCRATCH_DATABASE" > ${seen}; sleep 30`,
          database: sourceUrl,
          dir: 'pg-command',
        });
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 500);
        await expect(
          restoreAndCompare(slow, configDir, backup.file, controller.signal),
        ).rejects.toBeInstanceOf(BackupStopped);
        const scratch = new URL(fs.readFileSync(seen, 'utf8').trim()).pathname.slice(1);
        expect(scratch).toMatch(/^shipcheck_restore_/);
        expect(await databaseExists(scratch)).toBe(false);
      } finally {
        delete process.env.SOURCE_URL;
      }
    });
  },
);

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)('PostgreSQL backups (required)', () => {
  it('has a reachable PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(pgUnreachable);
  });
});
