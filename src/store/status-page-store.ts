import type { Kysely } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';

/** The status page's incidents and their updates, maintenances, component overrides, component status history and subscribers. */
export class StatusPageStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}
}
