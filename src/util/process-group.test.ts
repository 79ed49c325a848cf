import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandArgv, lastLines, signalChildGroup, signalGroup } from './process-group.js';

describe('process groups', () => {
  it('runs a string through the shell, with exec when the pid must be the command, and an argv as is', () => {
    expect(commandArgv('npm test')).toEqual(['/bin/sh', ['-c', 'npm test']]);
    expect(commandArgv('node app.js', { exec: true })).toEqual(['/bin/sh', ['-c', 'exec node app.js']]);
    expect(commandArgv(['node', 'app.js'])).toEqual(['node', ['app.js']]);
  });

  it('signals a whole group, and treats a group already gone as done', async () => {
    const child = spawn('/bin/sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(signalChildGroup(child, 'SIGKILL')).toBe(true);
    expect(await exited).toBe('SIGKILL');

    const done = spawn('true', [], { detached: true, stdio: 'ignore' });
    await new Promise((resolve) => done.once('exit', resolve));
    expect(signalChildGroup(done, 'SIGTERM')).toBe(false);
    expect(signalGroup(undefined, 'SIGTERM')).toBe(false);
  });

  it('keeps the last lines of what a tool printed', () => {
    expect(lastLines('\na\nb\nc\n\n', 2)).toBe('b\nc');
  });
});
