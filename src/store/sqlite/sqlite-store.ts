import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type SqliteDatabase, SqliteDialect, sql } from 'kysely';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';

/** How long a writer waits on a lock held by another connection before failing. */
const BUSY_TIMEOUT_MS = 5000;
/** Prepared statements kept for reuse; the store's queries are a few dozen distinct texts. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * better-sqlite3 behind Kysely, with each query text prepared once. Kysely's SQLite driver prepares
 * every statement again on every query; with a reconcile pass per unit five times a second, that
 * preparing was a quarter of the control plane's CPU.
 */
function cachingDatabase(raw: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(text) {
      const cached = statements.get(text);
      // A statement still being iterated cannot run again; such a query gets one of its own.
      if (cached && !cached.busy) return cached;
      const statement = raw.prepare(text);
      if (!cached) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(text, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      raw.close();
    },
  };
}

/** The embedded store: one SQLite file in WAL mode, synced to disk on every release transition. */
export class SqliteStore extends KyselyStore {
  private constructor(
    db: Kysely<Database>,
    private readonly raw: BetterSqlite3.Database,
  ) {
    super(db, 'sqlite');
  }

  /** Opens (creating folders as needed) the database file at `file`, or `:memory:`. */
  static open(file: string): SqliteStore {
    if (file !== ':memory:') {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // The state holds password hashes and the audit log: the owner's only. SQLite gives its -wal
      // and -shm files the database file's mode.
      fs.closeSync(fs.openSync(file, 'a', 0o600));
      fs.chmodSync(file, 0o600);
    }
    const raw = new BetterSqlite3(file);
    raw.pragma('journal_mode = WAL');
    // NORMAL in WAL survives a process crash; transitions switch to FULL to survive power loss too.
    raw.pragma('synchronous = NORMAL');
    raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingDatabase(raw) }) });
    return new SqliteStore(db, raw);
  }

  protected override async durably<T>(write: () => Promise<T>): Promise<T> {
    await sql`PRAGMA synchronous = FULL`.execute(this.db);
    try {
      return await super.durably(write);
    } finally {
      await sql`PRAGMA synchronous = NORMAL`.execute(this.db);
    }
  }

  /** The underlying file handle is closed by Kysely; kept for diagnostics. */
  get filename(): string {
    return this.raw.name;
  }
}
