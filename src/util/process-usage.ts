/**
 * CPU time and resident memory of a process group, read from Linux's `/proc`. The local fleet starts
 * each instance as the leader of its own group (`detached: true`), so a group is an instance with
 * every process it forked. Readings are cumulative CPU seconds: a rate is the difference of two
 * readings over the time between them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** One reading of a process group. */
export interface ProcessUsage {
  /** User plus system CPU time of the group's live processes, in seconds. */
  cpuSeconds: number;
  /** Resident memory of the group's live processes, in bytes. */
  rssBytes: number;
  /** How many live processes the group has. */
  processes: number;
  /** When `/proc` was read, on `performance.now()`'s clock: a CPU rate divides by the time between readings. */
  readAt: number;
}

/**
 * How long one pass over `/proc` answers every caller. A pass reads each process's stat file
 * synchronously, so every unit of the local fleet sampling its instances would otherwise read all of
 * `/proc` each time; with this, one pass a second serves them all.
 */
export const SHARED_READING_MS = 1000;

/** The last pass over each `/proc` folder: every process group's usage. */
const lastPass = new Map<string, { readAt: number; groups: Map<number, ProcessUsage> }>();

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
 * Usage of every process group in `leaders`: an entry for each leader with at least one live
 * process. One pass over `/proc` serves every call within `maxAgeMs` (each entry says when it was
 * read). Without `/proc` (not Linux), an empty map.
 */
export function processGroupUsage(
  leaders: Iterable<number>,
  procDir = '/proc',
  maxAgeMs = SHARED_READING_MS,
): Map<number, ProcessUsage> {
  const usage = new Map<number, ProcessUsage>();
  const wanted = [...leaders];
  if (wanted.length === 0) return usage;
  let pass = lastPass.get(procDir);
  if (!pass || performance.now() - pass.readAt >= maxAgeMs) {
    pass = readGroups(procDir);
    lastPass.set(procDir, pass);
  }
  for (const leader of wanted) {
    const group = pass.groups.get(leader);
    if (group) usage.set(leader, { ...group });
  }
  return usage;
}

/** One pass over `/proc`: the usage of every process group with a live process. */
function readGroups(procDir: string): { readAt: number; groups: Map<number, ProcessUsage> } {
  const readAt = performance.now();
  const groups = new Map<number, ProcessUsage>();
  let names: string[];
  try {
    names = readdirSync(procDir);
  } catch {
    return { readAt, groups };
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
    if (!stat) continue;
    const sum = groups.get(stat.pgrp) ?? { cpuSeconds: 0, rssBytes: 0, processes: 0, readAt };
    sum.cpuSeconds += stat.cpuSeconds;
    sum.rssBytes += stat.rssBytes;
    sum.processes += 1;
    groups.set(stat.pgrp, sum);
  }
  return { readAt, groups };
}
