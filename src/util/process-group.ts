import type { ChildProcess } from 'node:child_process';

/** The shell a command string runs under. */
export const SHELL = '/bin/sh';

/**
 * The file and arguments that run `command`: a string through `/bin/sh -c` (with `exec`, the shell
 * replaces itself with the command, so its pid is the command's), an argv array directly.
 */
export function commandArgv(
  command: string | readonly string[],
  options: { exec?: boolean } = {},
): [string, string[]] {
  if (typeof command === 'string') return [SHELL, ['-c', options.exec ? `exec ${command}` : command]];
  const [file = 'true', ...args] = command;
  return [file, args];
}

/**
 * Signals the process group led by `pid` (a child spawned with `detached: true`). A group already
 * gone is the goal, not an error: returns false then, true when the signal was sent.
 */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    // ESRCH: every process of the group has exited.
    return false;
  }
}

/** Signals a spawned child's whole process group; see signalGroup. */
export function signalChildGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  return signalGroup(child.pid, signal);
}

/** The last `count` lines of `text`, trimmed: the part of a tool's stderr that says what went wrong. */
export function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n').trim();
}
