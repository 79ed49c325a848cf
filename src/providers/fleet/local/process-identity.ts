/**
 * Tells whether a recorded pid is still the process the fleet started, not a later one that reuses
 * the pid, from the kernel's start time in /proc/PID/stat. Adoption after a controller restart and
 * every signal to an adopted process rely on it.
 */
import fs from 'node:fs';

/** Index of `state` (field 3) among the /proc/PID/stat fields after the `(comm)` field. */
const STAT_STATE_INDEX = 0;
/** Index of `starttime` (field 22) among the /proc/PID/stat fields after the `(comm)` field. */
const STAT_STARTTIME_INDEX = 19;
/** Process states that are already gone: zombie and dead. */
const DEAD_STATES = new Set(['Z', 'X']);

/** The fields of /proc/PID/stat after `(comm)`, which may itself hold spaces and parentheses. */
function readStat(pid: number): string[] | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The kernel's start time of `pid` (clock ticks since boot), or undefined without /proc. */
export function processStartTime(pid: number): string | undefined {
  return readStat(pid)?.[STAT_STARTTIME_INDEX];
}

/** True when `pid` is alive and is the same process that was recorded, not a later one reusing the pid. */
export function isSameProcess(pid: number, startTime: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readStat(pid);
  // Without /proc the signal probe is all there is; a record written there has no start time either.
  if (!stat) return startTime === '';
  if (DEAD_STATES.has(stat[STAT_STATE_INDEX] ?? '')) return false;
  return stat[STAT_STARTTIME_INDEX] === startTime;
}
