import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.js';
import type { Instance, InstanceState } from '../../providers/fleet/types.js';
import { rollbackPlanCheck } from './rollback-plan.js';
import { testContext } from '../../../test/support/check-context.js';

function instance(version: string, index: number, state: InstanceState): Instance {
  return {
    id: `web-${version}-${index}`,
    version,
    index,
    address: `127.0.0.1:${9000 + index}`,
    pid: undefined,
    state,
    healthFailures: 0,
    failedChecks: 0,
    restarts: 0,
    lastError: undefined,
    exitCode: undefined,
    logFile: undefined,
  };
}

/** v1 runs two instances, one of them ready. */
const fleet = (version: string) =>
  version === 'v1' ? [instance('v1', 0, 'ready'), instance('v1', 1, 'unhealthy')] : [];

function configWith(rollback: 'down' | 'keep', migrations?: Record<string, unknown>) {
  return configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'true' },
    rollback: { migrations: rollback },
    ...(migrations === undefined ? {} : { migrations }),
  });
}

const run = (overrides: Parameters<typeof testContext>[0]) =>
  rollbackPlanCheck.run({}, testContext(overrides));

describe('rollback-plan check', () => {
  it('takes no params', () => {
    expect(rollbackPlanCheck.params.parse({})).toEqual({});
    expect(rollbackPlanCheck.params.safeParse({ version: 'v1' }).success).toBe(false);
  });

  describe('without a migrations block', () => {
    it('passes on a first release: rolling back means stopping it', async () => {
      expect(await run({ fromVersion: null })).toEqual({
        ok: true,
        summary: 'first release of the service: rolling back means stopping it',
        data: {},
      });
    });

    it('fails when the previous version has no ready instance', async () => {
      const result = await run({ instances: (v) => (v === 'v1' ? [instance('v1', 0, 'exited')] : []) });
      expect(result).toEqual({
        ok: false,
        summary: 'previous version v1 has no ready instance to roll back to',
        data: { previous: 'v1', ready: 0, instances: 1 },
      });
    });

    it('passes when the previous version is ready, whatever rollback.migrations says', async () => {
      const result = await run({ instances: fleet, config: configWith('down') });
      expect(result).toEqual({
        ok: true,
        summary: 'previous version v1 is running (1 of 2 ready) and takes traffic back at once',
        data: { previous: 'v1', ready: 1, instances: 2 },
      });
    });
  });

  describe('with a migrations block', () => {
    let configDir: string;

    beforeAll(() => {
      configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-rollback-plan-'));
      new Database(path.join(configDir, 'app.db')).close();
      const write = (dir: string, files: Record<string, string>) => {
        fs.mkdirSync(path.join(configDir, dir));
        for (const [name, text] of Object.entries(files))
          fs.writeFileSync(path.join(configDir, dir, name), text);
      };
      write('reversible', {
        '001_add_users.up.sql': 'CREATE TABLE users (id integer);',
        '001_add_users.down.sql': 'DROP TABLE users;',
      });
      write('irreversible', {
        '001_add_users.up.sql': 'CREATE TABLE users (id integer);',
        '001_add_users.down.sql': 'DROP TABLE users;',
        '002_drop_column.up.sql': 'ALTER TABLE users DROP COLUMN id;',
      });
      write('empty', {});
    });

    afterAll(() => fs.rmSync(configDir, { recursive: true, force: true }));

    const withMigrations = (
      rollback: 'down' | 'keep',
      dir: string,
      overrides: Parameters<typeof testContext>[0] = {},
    ) =>
      run({
        configDir,
        instances: fleet,
        config: configWith(rollback, { dir, database: 'sqlite:app.db' }),
        ...overrides,
      });

    it('given rollback.migrations: down, when a pending migration has no down step, then it fails naming it', async () => {
      const result = await withMigrations('down', 'irreversible');
      expect(result).toEqual({
        ok: false,
        summary: '002_drop_column has no down step: a rollback cannot undo it',
        data: {
          previous: 'v1',
          ready: 1,
          instances: 2,
          migrations: {
            mode: 'down',
            pending: ['001_add_users', '002_drop_column'],
            irreversible: ['002_drop_column'],
          },
        },
      });
    });

    it('given rollback.migrations: down, when the old version is gone too, then both problems are named', async () => {
      const result = await withMigrations('down', 'irreversible', { instances: () => [] });
      expect(result.ok).toBe(false);
      expect(result.summary).toBe(
        'previous version v1 has no ready instance to roll back to; 002_drop_column has no down step: a rollback cannot undo it',
      );
    });

    it('given rollback.migrations: down, when every pending migration has a down step, then it passes', async () => {
      const result = await withMigrations('down', 'reversible');
      expect(result).toMatchObject({
        ok: true,
        summary:
          'previous version v1 is running (1 of 2 ready) and takes traffic back at once; 1 pending migration has a down step for rollback (rollback.migrations: down)',
      });
      const none = await withMigrations('down', 'empty', { fromVersion: null });
      expect(none.summary).toBe(
        'first release of the service: rolling back means stopping it; no pending migrations to undo on rollback',
      );
    });

    it('given rollback.migrations: keep, when a migration has no down step, then it passes and says the schema stays', async () => {
      const result = await withMigrations('keep', 'irreversible');
      expect(result).toMatchObject({
        ok: true,
        summary:
          'previous version v1 is running (1 of 2 ready) and takes traffic back at once; rollback.migrations: keep — migrations stay applied on rollback',
      });
    });

    it('given the command form without a down command, when rollback.migrations is down, then it fails', async () => {
      const result = await run({ configDir, instances: fleet, config: configWith('down', { up: 'true' }) });
      expect(result).toMatchObject({
        ok: false,
        summary: 'migrations.up has no migrations.down command: a rollback cannot undo it',
      });
    });

    it('given a database it cannot open, when rollback.migrations is down, then it fails saying why', async () => {
      const result = await run({
        configDir,
        instances: fleet,
        config: configWith('down', { dir: 'reversible', database: 'sqlite:missing.db' }),
      });
      expect(result).toMatchObject({
        ok: false,
        summary: `cannot list pending migrations: database file ${path.join(configDir, 'missing.db')} does not exist`,
      });
    });
  });
});
