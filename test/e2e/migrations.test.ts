import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { Scenario } from './harness.js';

function migration(s: Scenario, name: string, up: string, down?: string): void {
  const dir = path.join(s.dir, 'migrations');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.up.sql`), up);
  if (down) fs.writeFileSync(path.join(dir, `${name}.down.sql`), down);
}

function tables(s: Scenario): string[] {
  const db = new BetterSqlite3(path.join(s.dir, 'app.db'), { readonly: true });
  try {
    return (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
  } finally {
    db.close();
  }
}

async function withMigrations(faults = {}): Promise<Scenario> {
  const s = await Scenario.create({
    faults,
    steps: '[{setWeight: 50}, {pause: 1h}]',
    triggers: '[{metric: error_rate, above: 5%, window: 3s, minRequests: 10}]',
    extra: 'migrations: { dir: migrations, database: "sqlite:app.db" }\n',
  });
  fs.writeFileSync(
    s.file,
    fs
      .readFileSync(s.file, 'utf8')
      .replace('keepPreviousFor: 10m', 'keepPreviousFor: 10m\n  migrations: down'),
  );
  new BetterSqlite3(path.join(s.dir, 'app.db')).close();
  return s;
}

describe('database migrations as release steps', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it("runs a release's migrations before its canary, and undoes them when it is rolled back", async () => {
    // Given v1 with its migration applied
    s = await withMigrations({ v2: { errorRate: 0.5 } });
    migration(s, '001_create_orders', 'CREATE TABLE orders (id INTEGER PRIMARY KEY);', 'DROP TABLE orders;');
    await s.up();
    const first = await s.cli('deploy', 'v1', '--wait');
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout).toMatch(/applied 1 migration\(s\): 001_create_orders/);
    expect(tables(s)).toContain('orders');

    // When a bad v2 brings a migration and is rolled back
    migration(s, '002_create_coupons', 'CREATE TABLE coupons (code TEXT);', 'DROP TABLE coupons;');
    const load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 60, concurrency: 4, maxDurationMs: 60_000 });
    load.start();
    const second = await s.cli('deploy', 'v2', '--wait');
    await load.stop();

    // Then its migration ran, and was undone once traffic was back on v1
    expect(second.code, second.stdout).toBe(3);
    expect(second.stdout).toMatch(/applied 1 migration\(s\): 002_create_coupons/);
    expect(second.stdout).toMatch(/undid 1 migration\(s\): 002_create_coupons/);
    expect(tables(s)).toContain('orders');
    expect(tables(s)).not.toContain('coupons');
  });

  it('stops a release whose migration fails, naming the file and the SQL error, and undoes what it applied', async () => {
    s = await withMigrations();
    migration(s, '001_create_orders', 'CREATE TABLE orders (id INTEGER PRIMARY KEY);', 'DROP TABLE orders;');
    migration(s, '002_broken', 'CREATE TABLE half (id INTEGER);\nCREATE TABLE oops (;', 'DROP TABLE half;');
    await s.up();
    const result = await s.cli('deploy', 'v1', '--wait');
    // A failed release has its own exit code (docs/cli.md), apart from errors of the CLI itself.
    expect(result.code).toBe(7);
    const release = (await s.status()).release;
    expect(release).toMatchObject({ state: 'failed' });
    expect(release?.reason).toMatch(/^migration failed: .*002_broken\.up\.sql.*syntax error/);
    // rollback.migrations: down undoes 001, which this release applied before 002 failed; the failed
    // run is not started again while `down` runs (it once was, and put 001 back).
    expect(tables(s)).not.toContain('orders');
    expect(tables(s)).not.toContain('half');
    expect(s.processCounts()).toEqual({});
  });
});
