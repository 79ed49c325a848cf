/**
 * CPU time and resident memory of a process group, read from Linux's `/proc`. The local fleet starts
 * each instance as the leader of its own group (`detached: true`), so a group is an instance with
 * every process it forked. Readings are cumulative CPU seconds: a rate is the difference of two
 * readings over the time between them.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One reading of a process group. */
export interface ProcessUsage {
  /** User plus system CPU time of the group's live processes, in seconds. */
  cpuSeconds: number;
  /** Resident memory of the group's live processes, in bytes. */
  rssBytes: number;
  /** How many live processes the group has. */
  processes: number;
}

/** Clock ticks per second of `/proc/<pid>/stat` times; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;
/** Bytes per page of the `rss` field; 4 KiB on x86-64 and arm64 Linux by default. */
const PAGE_BYTES = 4096;

/** The fields of `/proc/<pid>/stat` after the command name, which may itself hold spaces and parentheses. */
function statFields(text: string): string[] | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  return text.slice(end + 2).split(' ');
}

/**
 * Reads one process's group, CPU and memory from its stat line (`proc(5)`): after the name come
 * state (0), ppid (1), pgrp (2), ... utime (11), stime (12), ... rss in pages (21).
 */
export function parseStat(text: string): { pgrp: number; cpuSeconds: number; rssBytes: number } | undefined {
  const fields = statFields(text);
  if (!fields || fields.length < 22) return undefined;
  const pgrp = Number(fields[2]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  const pages = Number(fields[21]);
  if (![pgrp, ticks, pages].every(Number.isFinite)) return undefined;
  return { pgrp, cpuSeconds: ticks / CLOCK_TICKS, rssBytes: pages * PAGE_BYTES };
}

/**
 * Usage of every process group in `leaders` at once, from one pass over `/proc`: an entry for each
 * leader with at least one live process. Without `/proc` (not Linux), an empty map.
 */
export function processGroupUsage(leaders: Iterable<number>, procDir = '/proc'): Map<number, ProcessUsage> {
  const wanted = new Set(leaders);
  const usage = new Map<number, ProcessUsage>();
  if (wanted.size === 0) return usage;
  let names: string[];
  try {
    names = readdirSync(procDir);
  } catch {
    return usage;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`${procDir}/${name}/stat`, 'utf8');
    } catch {
      continue; // the process ended between the listing and the read
    }
    const stat = parseStat(text);
    if (!stat || !wanted.has(stat.pgrp)) continue;
    const sum = usage.get(stat.pgrp) ?? { cpuSeconds: 0, rssBytes: 0, processes: 0 };
    sum.cpuSeconds += stat.cpuSeconds;
    sum.rssBytes += stat.rssBytes;
    sum.processes += 1;
    usage.set(stat.pgrp, sum);
  }
  return usage;
}
