/**
 * The SQLite runner: a child process, forked by `SqliteRunner` (sqlite-client.ts, which says why a
 * process and which file is forked), that opens one of the user's SQLite databases with better-sqlite3
 * and answers requests about it over IPC, one at a time. When the parent disconnects it closes the
 * database and exits; when the parent kills it, SQLite rolls back whatever transaction it had open on
 * the next open. Nothing here runs in the control plane's own process.
 */
import Database from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import { HISTORY_DDL, HISTORY_TABLE, type AppliedMigration } from './migrator.js';
import type { RunnerOp, RunnerReply, RunnerRequest, RunnerResults, TableCount } from './sqlite-client.js';

/** SQLite's own tables (`sqlite_sequence`, `sqlite_stat1`) are not the app's data. */
const TABLE_NAMES =
  "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
const WAL = 'wal';
/** Exit status when started by hand rather than forked by shipcheck. */
const USAGE_EXIT_CODE = 2;

type Handlers = {
  [Op in RunnerOp]: (
    request: Extract<RunnerRequest, { op: Op }>,
  ) => RunnerResults[Op] | Promise<RunnerResults[Op]>;
};

/** The database `open` opened; one per runner. */
let opened: Database.Database | undefined;

function database(): Database.Database {
  if (opened === undefined) throw new Error('no database is open in the SQLite runner');
  return opened;
}

const handlers: Handlers = {
  open({ file, readonly, busyTimeoutMs }) {
    opened = new Database(file, { readonly, fileMustExist: true, timeout: busyTimeoutMs });
    return undefined;
  },

  history() {
    const db = database();
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(HISTORY_TABLE);
    if (table === undefined) return [];
    return db
      .prepare(`SELECT id, release_id AS releaseId, applied_at AS appliedAt FROM ${HISTORY_TABLE}`)
      .all() as AppliedMigration[];
  },

  ensureHistory() {
    database().exec(HISTORY_DDL);
    return undefined;
  },

  apply({ sql, insert, row }) {
    const db = database();
    const run = db.transaction((): boolean => {
      const found = db
        .prepare(`SELECT release_id AS releaseId FROM ${HISTORY_TABLE} WHERE id = ?`)
        .get(row.id) as { releaseId: number } | undefined;
      const due = insert ? found === undefined : found !== undefined && found.releaseId === row.releaseId;
      if (!due) return false;
      db.exec(sql);
      if (!db.inTransaction) {
        throw new Error(
          'the file ended the transaction itself (COMMIT or ROLLBACK in it); remove those statements',
        );
      }
      if (insert) {
        db.prepare(`INSERT INTO ${HISTORY_TABLE} (id, release_id, applied_at) VALUES (?, ?, ?)`).run(
          row.id,
          row.releaseId,
          row.appliedAt,
        );
      } else {
        db.prepare(`DELETE FROM ${HISTORY_TABLE} WHERE id = ?`).run(row.id);
      }
      return true;
    });
    // IMMEDIATE takes the write lock before reading the history, so two migrators cannot both find a migration due.
    return run.immediate();
  },

  async copy({ to }) {
    await database().backup(to);
    return undefined;
  },

  async backup({ to }) {
    const db = database();
    const sameSnapshot = db.pragma('journal_mode', { simple: true }) === WAL;
    return inSnapshot(db, sameSnapshot, async () => {
      const tables: Record<string, number> = {};
      for (const name of tableNames(db)) tables[name] = countOf(db, name);
      // The online backup reads through this connection, so it sees the snapshot the counts saw.
      await db.backup(to);
      return { tables, sameSnapshot };
    });
  },

  count({ check }) {
    const db = database();
    // One snapshot for every count, where that blocks no writer.
    const pinned = db.pragma('journal_mode', { simple: true }) === WAL;
    return inSnapshot(db, pinned, () => {
      const tables: Record<string, TableCount> = {};
      for (const name of tableNames(db)) {
        try {
          tables[name] = countOf(db, name);
        } catch (err) {
          tables[name] = { error: errorMessage(err) };
        }
      }
      if (!check) return { tables };
      const first = db.prepare('PRAGMA quick_check(1)').pluck().get();
      return first === 'ok' ? { tables } : { tables, problem: String(first) };
    });
  },

  query({ sql, sampleRows }) {
    const statement = database().prepare(sql);
    if (!statement.reader) {
      // On a read-only connection a write fails here, with SQLite's own words.
      statement.run();
      return { columns: [], rowCount: 0, rows: [] };
    }
    statement.raw(true);
    const rows: unknown[][] = [];
    let rowCount = 0;
    for (const row of statement.iterate()) {
      if (rowCount < sampleRows) rows.push(row as unknown[]);
      rowCount++;
    }
    return { columns: statement.columns().map((column) => column.name), rowCount, rows };
  },
};

/** Runs `work` inside one read transaction when `pin` is true, else as it is; never leaves one open. */
async function inSnapshot<T>(db: Database.Database, pin: boolean, work: () => T | Promise<T>): Promise<T> {
  if (!pin) return work();
  db.exec('BEGIN');
  try {
    const result = await work();
    db.exec('COMMIT');
    return result;
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
  }
}

function tableNames(db: Database.Database): string[] {
  return db.prepare(TABLE_NAMES).pluck().all() as string[];
}

function countOf(db: Database.Database, name: string): number {
  return db
    .prepare(`SELECT count(*) FROM "${name.replace(/"/g, '""')}"`)
    .pluck()
    .get() as number;
}

async function answer(request: RunnerRequest): Promise<RunnerReply> {
  try {
    const handle = handlers[request.op] as (request: RunnerRequest) => unknown;
    return { ok: true, result: (await handle(request)) as RunnerResults[RunnerOp] };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

const send = process.send?.bind(process);
if (send === undefined) {
  console.error(
    'the SQLite runner is forked by shipcheck and takes its requests over IPC; it is not run by hand',
  );
  process.exit(USAGE_EXIT_CODE);
}
process.on('message', (request: RunnerRequest) => {
  void answer(request).then((reply) => send(reply));
});
process.on('disconnect', () => {
  if (opened?.open) opened.close();
  process.exit(0);
});
