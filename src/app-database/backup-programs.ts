/**
 * Running the programs a backup or a restore needs (pg_dump, pg_restore, the user's commands), each
 * in its own process group, and finding PostgreSQL's client programs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ProviderError } from '../errors.js';
import { signalChildGroup } from '../util/process-group.js';
import { BackupStopped } from './backup-folder.js';

/** Where Debian and Ubuntu install the versioned PostgreSQL client programs. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
const PG_CLIENT_HINT = 'apt-get install postgresql-client';
/** Time a stopped program gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;
/** After a program exits, how long a background child holding its output pipes may keep them open. */
const OUTPUT_GRACE_MS = 1000;
/** Characters of a program's output kept to explain its failure. */
const OUTPUT_TAIL_CHARS = 4096;
/** Longest line of a program's output quoted in a summary. */
const QUOTED_LINE_CHARS = 200;

/**
 * The path of a PostgreSQL client program (`pg_dump`, `pg_restore`): on `searchPath`, else the newest
 * version under `debianRoot`. Throws `ProviderError` naming the package to install.
 */
export async function findPgTool(
  name: string,
  searchPath: string = process.env.PATH ?? '',
  debianRoot: string = DEBIAN_PG_ROOT,
): Promise<string> {
  for (const folder of searchPath.split(path.delimiter)) {
    if (folder !== '' && (await isExecutableFile(path.join(folder, name)))) return path.join(folder, name);
  }
  const versions = await fs.readdir(debianRoot).catch(() => [] as string[]);
  // Newest first: pg_dump refuses servers newer than itself, so the newest client is the safest pick.
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a) || b.localeCompare(a));
  for (const version of versions) {
    const candidate = path.join(debianRoot, version, 'bin', name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new ProviderError(`${name} not found; ${PG_CLIENT_HINT}`);
}

/** How a program ended, with the end of its combined output. */
export interface ProgramEnding {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** True when the caller's signal stopped it. */
  stopped: boolean;
}

/**
 * Runs a program in its own process group and waits for it; `signal` stops the whole group (SIGTERM,
 * then SIGKILL). Throws `ProviderError` when it cannot start.
 */
export async function runProgram(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; signal: AbortSignal },
): Promise<ProgramEnding> {
  if (options.signal.aborted) throw new BackupStopped('stopped before it started');
  let output = '';
  let stopped = false;
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new ProviderError(`cannot start ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const timers: NodeJS.Timeout[] = [];
  const onAbort = (): void => {
    stopped = true;
    signalChildGroup(child, 'SIGTERM');
    timers.push(setTimeout(() => signalChildGroup(child, 'SIGKILL'), KILL_GRACE_MS));
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<ProgramEnding>((resolve, reject) => {
      const keep = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      child.on('error', (err) => {
        // Without a pid nothing runs and no exit follows.
        if (child.pid === undefined)
          reject(new ProviderError(`cannot start ${file}: ${err.message}`, { cause: err }));
      });
      child.on('exit', () => {
        // A background child that inherited the pipes would otherwise hold this open indefinitely.
        timers.push(
          setTimeout(() => {
            signalChildGroup(child, 'SIGKILL');
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, OUTPUT_GRACE_MS),
        );
      });
      child.on('close', (code, exitSignal) => resolve({ code, signal: exitSignal, output, stopped }));
    });
  } finally {
    timers.forEach(clearTimeout);
    options.signal.removeEventListener('abort', onAbort);
    // Whatever the program left running in its group belongs to this run, not to anyone else.
    signalChildGroup(child, 'SIGKILL');
  }
}

/** How a program ended, as a message says it: `exit 3`, `killed by SIGKILL`. */
export function exitText(ending: ProgramEnding): string {
  return ending.code === null ? `killed by ${ending.signal ?? 'a signal'}` : `exit ${ending.code}`;
}

/** `: <last line of output>`, or nothing when there was no output. */
export function quote(output: string): string {
  const last = output.trim().split('\n').at(-1)?.trim() ?? '';
  if (last === '') return '';
  return `: ${last.length > QUOTED_LINE_CHARS ? `${last.slice(0, QUOTED_LINE_CHARS - 1)}…` : last}`;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
