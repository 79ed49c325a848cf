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
/**
 * The longest one statement may run before PostgreSQL cancels it (SQLSTATE 57014). A held-up server
 * (a lock another client keeps, a stalled disk) then fails the reconcile pass with an error, and the
 * next pass tries again, instead of hanging the pass forever. Every store query takes milliseconds.
 */
const STATEMENT_TIMEOUT_MS = 10_000;
/**
 * The limit while migrating: DDL on a large table, and waiting for another replica's migration (the
 * migrator holds an advisory lock), take longer than any query of a pass. Migrations run at startup,
 * never in a pass.
 */
const MIGRATION_STATEMENT_TIMEOUT_MS = 15 * 60_000;
/**
 * TCP keepalive probes start after a connection has been idle this long, so a peer that vanished
 * without closing the socket (a failed-over host, a dropped NAT entry) is noticed.
 */
const KEEPALIVE_INITIAL_DELAY_MS = 10_000;
/** How the store's connections show in pg_stat_activity, unless the URL names another application. */
const APPLICATION_NAME = 'shipcheck';
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

/** How PostgresStore.open connects. */
export interface PostgresStoreOptions {
  /** The schema every table lives in; the search_path's first when omitted. */
  schema?: string;
  /** How long one statement may run before PostgreSQL cancels it; STATEMENT_TIMEOUT_MS when omitted. */
  statementTimeoutMs?: number;
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

  /** Migrates on one connection whose statement limit fits DDL, restored before it goes back to the pool. */
  protected override async migrating(run: (db: Kysely<Database>) => Promise<void>): Promise<void> {
    const limit = String(MIGRATION_STATEMENT_TIMEOUT_MS);
    await this.db.connection().execute(async (db) => {
      await sql`SELECT set_config('statement_timeout', ${limit}, false)`.execute(db);
      try {
        await run(db);
      } finally {
        // Back to the value the connection was opened with. This fails only on a connection that is
        // gone, which the pool drops; the migration's own error is the one worth reporting.
        await sql`RESET statement_timeout`.execute(db).catch(() => undefined);
      }
    });
  }

  /** The schema the tables go to (the search_path's first); Kysely would otherwise find another's. */
  protected override async migrationSchema(): Promise<string> {
    const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(this.db);
    return rows[0]?.schema ?? 'public';
  }

  /**
   * Connects lazily to `url`; with `schema`, every table lives in that schema (tests use one each).
   * `statementTimeoutMs` replaces STATEMENT_TIMEOUT_MS (tests shorten it).
   */
  static open(url: string, options: PostgresStoreOptions = {}): PostgresStore {
    const pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
      application_name: APPLICATION_NAME,
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
