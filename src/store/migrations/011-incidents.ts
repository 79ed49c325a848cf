import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './index.js';

/** Incidents, their updates and escalation state. */
export function incidentsMigration(dialect: Dialect): Migration {
  void dialect;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      void db;
    },
  };
}
