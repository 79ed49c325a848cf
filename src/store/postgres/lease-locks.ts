/**
 * One replica's session locks beside its lease rows (docs/decisions/009): session-level advisory
 * locks on a connection of their own, outside the pool, so that no pool hands the lock's connection
 * to other work or replaces it behind the holder's back. PostgreSQL lets a session's locks go the
 * moment the session ends (kill -9 of the process, pg_terminate_backend, the server noticing a dead
 * peer), which is what lets another replica see that a holder is gone without waiting for its lease
 * to expire.
 *
 * A heartbeat (`SELECT 1`) runs on the connection every HEARTBEAT_MS and stamps when the last one
 * that succeeded began; a holder acts only while that stamp is recent (see engine/lease.ts). The
 * session asks the server to end it after SERVER_IDLE_LIMIT_MS without a heartbeat, and to probe
 * the peer with TCP keepalives, so that the locks of a replica cut off from the database are let go
 * within seconds rather than when the operating system's keepalive gives up, hours later.
 */
import pg from 'pg';
import type { LeaseLocks } from '../types.js';
import type { Clock } from '../../util/clock.js';

/** How often the session proves itself alive. */
export const HEARTBEAT_MS = 150;
/** The server ends the session when it has heard nothing from it for this long (PostgreSQL 14 and later). */
export const SERVER_IDLE_LIMIT_MS = 3000;
/** The server's TCP keepalive on the session: first probe after this idle time, then this often, this many times. */
const SERVER_KEEPALIVE = { idleS: 1, intervalS: 1, count: 2 };
/** The client's TCP keepalive starts probing after this idle time. */
const CLIENT_KEEPALIVE_DELAY_MS = 1000;
/** Connecting may take this long before the session counts as unreachable. */
const CONNECT_TIMEOUT_MS = 2000;
/** No statement of the session does more than take a lock that is never waited for. */
const STATEMENT_TIMEOUT_MS = 1000;
/** A connection attempt that failed is not tried again sooner than this. */
const RECONNECT_DELAY_MS = 500;
/** How the session shows in pg_stat_activity, unless the URL names another application. */
const APPLICATION_NAME = 'shipcheck-lease';
/**
 * The advisory lock of a unit: two 32-bit keys, one for shipcheck's leases in this schema (so stores
 * in other schemas of the same database, and the application's own one-key locks, never meet it) and
 * one for the unit's name. Two units whose names hash alike only lose the quick takeover: a holder
 * that cannot take its lock keeps the lease on its TTL alone.
 */
const LOCK_KEYS = `hashtext('shipcheck lease ' || current_schema()), hashtext($1)`;

/** What the session connects with: the store's URL, and its schema when the store has one. */
export interface LeaseLocksOptions {
  url: string;
  schema?: string;
  clock: Clock;
}

