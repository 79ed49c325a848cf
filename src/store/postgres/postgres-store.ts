import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';

/** Connections one control plane keeps to PostgreSQL. */
const POOL_SIZE = 10;
/** How long connecting may take before the store reports PostgreSQL unreachable. */
const CONNECT_TIMEOUT_MS = 5000;

/** The store shared by several control-plane replicas: PostgreSQL through the same portable SQL. */
export class PostgresStore extends KyselyStore {
  private constructor(db: Kysely<Database>) {
    super(db, 'postgres');
  }

  /** The schema the tables go to (the search_path's first); Kysely would otherwise find another's. */
  protected override async migrationSchema(): Promise<string> {
    const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(this.db);
    return rows[0]?.schema ?? 'public';
  }

  /** Connects lazily to `url`; with `schema`, every table lives in that schema (tests use one each). */
  static open(url: string, options: { schema?: string } = {}): PostgresStore {
    const pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    // A backend that dies (server restart) must not crash the process; the pool reconnects.
    pool.on('error', () => undefined);
    return new PostgresStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
  }
}
