import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStat, processGroupUsage } from './process-usage.js';

describe('parseStat', () => {
  it('reads the group, CPU ticks and resident pages after a name holding spaces and parentheses', () => {
    const line =
      '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 1000000 2560 18446744073709551615';
    expect(parseStat(line)).toEqual({ pgrp: 4242, cpuSeconds: 3, rssBytes: 2560 * 4096 });
  });

  it('refuses a truncated line', () => {
    expect(parseStat('12 (sh) S 1 12')).toBeUndefined();
  });
});

describe('processGroupUsage', () => {
  it('sums a detached group with its child and sees its CPU time grow', async () => {
    // A shell leading its own group, with a busy child: both count towards the group.
    const busy = 'node -e "const t = Date.now(); while (Date.now() - t < 20000);"';
    const child = spawn('/bin/sh', ['-c', `${busy}; true`], { detached: true, stdio: 'ignore' });
    const pid = child.pid!;
    try {
      let usage = processGroupUsage([pid], '/proc', 0).get(pid);
      for (let i = 0; i < 100 && !(usage && usage.processes === 2 && usage.cpuSeconds > 0.05); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        usage = processGroupUsage([pid], '/proc', 0).get(pid);
      }
      expect(usage?.processes).toBe(2);
      expect(usage!.cpuSeconds).toBeGreaterThan(0.05);
      expect(usage!.rssBytes).toBeGreaterThan(1024 * 1024);
    } finally {
      process.kill(-pid, 'SIGKILL');
    }
  });

  it('answers calls within the shared reading from one pass over /proc, which says when it was read', () => {
    // This test's own process group: the leader need not be this process.
    const group = parseStat(readFileSync('/proc/self/stat', 'utf8'))!.pgrp;
    const first = processGroupUsage([group], '/proc', 0).get(group);
    const second = processGroupUsage([group], '/proc', 60_000).get(group);
    expect(first).toBeDefined();
    expect(second).toEqual(first);
    const fresh = processGroupUsage([group], '/proc', 0).get(group);
    expect(fresh!.readAt).toBeGreaterThan(first!.readAt);
  });

  it('has no entry for a group with no live process, and none without /proc', () => {
    expect(processGroupUsage([2 ** 22 + 1]).size).toBe(0);
    expect(processGroupUsage([1], '/no/such/proc').size).toBe(0);
  });
});
