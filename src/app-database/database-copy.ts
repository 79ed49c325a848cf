/**
 * The copy a migration rehearsal runs on: SQLite's online backup into a temporary folder, or a
 * PostgreSQL database made with CREATE DATABASE ... TEMPLATE (pg_dump | psql when the source is in
 * use); and its removal, which must happen even after the rehearsal was stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { errorMessage, InputError, ProviderError } from '../errors.js';
import { forLibpq, libpqEnv, namedDatabase, withDatabase } from '../util/postgres-url.js';
import { redactUrl } from '../util/redact.js';
import type { DatabaseTarget } from './database-target.js';
import { CONNECT_TIMEOUT_MS, stoppable, Stopped } from './migration-session.js';
import { outputTail } from './migrator.js';
import { createEmptyDatabase, dropDatabase, sqlState } from './postgres-admin.js';
import { cancelBackend } from './postgres-session.js';
import { SqliteSession } from './sqlite-session.js';

/** Dropping a rehearsal copy gets its own time: it must happen even after the rehearsal was stopped. */
const DROP_TIMEOUT_MS = 30_000;
const REHEARSAL_DATABASE_PREFIX = 'shipcheck_rehearsal_';
const REHEARSAL_NAME_BYTES = 6;
/** PostgreSQL databases to connect to for CREATE/DROP DATABASE, in order of preference. */
const MAINTENANCE_DATABASES = ['postgres', 'template1'];
/** SQLSTATE: the source database has other sessions, so it cannot be a TEMPLATE. */
const OBJECT_IN_USE = '55006';
/** SQLSTATE: the database named in the URL does not exist. */
const INVALID_CATALOG_NAME = '3D000';
/** SQLSTATE: not allowed, e.g. copying a database one does not own. */
const INSUFFICIENT_PRIVILEGE = '42501';
/** Bytes of a tool's stderr kept for its error message: the end, where tools say what failed. */
const OUTPUT_TAIL_BYTES = 4096;

/** A database copied for a rehearsal, and how to get rid of it. */
export interface DatabaseCopy {
  target: DatabaseTarget;
  /** The copy as a person finds it: a database name or a file path. */
  name: string;
  description: string;
  /** Removes the copy; runs on its own timeout, not the rehearsal's signal. */
  drop(): Promise<void>;
}

/** Copies `source` for a rehearsal; `show` writes a path as a person finds it (relative to the config folder). */
export async function copyDatabase(
  source: DatabaseTarget,
  signal: AbortSignal,
  timeoutMs: number,
  show: (file: string) => string,
): Promise<DatabaseCopy> {
  if (source.kind === 'sqlite') {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipcheck-rehearsal-'));
    const file = path.join(dir, path.basename(source.file));
    const drop = () => fs.rm(dir, { recursive: true, force: true });
    try {
      const session = await SqliteSession.open(source.file, signal, { write: false, timeoutMs });
      try {
        await session.backup(file);
      } finally {
        await session.close();
      }
    } catch (err) {
      await drop();
      throw err;
    }
    return {
      target: { kind: 'sqlite', file },
      name: file,
      description: `${show(source.file)} backed up to ${file}`,
      drop,
    };
  }
  return copyPostgres(source.url, signal);
}

/** Copies a PostgreSQL database with CREATE DATABASE ... TEMPLATE, or pg_dump | psql when it is in use. */
async function copyPostgres(url: string, signal: AbortSignal): Promise<DatabaseCopy> {
  const source = databaseName(url);
  const name = `${REHEARSAL_DATABASE_PREFIX}${crypto.randomBytes(REHEARSAL_NAME_BYTES).toString('hex')}`;
  const target: DatabaseTarget = { kind: 'postgres', url: withDatabase(url, name) };
  const drop = () => dropCopy(url, name);
  try {
    const description = await fillCopy(url, source, name, target.url, signal);
    return { target, name, description, drop };
  } catch (err) {
    // A stop can land just after the server created the copy; dropping what may not exist is harmless.
    await drop().catch(() => undefined);
    throw err;
  }
}

