/**
 * Running the programs a backup or a restore needs (pg_dump, pg_restore, the user's commands), each
 * in its own process group, and finding PostgreSQL's client programs.
 */
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ProviderError } from '../errors.js';
import { runCommand } from '../util/run-command.js';
import { BackupStopped } from './backup-folder.js';

/** Where Debian and Ubuntu install the versioned PostgreSQL client programs. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
const PG_CLIENT_HINT = 'apt-get install postgresql-client';
/** Bytes of a program's output kept to explain its failure. */
const OUTPUT_TAIL_BYTES = 4096;
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
  const outcome = await runCommand([file, ...args], {
    cwd: options.cwd,
    env: options.env,
    signal: options.signal,
    keep: { combined: OUTPUT_TAIL_BYTES },
  });
  if (outcome.kind === 'not-started') {
    throw new ProviderError(`cannot start ${file}: ${outcome.error.message}`, { cause: outcome.error });
  }
  return {
    code: outcome.code,
    signal: outcome.signal,
    output: outcome.output.combined.text,
    stopped: outcome.kind === 'aborted',
  };
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