/** Advisory locks on one dedicated PostgreSQL session, with its heartbeat. */
export class PostgresLeaseLocks implements LeaseLocks {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client | undefined> | undefined;
  private retryAt = Number.NEGATIVE_INFINITY;
  private readonly held = new Set<string>();
  /** Locks being taken now, so that two asks never take one lock twice (advisory locks count). */
  private readonly taking = new Map<string, Promise<boolean>>();
  /** When the last heartbeat (or lock) that the session answered began. */
  private provenAt = Number.NEGATIVE_INFINITY;
  private beating: Promise<boolean> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: LeaseLocksOptions) {
    this.timer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  holds(name: string, since: number): boolean {
    return this.client !== undefined && this.held.has(name) && this.provenAt >= since;
  }

  async lock(name: string): Promise<boolean> {
    if (this.client !== undefined && this.held.has(name)) return true;
    const pending = this.taking.get(name);
    if (pending) return pending;
    const taking = this.take(name).finally(() => this.taking.delete(name));
    this.taking.set(name, taking);
    return taking;
  }

  async unlock(name: string): Promise<void> {
    const client = this.client;
    if (!client || !this.held.delete(name)) return;
    await client.query(`SELECT pg_advisory_unlock(${LOCK_KEYS})`, [name]).catch((err: unknown) => {
      // A session that cannot unlock is not to be trusted with its other locks either.
      this.drop(client, err);
    });
  }

  /** Runs a heartbeat that begins now; true when the session answered it within `timeoutMs`. */
  async prove(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([this.heartbeatFrom(this.options.clock.now()), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A heartbeat that began at or after `since`. One already running may have begun before, and its
   * answer proves only that older time: then a second one follows it.
   */
  private async heartbeatFrom(since: number): Promise<boolean> {
    if (!(await this.heartbeat())) return false;
    return this.provenAt >= since || this.heartbeat();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const client = this.client ?? (await this.connecting);
    this.forget(client);
    await client?.end().catch(() => undefined);
  }

  private async take(name: string): Promise<boolean> {
    const client = await this.session();
    if (!client) return false;
    const began = this.options.clock.now();
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        `SELECT pg_try_advisory_lock(${LOCK_KEYS}) AS locked`,
        [name],
      );
      // The session ended while the lock was being taken: the server let it go with the session.
      if (client !== this.client) return false;
      this.provenAt = Math.max(this.provenAt, began);
      if (rows[0]?.locked !== true) return false;
      this.held.add(name);
      return true;
    } catch (err) {
      this.drop(client, err);
      return false;
    }
  }

  /** The heartbeat: one `SELECT 1` at a time; a late answer proves nothing newer than when it began. */
  private heartbeat(): Promise<boolean> {
    const client = this.client;
    if (!client) return Promise.resolve(false);
    this.beating ??= (async () => {
      const began = this.options.clock.now();
      try {
        await client.query('SELECT 1');
        if (client !== this.client) return false;
        this.provenAt = Math.max(this.provenAt, began);
        return true;
      } catch (err) {
        this.drop(client, err);
        return false;
      } finally {
        this.beating = undefined;
      }
    })();
    return this.beating;
  }

  private async session(): Promise<pg.Client | undefined> {
    if (this.client) return this.client;
    if (this.closed || Date.now() < this.retryAt) return undefined;
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<pg.Client | undefined> {
    const { url, schema, clock } = this.options;
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: CLIENT_KEEPALIVE_DELAY_MS,
      application_name: APPLICATION_NAME,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // Errors and the end of the session drop every lock at once: the holder stops acting at its
    // next look, without waiting for a heartbeat to fail.
    client.on('error', (err) => this.drop(client, err));
    client.on('end', () => this.drop(client, undefined));
    const began = clock.now();
    try {
      await client.connect();
      await this.limitIdleness(client);
    } catch {
      this.retryAt = Date.now() + RECONNECT_DELAY_MS;
      await client.end().catch(() => undefined);
      return undefined;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return undefined;
    }
    this.client = client;
    this.provenAt = began;
    return client;
  }

  /**
   * Asks the server to end the session soon after it stops hearing from it. Each setting is tried on
   * its own: a server older than PostgreSQL 14 has no idle_session_timeout, and keepalive settings
   * mean nothing on a Unix socket.
   */
  private async limitIdleness(client: pg.Client): Promise<void> {
    const settings: [string, number][] = [
      ['idle_session_timeout', SERVER_IDLE_LIMIT_MS],
      ['tcp_keepalives_idle', SERVER_KEEPALIVE.idleS],
      ['tcp_keepalives_interval', SERVER_KEEPALIVE.intervalS],
      ['tcp_keepalives_count', SERVER_KEEPALIVE.count],
    ];
    for (const [name, value] of settings) {
      await client.query('SELECT set_config($1, $2, false)', [name, String(value)]).catch(() => undefined);
    }
  }

  /** The session erred or ended: every lock is gone with it, and a new session starts on the next lock. */
  private drop(client: pg.Client, _err: unknown): void {
    if (client !== this.client) return;
    this.forget(client);
    // The socket may hang on a cut network; end() would wait for an answer that never comes.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }

  private forget(client: pg.Client | undefined): void {
    if (client !== undefined && client === this.client) this.client = undefined;
    this.held.clear();
    this.provenAt = Number.NEGATIVE_INFINITY;
  }
}