/** Creates database `name` as a copy of `source`; resolves with how it was made. */
async function fillCopy(
  url: string,
  source: string,
  name: string,
  targetUrl: string,
  signal: AbortSignal,
): Promise<string> {
  try {
    await withMaintenanceClient(url, signal, (client) =>
      client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(source)}`),
    );
    return `created ${name} from ${source} with CREATE DATABASE ... TEMPLATE`;
  } catch (err) {
    const code = sqlState(err);
    const inUse = code === OBJECT_IN_USE;
    // Only the owner or a superuser may copy a database that is not marked as a template.
    const notOwner = code === INSUFFICIENT_PRIVILEGE && /copy database/i.test(errorMessage(err));
    if (!inUse && !notOwner)
      throw new ProviderError(`cannot create ${name}: ${errorMessage(err)}`, { cause: err });
    const why = inUse ? `${source} has other connections, which TEMPLATE does not allow` : errorMessage(err);
    try {
      await withMaintenanceClient(url, signal, (client) => createEmptyDatabase(client, name, source));
    } catch (createErr) {
      throw new ProviderError(`cannot create ${name} (${why}): ${errorMessage(createErr)}`, {
        cause: createErr,
      });
    }
    try {
      await dumpAndRestore(url, targetUrl, signal);
    } catch (copyErr) {
      throw new ProviderError(
        `cannot copy ${source} into ${name}: ${why}, and pg_dump | psql failed: ${errorMessage(copyErr)}`,
        {
          cause: copyErr,
        },
      );
    }
    return `created ${name} and copied ${source} into it with pg_dump | psql (${why})`;
  }
}

/** Drops a rehearsal database, closing whatever connections are left on it. */
async function dropCopy(url: string, name: string): Promise<void> {
  const signal = AbortSignal.timeout(DROP_TIMEOUT_MS);
  await withMaintenanceClient(url, signal, (client) => dropDatabase(client, name));
}

/** Runs `work` on a connection to the server's maintenance database: CREATE and DROP DATABASE cannot run on their target. */
async function withMaintenanceClient<T>(
  url: string,
  signal: AbortSignal,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  let lastError: unknown;
  for (const database of MAINTENANCE_DATABASES) {
    const client = new pg.Client({
      connectionString: withDatabase(url, database),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    client.on('error', () => {});
    let pid: number | undefined;
    try {
      await stoppable(client.connect(), signal, () => void client.end().catch(() => undefined));
      pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    } catch (err) {
      await client.end().catch(() => undefined);
      lastError = err;
      if (sqlState(err) === INVALID_CATALOG_NAME) continue;
      throw err;
    }
    try {
      return await stoppable(work(client), signal, () => cancelBackend(withDatabase(url, database), pid));
    } finally {
      const ending = client.end().catch(() => undefined);
      if (!signal.aborted) await ending;
    }
  }
  throw lastError;
}

/** Pipes pg_dump of `sourceUrl` into psql on `targetUrl`; passwords travel in PGPASSWORD, not in argv. */
async function dumpAndRestore(sourceUrl: string, targetUrl: string, signal: AbortSignal): Promise<void> {
  const source = forLibpq(sourceUrl);
  const target = forLibpq(targetUrl);
  const dump = spawn('pg_dump', ['--dbname', source.uri], {
    env: libpqEnv(source.password),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const restore = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--dbname', target.uri], {
    env: libpqEnv(target.password),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  // psql exiting early breaks the pipe; its exit status says why.
  restore.stdin?.on('error', () => {});
  dump.stdout?.pipe(restore.stdin!);
  const kill = () => {
    dump.kill('SIGKILL');
    restore.kill('SIGKILL');
  };
  signal.addEventListener('abort', kill, { once: true });
  try {
    const [dumped, restored] = await Promise.all([finished(dump), finished(restore)]);
    if (signal.aborted) throw new Stopped();
    if (dumped !== undefined) throw new ProviderError(`pg_dump ${dumped}`);
    if (restored !== undefined) throw new ProviderError(`psql ${restored}`);
  } finally {
    signal.removeEventListener('abort', kill);
  }
}

/** Resolves with undefined when the process exits 0, else with why it did not (never rejects). */
function finished(child: ChildProcess): Promise<string | undefined> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
  });
  return new Promise((resolve) => {
    child.once('error', (err) => {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      resolve(missing ? 'is not installed (not found on PATH)' : `cannot start: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const tail = outputTail(stderr);
      resolve(`exited ${code ?? signal}${tail === '' ? '' : `: ${tail}`}`);
    });
  });
}

/** The database `url` names, which a copy needs: libpq's default (the user's name) is not assumed. */
function databaseName(url: string): string {
  const name = namedDatabase(url);
  if (name === undefined) throw new InputError(`${redactUrl(url)} names no database to copy`);
  return name;
}
