import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, withCutNote, type RunCommandOptions, type RunOutcome } from './run-command.js';

/** Longer than any test waits, so a process still alive afterwards was left behind, not slow. */
const LONG_SLEEP_S = 30;
const LONG_SLEEP = `sleep ${LONG_SLEEP_S}`;
const EXIT_POLL_MS = 20;
const EXIT_POLLS = 250;

let cwd: string;
/** Background processes a test meant to leave running, killed by pid afterwards. */
const leftRunning: number[] = [];

beforeAll(() => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-run-command-'));
});

afterEach(() => {
  for (const pid of leftRunning.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

afterAll(() => {
  fs.rmSync(cwd, { recursive: true, force: true });
});

function run(command: string | string[], options: Partial<RunCommandOptions> = {}): Promise<RunOutcome> {
  return runCommand(command, { cwd, env: process.env, keep: { combined: 4096 }, ...options });
}

/** Running and not a zombie nobody has reaped yet. */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2)[0] ?? 'X');
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone; a SIGKILL lands a moment after kill() returns. Bounded so a leak fails. */
async function exited(pid: number): Promise<boolean> {
  for (let attempt = 0; attempt < EXIT_POLLS; attempt++) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
  }
  return false;
}

/** The pid a command printed on its first output line. */
function printedPid(outcome: RunOutcome): number {
  const pid = Number(/^(\d+)$/m.exec(outcome.output.combined.text)?.[1]);
  expect(pid).toBeGreaterThan(0);
  return pid;
}

describe('runCommand', () => {
  it('reports the exit code and keeps stdout and stderr together in order', async () => {
    const outcome = await run('echo out; echo err >&2; exit 3');
    expect(outcome).toMatchObject({ kind: 'exited', code: 3, signal: null });
    expect(outcome.output.combined).toEqual({ text: 'out\nerr\n', bytes: 8, cutBytes: 0 });
    expect(outcome.kind !== 'not-started' && outcome.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('runs an argv array without a shell, in cwd, with the environment given', async () => {
    const outcome = await run(['/bin/sh', '-c', 'pwd; echo "$GREETING"', 'ignored $HOME'], {
      env: { ...process.env, GREETING: 'hello $HOME' },
    });
    expect(outcome).toMatchObject({ kind: 'exited', code: 0 });
    expect(outcome.output.combined.text).toBe(`${fs.realpathSync(cwd)}\nhello $HOME\n`);
  });

  it('reports the signal that ended the command', async () => {
    expect(await run('kill -KILL $$')).toMatchObject({ kind: 'exited', code: null, signal: 'SIGKILL' });
  });

  it('stops the whole process group on timeout, a child of the command too', async () => {
    const outcome = await run(`${LONG_SLEEP} & echo $!; wait`, { timeoutMs: 500 });
    expect(outcome).toMatchObject({ kind: 'timed-out', code: null, signal: 'SIGTERM' });
    expect(await exited(printedPid(outcome))).toBe(true);
  });

  it('sends SIGKILL after the grace when the group ignores SIGTERM', async () => {
    const outcome = await run(`trap "" TERM; ${LONG_SLEEP} & echo $!; wait`, {
      timeoutMs: 500,
      killGraceMs: 200,
    });
    expect(outcome).toMatchObject({ kind: 'timed-out', code: null, signal: 'SIGKILL' });
    expect(await exited(printedPid(outcome))).toBe(true);
  });

  it('stops the whole process group when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = run(`${LONG_SLEEP} & echo $!; wait`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 500);
    const outcome = await pending;
    expect(outcome).toMatchObject({ kind: 'aborted', signal: 'SIGTERM' });
    expect(await exited(printedPid(outcome))).toBe(true);
  });

  it('does not start a command whose signal has already aborted', async () => {
    const marker = path.join(cwd, 'ran');
    const outcome = await run(`touch ${marker}`, { signal: AbortSignal.abort() });
    expect(outcome).toMatchObject({ kind: 'aborted', code: null, signal: null, durationMs: 0 });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('reports a missing program or cwd as not started', async () => {
    const missing = await run(['shipcheck-no-such-program']);
    expect(missing.kind).toBe('not-started');
    if (missing.kind !== 'not-started') return;
    expect(missing.error.message).toBe('spawn shipcheck-no-such-program ENOENT');
    expect((missing.error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((await run('true', { cwd: path.join(cwd, 'nowhere') })).kind).toBe('not-started');
  });

  it('keeps only the tail of long output and says how much it cut', async () => {
    const outcome = await run("head -c 10000 /dev/zero | tr '\\0' a; echo; echo END", {
      keep: { combined: 100 },
    });
    expect(outcome.output.combined).toMatchObject({ bytes: 10_005, cutBytes: 9_905 });
    expect(outcome.output.combined.text).toMatch(/^a{95}\nEND\n$/);
    expect(withCutNote(outcome.output.combined)).toMatch(/^\[… 9,905 earlier bytes cut\]\na+\nEND\n$/);
  });

  it('drops a character cut in half at the start of the tail', async () => {
    // 'é' is two bytes in UTF-8: an odd limit cuts the first kept one in half.
    const outcome = await run("printf 'éééé'", { keep: { combined: 5 } });
    expect(outcome.output.combined).toEqual({ text: 'éé', bytes: 8, cutBytes: 3 });
  });

  it('keeps stdout apart from stderr when asked', async () => {
    const outcome = await run('echo out; echo err >&2', { keep: { stdout: 1024, stderr: 1024 } });
    expect(outcome.output.stdout.text).toBe('out\n');
    expect(outcome.output.stderr.text).toBe('err\n');
    expect(outcome.output.combined).toEqual({ text: '', bytes: 0, cutBytes: 0 });
  });

  it('does not wait for a background process holding the pipes beyond the grace, and kills it', async () => {
    const startedAt = Date.now();
    const outcome = await run(`${LONG_SLEEP} & echo $!`);
    expect(Date.now() - startedAt).toBeLessThan(LONG_SLEEP_S * 1000);
    expect(outcome).toMatchObject({ kind: 'exited', code: 0 });
    expect(await exited(printedPid(outcome))).toBe(true);
  });

  it('leaves a background process running when asked, without waiting for it', async () => {
    const startedAt = Date.now();
    const outcome = await run(`${LONG_SLEEP} & echo $!`, { leaveRunning: true });
    const pid = printedPid(outcome);
    leftRunning.push(pid);
    expect(Date.now() - startedAt).toBeLessThan(LONG_SLEEP_S * 1000);
    expect(outcome).toMatchObject({ kind: 'exited', code: 0 });
    expect(isAlive(pid)).toBe(true);
  });

  it('once the command has exited, a timeout during the drain changes nothing', async () => {
    // The background sleep holds the pipes past the timeout; the command itself exited 0 long before.
    const outcome = await run(`${LONG_SLEEP} & echo $!`, { timeoutMs: 1_000, outputGraceMs: 2_500 });
    expect(outcome).toMatchObject({ kind: 'exited', code: 0 });
    expect(await exited(printedPid(outcome))).toBe(true);
  });
});
