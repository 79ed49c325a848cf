import type { Kysely } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';

/** On-call overrides made through the API, and users' contact methods. */
export class OnCallStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}
}
