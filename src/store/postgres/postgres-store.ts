import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';
import type { LeaseLocks } from '../types.js';
import type { Clock } from '../../util/clock.js';
import { PostgresLeaseLocks } from './lease-locks.js';

/** Connections one control plane keeps to PostgreSQL. */
const POOL_SIZE = 10;
/** How long connecting may take before the store reports PostgreSQL unreachable. */
const CONNECT_TIMEOUT_MS = 5000;
/**
 * A write lost to a dropped connection is tried again for this long (a server restart takes seconds),
 * unless the store is opened with a shorter `retryLimitMs`: with replicas, the control plane keeps
 * the whole retry budget well under the lease TTL (docs/decisions/009).
 */
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
/** PostgreSQL's `invalid_schema_name`. */
const INVALID_SCHEMA_NAME = '3F000';
/** PostgreSQL's `undefined_table`. */
const UNDEFINED_TABLE = '42P01';
/** Tries of a migration whose catalog look-up met a schema dropped under it, and the pause between. */
const CATALOG_RACE_ATTEMPTS = 8;
const CATALOG_RACE_DELAY_MS = 50;
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
  /**
   * How long a write lost to a dropped connection is tried again, from its first try; RETRY_LIMIT_MS
   * when omitted. No new try starts after it.
   */
  retryLimitMs?: number;
  /** How long connecting may take; CONNECT_TIMEOUT_MS when omitted. */
  connectTimeoutMs?: number;
}

/** The least a try may take (connecting, or one statement) when the limits come from a short lease TTL. */
const MIN_TRY_LIMIT_MS = 1000;

/**
 * The store's limits for replicas whose leases last `leaseTtlMs` (docs/decisions/009): no new try of
 * a write starts a third of the TTL after its first, and connecting or one statement may take at most
 * a third of the TTL (at least MIN_TRY_LIMIT_MS), so a write and all its retries end within two
 * thirds of the TTL (for a TTL of 3 s or more): a holder never keeps writing past the point where
 * another replica may have taken its lease over.
 */
export function leaseBoundLimits(leaseTtlMs: number): Required<Omit<PostgresStoreOptions, 'schema'>> {
  const third = Math.floor(leaseTtlMs / 3);
  const perTry = Math.max(MIN_TRY_LIMIT_MS, third);
  return {
    retryLimitMs: Math.min(RETRY_LIMIT_MS, third),
    connectTimeoutMs: Math.min(CONNECT_TIMEOUT_MS, perTry),
    statementTimeoutMs: Math.min(STATEMENT_TIMEOUT_MS, perTry),
  };
}

/** The store shared by several control-plane replicas: PostgreSQL through the same portable SQL. */
export class PostgresStore extends KyselyStore {
  private locks: LeaseLocks | undefined;

  private constructor(
    db: Kysely<Database>,
    private readonly url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    super(db, 'postgres');
  }

  /** The replica's session locks beside its lease rows, on a connection outside the pool. */
  openLeaseLocks(clock: Clock): LeaseLocks {
    this.locks ??= new PostgresLeaseLocks({ url: this.url, schema: this.options.schema, clock });
    return this.locks;
  }

  override async close(): Promise<void> {
    await this.locks?.close();
    await super.close();
  }

  /**
   * Retries a write on a new connection when the old one was dropped (pg_terminate_backend, a server
   * restart), so the control plane rides out a restart without losing a transition or an event.
   */
  protected override async retrying<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.options.retryLimitMs ?? RETRY_LIMIT_MS);
    for (let delay = RETRY_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, RETRY_MAX_DELAY_MS)) {
      try {
        return await write();
      } catch (err) {
        if (!isConnectionError(err) || Date.now() + delay > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * Migrates on one connection whose statement limit fits DDL, restored before it goes back to the pool.
   * Kysely's migrator looks for its table through the catalog of every schema in the database; a schema
   * another installation (or test) drops at that moment fails the look-up with an error naming that
   * schema. Nothing of ours changed, so the migration is tried again.
   */
  protected override async migrating(run: (db: Kysely<Database>) => Promise<void>): Promise<void> {
    const limit = String(MIGRATION_STATEMENT_TIMEOUT_MS);
    await this.db.connection().execute(async (db) => {
      await sql`SELECT set_config('statement_timeout', ${limit}, false)`.execute(db);
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await run(db);
            return;
          } catch (err) {
            if (attempt >= CATALOG_RACE_ATTEMPTS || !this.isOthersSchemaGone(err)) throw err;
            await new Promise((resolve) => setTimeout(resolve, CATALOG_RACE_DELAY_MS * attempt));
          }
        }
      } finally {
        // Back to the value the connection was opened with. This fails only on a connection that is
        // gone, which the pool drops; the migration's own error is the one worth reporting.
        await sql`RESET statement_timeout`.execute(db).catch(() => undefined);
      }
    });
  }

  /**
   * True when the catalog look-up met another schema's objects going away: `invalid_schema_name` naming
   * a schema, or `undefined_table` naming a table of a schema, that is not this store's.
   */
  private isOthersSchemaGone(err: unknown): boolean {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (typeof message !== 'string') return false;
    const named =
      code === INVALID_SCHEMA_NAME
        ? /schema "([^"]+)"/.exec(message)?.[1]
        : code === UNDEFINED_TABLE
          ? /relation "([^".]+)\.[^"]+"/.exec(message)?.[1]
          : undefined;
    return named !== undefined && named !== this.options.schema;
  }

  /** The schema the tables go to (the search_path's first); Kysely would otherwise find another's. */
  protected override async migrationSchema(): Promise<string> {
    const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(this.db);
    return rows[0]?.schema ?? 'public';
  }

  /**
   * Connects lazily to `url`; with `schema`, every table lives in that schema (tests use one each).
   * `statementTimeoutMs` replaces STATEMENT_TIMEOUT_MS (tests shorten it); see leaseBoundLimits for
   * the limits replicas use.
   */
  static open(url: string, options: PostgresStoreOptions = {}): PostgresStore {
    const pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
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
    return new PostgresStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), url, options);
  }
}
