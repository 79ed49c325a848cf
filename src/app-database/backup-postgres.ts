/**
 * Backups on PostgreSQL: pg_dump from one exported snapshot with the row counts taken in it, exact
 * counts of a database, and the scratch database a restore check restores into.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import pg from 'pg';
import { errorMessage, ProviderError } from '../errors.js';
import { databaseOf, forLibpq, libpqEnv, withDatabase } from '../util/postgres-url.js';
import { redactUrl } from '../util/redact.js';
import { abortable } from './abortable.js';
import {
  BackupStopped,
  freeName,
  partialPath,
  publish,
  safeName,
  timestamp,
  type Backup,
} from './backup-folder.js';
import { exitText, findPgTool, quote, runProgram } from './backup-programs.js';
import { createEmptyDatabase, dropDatabase } from './postgres-admin.js';

const PG_DUMP_EXTENSION = '.dump';
/** Name prefix of the databases restore checks create; each is dropped when its check ends. */
export const SCRATCH_DATABASE_PREFIX = 'shipcheck_restore_';
const RANDOM_BYTES = 6;
const CONNECT_TIMEOUT_MS = 10_000;

/** Dumps `url` into `dir` with pg_dump (custom format), with counts from the snapshot the dump reads. */
export async function postgresBackup(
  url: string,
  dir: string,
  at: number,
  signal: AbortSignal,
): Promise<Backup> {
  const pgDump = await findPgTool('pg_dump');
  const target = await freeName(dir, `${safeName(databaseOf(url))}-${timestamp(at)}`, PG_DUMP_EXTENSION);
  const partial = partialPath(target);
  const client = await connect(url, signal);
  try {
    // One read-only snapshot for the counts, handed to pg_dump, so counts and dump show the same data.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let snapshot: string | undefined;
    try {
      const result = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      snapshot = result.rows[0]?.id;
    } catch {
      // Some servers and poolers cannot export snapshots; then the counts are taken just before the dump.
      await client.query('ROLLBACK');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    }
    const tables = await abortable(countPostgresTables(client), signal, stopped);
    const { uri: bare, password } = forLibpq(url);
    const args = ['--format=custom', `--file=${partial}`, ...(snapshot ? [`--snapshot=${snapshot}`] : [])];
    // The URL goes in argv without its password, which travels in the environment instead.
    const ending = await runProgram(pgDump, [...args, `--dbname=${bare}`], {
      cwd: dir,
      env: libpqEnv(password),
      signal,
    });
    if (ending.stopped) throw new BackupStopped('backup stopped');
    if (ending.code !== 0)
      throw new ProviderError(`pg_dump failed (${exitText(ending)})${quote(ending.output)}`);
    await client.query('COMMIT');
    return await publish(partial, target, { at, sameSnapshot: snapshot !== undefined, tables });
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  } finally {
    await endClient(client, signal);
  }
}

/** Exact per-table row counts of the database at `url`, from one read-only snapshot. */
export async function countPostgresUrl(url: string, signal: AbortSignal): Promise<Record<string, number>> {
  const client = await connect(url, signal);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const counts = await abortable(countPostgresTables(client), signal, stopped);
    await client.query('COMMIT');
    return counts;
  } finally {
    await endClient(client, signal);
  }
}

/** count(*) of every ordinary table of every non-system schema, as `schema.table`; exact, so a full scan each. */
async function countPostgresTables(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      ORDER BY 1, 2`,
  );
  const counts: Record<string, number> = {};
  for (const { schema, name } of rows) {
    const result = await client.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`,
    );
    counts[`${schema}.${name}`] = Number(result.rows[0]?.count ?? 0);
  }
  return counts;
}

/** Runs `work` with a fresh, empty database on the server of `url`, and drops it afterwards whatever happens. */
export async function withScratchDatabase<T>(
  url: string,
  signal: AbortSignal,
  work: (scratchUrl: string, scratchName: string) => Promise<T>,
): Promise<T> {
  const name = `${SCRATCH_DATABASE_PREFIX}${crypto.randomBytes(RANDOM_BYTES).toString('hex')}`;
  const admin = await connect(url, signal);
  try {
    // Like the database `admin` is connected to: the source's encoding and locale.
    await createEmptyDatabase(admin, name, undefined);
  } catch (err) {
    throw new ProviderError(`cannot create a scratch database on ${redactUrl(url)}: ${errorMessage(err)}`, {
      cause: err,
    });
  } finally {
    await admin.end().catch(() => undefined);
  }
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await work(withDatabase(url, name), name) };
  } catch (err) {
    outcome = { error: err };
  }
  await dropScratchDatabase(url, name);
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/** Drops a scratch database, ending the sessions a killed pg_restore may have left behind. */
async function dropScratchDatabase(url: string, name: string): Promise<void> {
  // Not tied to the caller's signal: the drop must happen precisely when the check was stopped.
  const client = await connect(url, new AbortController().signal).catch((err: unknown) => {
    throw new ProviderError(`cannot drop scratch database ${name}: ${errorMessage(err)}; drop it by hand`);
  });
  try {
    await dropDatabase(client, name);
  } catch (err) {
    throw new ProviderError(`cannot drop scratch database ${name}: ${errorMessage(err)}; drop it by hand`, {
      cause: err,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A connected client of `url`; a stop while connecting is BackupStopped, any other failure a ProviderError. */
async function connect(url: string, signal: AbortSignal): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A lost connection also fails the pending query; that is where it is reported.
  client.on('error', () => {});
  try {
    await abortable(client.connect(), signal, stopped);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof BackupStopped) throw err;
    throw new ProviderError(`cannot connect to ${redactUrl(url)}: ${errorMessage(err)}`, { cause: err });
  }
}

async function endClient(client: pg.Client, signal: AbortSignal): Promise<void> {
  const ending = client.end().catch(() => undefined);
  // After a stop, a query may still be running; the socket closes in the background rather than wait for it.
  if (!signal.aborted) await ending;
}

function stopped(): BackupStopped {
  return new BackupStopped('stopped');
}
