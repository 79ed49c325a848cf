import type { Kysely } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Database } from './schema.js';

/** Incidents and their timelines (triggered, acknowledged, resolved), with durable escalation timers. */
export class IncidentStore {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly dialect: Dialect,
  ) {}
}
