import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './index.js';

/** The status page's incidents, maintenances, component overrides and history, and subscribers. */
export function statusPageMigration(dialect: Dialect): Migration {
  void dialect;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      void db;
    },
  };
}
