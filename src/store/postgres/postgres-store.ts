import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';

/** Connections one control plane keeps to PostgreSQL. */
const POOL_SIZE = 10;
/** How long connecting may take before the store reports PostgreSQL unreachable. */
const CONNECT_TIMEOUT_MS = 5000;
/** A write lost to a dropped connection is tried again for this long (a server restart takes seconds). */
const RETRY_LIMIT_MS = 30_000;
const RETRY_FIRST_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 2000;
/** SQLSTATEs and socket errors after which the statement did not run and a new connection may succeed. */
const CONNECTION_ERRORS = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, or the server stopping
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting
  '08000',
  '08003',
  '08006',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
]);

/** True for an error that a dropped or refused connection caused, rather than the statement. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code !== undefined && CONNECTION_ERRORS.has(e.code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
    e.message ?? '',
  );
}

/** The store shared by several control-plane replicas: PostgreSQL through the same portable SQL. */
export class PostgresStore extends KyselyStore {
  private constructor(db: Kysely<Database>) {
    super(db, 'postgres');
  }

  /**
   * Retries a write on a new connection when the old one was dropped (pg_terminate_backend, a server
   * restart), so the control plane rides out a restart without losing a transition or an event.
   */
  protected override async retrying<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + RETRY_LIMIT_MS;
    for (let delay = RETRY_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, RETRY_MAX_DELAY_MS)) {
      try {
        return await write();
      } catch (err) {
        if (!isConnectionError(err) || Date.now() + delay > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
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
    // A backend that dies (pg_terminate_backend, a server restart) must not crash the process: the
    // pool drops an idle client that errs, and a client in use reports the error to its query too, so
    // its own 'error' event carries nothing to act on. The next query gets a new connection.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    return new PostgresStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
  }
}
