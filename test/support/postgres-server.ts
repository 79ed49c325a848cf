/**
 * A PostgreSQL server of a test's own, from Debian's server binaries (/usr/lib/postgresql/N/bin):
 * for settings the shared server at SHIPCHECK_TEST_PG lacks, such as shared_preload_libraries.
 * root cannot run postgres, so as root the server runs as the `postgres` user through runuser. Its
 * data folder, socket and log live in one temp folder; stop() ends it by its pid and removes them.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../src/util/net.js';

const run = promisify(execFile);
/** Where Debian's postgresql-N packages put the server binaries. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;
/** The user that runs the server when the tests run as root. */
const SERVER_USER = 'postgres';

/** A running server of the test's own. */
export interface PostgresServer {
  port: number;
  /** The postmaster's pid. */
  pid: number;
  /** URL of `database` on it (default `postgres`), as the superuser `postgres` without a password. */
  url(database?: string): string;
  /** Ends the server by its pid (fast shutdown, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

/** The folder holding initdb and postgres (the newest installed version), or undefined. */
export function findPostgresBin(): string | undefined {
  let versions: string[];
  try {
    versions = fs.readdirSync(DEBIAN_PG_ROOT);
  } catch {
    return undefined;
  }
  return versions
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(DEBIAN_PG_ROOT, v, 'bin'))
    .find((dir) => fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'postgres')));
}

/** Why a server of the test's own cannot be started here, or undefined when it can. */
export function postgresServerMissing(): string | undefined {
  if (findPostgresBin() === undefined)
    return `PostgreSQL's server binaries are not in ${DEBIAN_PG_ROOT}/N/bin (Debian: apt-get install -y postgresql-15)`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', SERVER_USER], { stdio: 'ignore' });
    } catch {
      return `running as root, and there is no "${SERVER_USER}" user to run PostgreSQL as`;
    }
  }
  return undefined;
}

/**
 * Starts a server on a free port of 127.0.0.1 with `settings` (`-c name=value`), e.g.
 * `{ shared_preload_libraries: 'pg_stat_statements' }`. Throws when it does not start.
 */
export async function startPostgresServer(settings: Record<string, string> = {}): Promise<PostgresServer> {
  const bin = findPostgresBin();
  if (bin === undefined) throw new Error(postgresServerMissing());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-pg-'));
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'socket');
  fs.mkdirSync(socketDir);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', SERVER_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', SERVER_USER], { encoding: 'utf8' }).trim());
    fs.chownSync(dir, uid, gid);
    fs.chownSync(socketDir, uid, gid);
  }
  const argv = (file: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', SERVER_USER, '--', file, ...args]] : [file, args];

  const cleanup = (): void => fs.rmSync(dir, { recursive: true, force: true });
  try {
    // --no-sync: a test's data need not survive a power cut, and fsync is what makes initdb slow.
    await run(
      ...argv(path.join(bin, 'initdb'), [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--no-sync',
      ]),
    );
  } catch (err) {
    cleanup();
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }

  const port = await freePort();
  const options: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '20',
    ...settings,
  };
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(options)) args.push('-c', `${name}=${value}`);
  const [file, fileArgs] = argv(path.join(bin, 'postgres'), args);
  const child: ChildProcess = spawn(file, fileArgs, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));

  const url = (database = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  let pid: number | undefined;
  const stop = async (): Promise<void> => {
    const target = pid ?? postmasterPid();
    if (target !== undefined) {
      signal(target, 'SIGINT'); // fast shutdown: ends sessions, then the server
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (alive(target) && Date.now() < deadline) await sleep(POLL_MS);
      if (alive(target)) signal(target, 'SIGKILL');
    }
    // runuser, when it wraps the server, ends once the server has; the group is ours either way.
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    cleanup();
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      cleanup();
      throw new Error(`postgres exited: ${log.trim()}`);
    }
    if (await answers(url())) {
      pid = postmasterPid();
      if (pid !== undefined) return { port, pid, url, stop };
    }
    await sleep(POLL_MS);
  }
  await stop();
  throw new Error(`postgres did not answer within ${START_TIMEOUT_MS / 1000}s: ${log.trim()}`);
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
