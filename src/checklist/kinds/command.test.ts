import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandCheck, OUTPUT_TAIL_BYTES, type CommandParams } from './command.js';
import { testContext } from '../../../test/support/check-context.js';

/** Longer than any test waits, so a process still alive afterwards was left behind, not slow. */
const LONG_SLEEP = 'sleep 30';

const EXIT_POLL_MS = 20;
const EXIT_POLLS = 100;

let configDir: string;

beforeAll(() => {
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-command-'));
  fs.mkdirSync(path.join(configDir, 'app'));
});

afterAll(() => {
  fs.rmSync(configDir, { recursive: true, force: true });
});

async function run(input: Record<string, unknown>, overrides: Parameters<typeof testContext>[0] = {}) {
  const params: CommandParams = commandCheck.params.parse(input);
  return commandCheck.run(params, testContext({ configDir, ...overrides }));
}

/** True while `pid` is a live process; a zombie nobody has reaped yet counts as gone. */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone; a SIGKILL lands a moment after kill() returns. Bounded so a leak fails. */
async function exited(pid: number): Promise<boolean> {
  for (let attempt = 0; attempt < EXIT_POLLS; attempt++) {
    if (!isRunning(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
  }
  return false;
}

/** The pid a command printed on its first output line. */
function printedPid(output: string | undefined): number {
  const pid = Number(/^(\d+)$/m.exec(output ?? '')?.[1]);
  expect(pid).toBeGreaterThan(0);
  return pid;
}

describe('command params', () => {
  it('fills defaults', () => {
    expect(commandCheck.params.parse({ run: 'npm test' })).toEqual({
      run: 'npm test',
      env: {},
      timeout: 120_000,
      expectExit: 0,
    });
  });

  it('rejects an empty command and a bad exit code', () => {
    expect(commandCheck.params.safeParse({ run: '' }).success).toBe(false);
    expect(commandCheck.params.safeParse({ run: [] }).success).toBe(false);
    expect(commandCheck.params.safeParse({ run: 'true', expectExit: 256 }).success).toBe(false);
  });
});

describe('command check', () => {
  it('passes on exit 0 and keeps stdout and stderr together', async () => {
    const result = await run({ run: 'echo out; echo err >&2' });
    expect(result.ok).toBe(true);
    expect(result.summary).toMatch(/^echo out; echo err >&2: exit 0 in \d+(ms|\.?\d*s)$/);
    expect(result.output).toBe('out\nerr\n');
    expect(result.data).toMatchObject({ exitCode: 0, signal: null, cwd: configDir });
  });

  it('fails on another exit code, unless that is the one expected', async () => {
    const failed = await run({ run: 'echo "2 tests failed"; exit 3' });
    expect(failed.ok).toBe(false);
    expect(failed.summary).toMatch(/: exit 3 in \S+, expected 0$/);
    expect(failed.output).toBe('2 tests failed\n');
    expect((await run({ run: 'exit 3', expectExit: 3 })).ok).toBe(true);
  });

  it('runs an argv array without a shell, in cwd relative to the config, with env', async () => {
    const result = await run({
      run: [
        process.execPath,
        '-e',
        'console.log(process.cwd(), process.env.GREETING, process.env.SHIPCHECK_VERSION)',
      ],
      cwd: 'app',
      env: { GREETING: 'hello $HOME' },
    });
    expect(result.ok, result.summary).toBe(true);
    expect(result.output).toBe(`${path.join(configDir, 'app')} hello $HOME v2\n`);
  });

  it('fails when the program does not exist or cwd is missing', async () => {
    const missing = await run({ run: ['shipcheck-no-such-program'] });
    expect(missing).toMatchObject({
      ok: false,
      summary: 'shipcheck-no-such-program: cannot start: spawn shipcheck-no-such-program ENOENT',
    });
    const noDir = await run({ run: 'true', cwd: 'nowhere' });
    expect(noDir).toMatchObject({
      ok: false,
      summary: `true: cwd ${path.join(configDir, 'nowhere')} does not exist`,
    });
  });

  it('keeps only the tail of long output', async () => {
    const result = await run({ run: "head -c 10000 /dev/zero | tr '\\0' a; echo; echo END" });
    expect(result.ok, result.summary).toBe(true);
    expect(result.output).toMatch(/^\[… 5,909 earlier bytes cut\]\na+\nEND\n$/);
    expect(result.output!.length).toBeLessThan(OUTPUT_TAIL_BYTES + 100);
  });

  it('reports a command killed by a signal', async () => {
    const result = await run({ run: 'kill -KILL $$' });
    expect(result).toMatchObject({
      ok: false,
      summary: expect.stringMatching(/: killed by SIGKILL after \S+$/),
    });
  });

  it('stops the whole process group on timeout', async () => {
    const result = await run({ run: `${LONG_SLEEP} & echo $!; wait`, timeout: '300ms' });
    expect(result).toMatchObject({
      ok: false,
      summary: `${LONG_SLEEP} & echo $!; wait: timed out after 300ms`,
    });
    expect(await exited(printedPid(result.output))).toBe(true);
  });

  it('stops the whole process group when the release signal aborts', async () => {
    const controller = new AbortController();
    const pending = run({ run: `${LONG_SLEEP} & echo $!; wait` }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const result = await pending;
    expect(result).toMatchObject({
      ok: false,
      summary: expect.stringMatching(/: aborted (after \S+|before it started)$/),
    });
    if (result.output !== undefined) expect(await exited(printedPid(result.output))).toBe(true);
  });

  it('does not wait for a background child holding its output, and stops it', async () => {
    const result = await run({ run: `${LONG_SLEEP} & echo $!` });
    expect(result.ok, result.summary).toBe(true);
    expect(await exited(printedPid(result.output))).toBe(true);
  });
});
