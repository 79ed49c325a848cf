import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './dialect.js';

/** On-call overrides and users' contact methods. */
export function oncallMigration(dialect: Dialect): Migration {
  void dialect;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      void db;
    },
  };
}
