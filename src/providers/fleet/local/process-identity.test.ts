import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isSameProcess, processStartTime } from './process-identity.js';

describe('process identity', () => {
  it('knows a live process by its pid and start time', () => {
    const startTime = processStartTime(process.pid);
    expect(startTime).toMatch(/^\d+$/);
    expect(isSameProcess(process.pid, startTime!)).toBe(true);
  });

  it('refuses a live pid with another start time: a later process reusing the pid', () => {
    const startTime = Number(processStartTime(process.pid));
    expect(isSameProcess(process.pid, String(startTime + 1))).toBe(false);
  });

  it('refuses a process that has exited', async () => {
    const child = spawn('true');
    const pid = child.pid!;
    const startTime = processStartTime(pid) ?? '';
    await once(child, 'exit');
    expect(isSameProcess(pid, startTime)).toBe(false);
    expect(processStartTime(pid)).toBeUndefined();
  });
});
