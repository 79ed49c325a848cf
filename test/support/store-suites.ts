/**
 * Runs a store-backed suite on both stores: SQLite (a fresh file per store) and PostgreSQL (a
 * fresh schema per store, all dropped after the file). A PostgreSQL that cannot be reached skips
 * its half with a warning, or fails when SHIPCHECK_REQUIRE_REAL=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import { PG_URL, REQUIRE_REAL, probePostgres, testSchemas, unreachableMessage } from './postgres.js';

/** Opens a migrated store on a fresh SQLite file or PostgreSQL schema. */
export type OpenStore = () => Promise<Store>;

/** What a file gets when PostgreSQL runs here, for suites of its own (replicas sharing a schema). */
export interface PostgresSchemas {
  /** A fresh schema, dropped after the file. */
  schema(): Promise<string>;
  /** A migrated store on `schema`; two stores on one schema are two replicas. */
  open(schema: string): Promise<Store>;
}

/**
 * Registers `suite` once per store. `what` names the suite in the skip warning and the required
 * test; `prefix` starts the names of the PostgreSQL schemas. Resolves to the PostgreSQL schemas
 * when PostgreSQL runs here, undefined otherwise.
 */
export async function onEachStore(
  what: string,
  prefix: string,
  suite: (name: 'sqlite' | 'postgres', open: OpenStore) => void,
): Promise<PostgresSchemas | undefined> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  let files = 0;
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  suite('sqlite', async () => {
    const store = SqliteStore.open(path.join(dir, `state-${files++}.db`));
    await store.migrate();
    return store;
  });

  const problem = await probePostgres();
  if (problem !== undefined) {
    if (REQUIRE_REAL) {
      describe(`${what} on PostgreSQL (required)`, () => {
        it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
          throw new Error(unreachableMessage(problem));
        });
      });
    } else {
      console.warn(`SKIPPING ${what} on PostgreSQL: ${unreachableMessage(problem)}`);
    }
    return undefined;
  }
  const schemas = testSchemas(prefix.replace(/-/g, '_'));
  afterAll(() => schemas.dropAll());
  const postgres: PostgresSchemas = {
    schema: () => schemas.create(),
    async open(schema) {
      const store = PostgresStore.open(PG_URL, { schema });
      await store.migrate();
      return store;
    },
  };
  suite('postgres', async () => postgres.open(await postgres.schema()));
  return postgres;
}
