import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBackup } from '../../app-database/backup.js';
import { COUNTS_SUFFIX, type RecordedCounts } from '../../app-database/backup-folder.js';
import { configSchema, type Config } from '../../config/schema.js';
import { ManualClock } from '../../util/clock.js';
import { backupRestoreCheck, RESTORE_MEMO_FILE } from './backup-restore.js';
import { testContext } from '../../../test/support/check-context.js';
import { PG_URL, REQUIRE_REAL, probePostgres, unreachableMessage } from '../../../test/support/postgres.js';

/** 2023-11-14T22:13:20Z, the ManualClock's default start. */
const T0 = 1_700_000_000_000;
const MINUTE_MS = 60_000;

const pgProblem = await probePostgres(PG_URL);
const pgUnreachable = unreachableMessage(pgProblem);
if (pgProblem !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the PostgreSQL tests of the backup-restore check: ${pgUnreachable}`);

/** A source database with two tables of 3 and 5 rows, and how to remove it. */
interface Source {
  database: string;
  /** The names tables have in evidence: schema-qualified on PostgreSQL. */
  users: string;
  orders: string;
  drop(): Promise<void>;
}

async function sqliteSource(configDir: string): Promise<Source> {
  const db = new Database(path.join(configDir, 'app.db'));
  db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY); CREATE TABLE orders (id INTEGER PRIMARY KEY);
    INSERT INTO users DEFAULT VALUES; INSERT INTO users DEFAULT VALUES; INSERT INTO users DEFAULT VALUES;
    INSERT INTO orders SELECT value FROM json_each('[1,2,3,4,5]');`);
  db.close();
  return { database: 'sqlite:app.db', users: 'users', orders: 'orders', drop: async () => undefined };
}

async function postgresSource(): Promise<Source> {
  const name = `sc_src_${crypto.randomBytes(6).toString('hex')}`;
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const drop = async (): Promise<void> => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const source = new pg.Client({ connectionString: url.href });
    await source.connect();
    try {
      await source.query(`CREATE TABLE users (id int); CREATE TABLE orders (id int);
        INSERT INTO users SELECT generate_series(1, 3); INSERT INTO orders SELECT generate_series(1, 5);`);
    } finally {
      await source.end();
    }
  } catch (err) {
    await drop();
    throw err;
  }
  return { database: url.href, users: 'public.users', orders: 'public.orders', drop };
}

function configWith(backup: Record<string, unknown> | undefined): Config {
  return configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, backup });
}

const sources = [
  { kind: 'SQLite', create: sqliteSource, skip: undefined },
  {
    kind: 'PostgreSQL',
    create: () => postgresSource(),
    skip: pgProblem === undefined ? undefined : pgUnreachable,
  },
];

describe('backup-restore params', () => {
  it('takes none', () => {
    expect(backupRestoreCheck.params.parse({})).toEqual({});
    expect(backupRestoreCheck.params.safeParse({ file: 'x' }).success).toBe(false);
  });
});

for (const { kind, create, skip } of sources) {
  describe.skipIf(skip !== undefined)(
    `backup-restore check on ${kind}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let configDir: string;
      let source: Source;

      beforeAll(async () => {
        configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-backup-restore-'));
        source = await create(configDir);
      });

      afterAll(async () => {
        // Dropped whatever the tests did; FORCE ends any session left open.
        await source?.drop();
        fs.rmSync(configDir, { recursive: true, force: true });
      });

      const run = (config: Config, clock: ManualClock) =>
        backupRestoreCheck.run({}, testContext({ config, configDir, clock }));

      it('fails naming the folder when there is nothing to restore', async () => {
        const config = configWith({ database: source.database, dir: 'empty' });
        expect(await run(config, new ManualClock())).toMatchObject({
          ok: false,
          summary: `no backup in ${path.join(configDir, 'empty')} to restore`,
        });
      });

      it('restores the newest backup and keeps the per-table counts as evidence', async () => {
        const config = configWith({ database: source.database, dir: 'plain' });
        const clock = new ManualClock(T0);
        const backup = await makeBackup(config.backup!, configDir, clock);
        const result = await run(config, clock);
        expect(result).toMatchObject({
          ok: true,
          summary: `restored ${path.basename(backup.file)} into a scratch database: 2 tables, 8 rows, all counts match`,
          value: 8,
          data: {
            file: backup.file,
            basis: 'backup',
            tables: [
              { table: source.orders, source: 5, restored: 5 },
              { table: source.users, source: 3, restored: 3 },
            ],
          },
        });
      });

      it('reuses a passed check of the same file within reuseFor, and restores again after', async () => {
        const config = configWith({ database: source.database, dir: 'reuse', reuseFor: '1h' });
        const clock = new ManualClock(T0);
        const backup = await makeBackup(config.backup!, configDir, clock);
        const name = path.basename(backup.file);
        clock.advance(5 * MINUTE_MS);
        const first = await run(config, clock);
        expect(first.summary).toMatch(/^restored .* all counts match$/);
        const memo = JSON.parse(fs.readFileSync(path.join(configDir, 'reuse', RESTORE_MEMO_FILE), 'utf8'));
        expect(Object.keys(memo)).toEqual([name]);

        clock.advance(30 * MINUTE_MS);
        const reused = await run(config, clock);
        const checkedAt = '2023-11-14T22:18:20Z';
        expect(reused).toMatchObject({
          ok: true,
          summary: `reused the restore check of ${name} from ${checkedAt}`,
          data: { reusedFrom: checkedAt, tables: first.data?.tables },
        });

        clock.advance(31 * MINUTE_MS);
        expect((await run(config, clock)).summary).toMatch(/^restored /);

        // A new backup is a different file: it is restored, not vouched for by the old one.
        clock.advance(MINUTE_MS);
        const next = await makeBackup(config.backup!, configDir, clock);
        const fresh = await run(config, clock);
        expect(fresh.summary).toBe(
          `restored ${path.basename(next.file)} into a scratch database: 2 tables, 8 rows, all counts match`,
        );
      });

      it('never reuses with the default reuseFor, nor a failed check', async () => {
        const config = configWith({ database: source.database, dir: 'no-reuse' });
        const clock = new ManualClock(T0);
        await makeBackup(config.backup!, configDir, clock);
        expect((await run(config, clock)).summary).toMatch(/^restored /);
        expect((await run(config, clock)).summary).toMatch(/^restored /);

        const reusing = configWith({ database: source.database, dir: 'failed', reuseFor: '1h' });
        const backup = await makeBackup(reusing.backup!, configDir, clock);
        const sidecar = `${backup.file}${COUNTS_SUFFIX}`;
        const counts = JSON.parse(fs.readFileSync(sidecar, 'utf8')) as RecordedCounts;
        counts.tables[source.orders] = 6;
        fs.writeFileSync(sidecar, JSON.stringify(counts));
        const failed = await run(reusing, clock);
        expect(failed.ok).toBe(false);
        expect(failed.summary).toContain(`${source.orders}: 6 at backup time, 5 restored`);
        expect((await run(reusing, clock)).ok).toBe(false);
      });

      it('fails without a backup block', async () => {
        expect(await run(configWith(undefined), new ManualClock())).toEqual({
          ok: false,
          summary: 'no backup block in the config',
        });
      });
    },
  );
}

describe.runIf(pgProblem !== undefined && REQUIRE_REAL)(
  'backup-restore check on PostgreSQL (required)',
  () => {
    it('has a reachable PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
      expect.fail(pgUnreachable);
    });
  },
);
