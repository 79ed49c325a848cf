/**
 * The migrator's session on PostgreSQL: node-postgres on one connection. A write session holds an
 * advisory lock so two migrators never interleave; a stop asks the server to cancel the running
 * statement, so its transaction rolls back there rather than running on.
 */
import pg from 'pg';
import { errorMessage, InputError, ProviderError } from '../errors.js';
import { redactUrl } from '../util/redact.js';
import {
  CONNECT_TIMEOUT_MS,
  stoppable,
  Stopped,
  type HistoryChange,
  type Session,
} from './migration-session.js';
import { HISTORY_DDL, HISTORY_TABLE, type AppliedMigration } from './migrator.js';

/** A PostgreSQL connection; a write session holds an advisory lock so two migrators never interleave. */
export class PostgresSession implements Session {
  private constructor(
    private readonly client: pg.Client,
    private readonly url: string,
    private readonly pid: number | undefined,
    private readonly signal: AbortSignal,
  ) {}

  static async open(url: string, signal: AbortSignal, options: { write: boolean }): Promise<PostgresSession> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // A connection lost mid-query fails that query; that is where it is reported.
    client.on('error', () => {});
    try {
      await stoppable(client.connect(), signal, () => void client.end().catch(() => undefined));
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const session = new PostgresSession(client, url, pid, signal);
      if (options.write) {
        await session.run(client.query('SELECT pg_advisory_lock(hashtext($1))', [HISTORY_TABLE]));
      }
      return session;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (err instanceof Stopped) throw err;
      throw new ProviderError(`cannot connect to ${redactUrl(url)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async history(): Promise<AppliedMigration[]> {
    const present = await this.run(
      this.client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
        HISTORY_TABLE,
      ]),
    );
    if (present.rows[0]?.present !== true) return [];
    const rows = await this.run(
      this.client.query<{ id: string; release_id: number; applied_at: string }>(
        `SELECT id, release_id, applied_at FROM ${HISTORY_TABLE}`,
      ),
    );
    return rows.rows.map((row) => ({
      id: row.id,
      releaseId: row.release_id,
      appliedAt: Number(row.applied_at),
    }));
  }

  async ensureHistory(): Promise<void> {
    await this.run(this.client.query(HISTORY_DDL));
  }

  async apply(sql: string, change: HistoryChange): Promise<boolean> {
    return this.run(this.transaction(sql, change));
  }

  async close(): Promise<void> {
    const ending = this.client.end().catch(() => undefined);
    // After a stop the socket may not answer; end() closes it in the background.
    if (!this.signal.aborted) await ending;
  }

  private async transaction(sql: string, change: HistoryChange): Promise<boolean> {
    const client = this.client;
    const row = 'insert' in change ? change.insert : change.remove;
    await client.query('BEGIN');
    try {
      const found = await client.query<{ release_id: number }>(
        `SELECT release_id FROM ${HISTORY_TABLE} WHERE id = $1`,
        [row.id],
      );
      const existing = found.rows[0];
      const due = 'insert' in change ? existing === undefined : existing?.release_id === row.releaseId;
      if (!due) {
        await client.query('ROLLBACK');
        return false;
      }
      try {
        await client.query(sql);
      } catch (err) {
        throw new InputError(describePostgresError(err, sql), { cause: err });
      }
      if (client.getTransactionStatus() === 'I') {
        throw new InputError(
          'the file ended the transaction itself (COMMIT or ROLLBACK in it); remove those statements',
        );
      }
      if ('insert' in change) {
        await client.query(`INSERT INTO ${HISTORY_TABLE} (id, release_id, applied_at) VALUES ($1, $2, $3)`, [
          row.id,
          row.releaseId,
          row.appliedAt,
        ]);
      } else {
        await client.query(`DELETE FROM ${HISTORY_TABLE} WHERE id = $1`, [row.id]);
      }
      if (this.signal.aborted) throw new Stopped();
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private run<T>(work: Promise<T>): Promise<T> {
    return stoppable(work, this.signal, () => cancelBackend(this.url, this.pid));
  }
}

/** Asks the server to cancel the statement `pid` is running; best effort, never throws. */
export function cancelBackend(url: string, pid: number | undefined): void {
  if (pid === undefined) return;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => {});
  void client
    .connect()
    .then(() => client.query('SELECT pg_cancel_backend($1)', [pid]))
    .catch(() => undefined)
    .finally(() => client.end().catch(() => undefined));
}

/** The database's error, with the line of the file it points at when PostgreSQL gives a position. */
function describePostgresError(err: unknown, sql: string): string {
  const position = Number((err as { position?: unknown }).position);
  const text = errorMessage(err);
  if (!Number.isInteger(position) || position < 1) return text;
  const line = sql.slice(0, position - 1).split('\n').length;
  return `line ${line}: ${text}`;
}
