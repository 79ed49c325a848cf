import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

/** The `pid` directive of an nginx.conf, resolved against the prefix; undefined when it has none. */
export function pidFileOf(conf: string, confPath: string, prefix: string | undefined): string | undefined {
  const match = /^\s*pid\s+([^;\s]+)\s*;/m.exec(conf);
  if (!match?.[1]) return undefined;
  const file = match[1].replace(/^["']|["']$/g, '');
  return path.isAbsolute(file) ? file : path.resolve(prefix ?? path.dirname(confPath), file);
}

/** The `--pid-path` nginx was built with, from `nginx -V` output (it prints to stderr). */
export function compiledPidPath(versionOutput: string): string | undefined {
  return /--pid-path=(\S+)/.exec(versionOutput)?.[1];
}

/** The master's pid from its pid file, or undefined when there is no such file or process. */
export async function readMasterPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    await readFile(`/proc/${pid}/stat`, 'utf8');
    return pid;
  } catch {
    return undefined;
  }
}

/** Pids of the live (not zombie) processes whose parent is `pid`, read from /proc (Linux). */
export async function childrenOf(pid: number): Promise<Set<number>> {
  const children = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses): state, ppid, ...
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === pid && state !== 'Z') children.add(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/**
 * Whether any of `pids` is still a worker taking new connections: alive, and not yet titled
 * "worker process is shutting down", which nginx sets once a reload has told it to finish.
 */
export async function anyStillAccepting(pids: Iterable<number>): Promise<boolean> {
  for (const pid of pids) {
    try {
      const title = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ').trim();
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (title.includes('worker process') && !title.includes('shutting down')) return true;
    } catch {
      // Gone.
    }
  }
  return false;
}
