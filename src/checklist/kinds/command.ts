import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { cutNote } from '../../util/cut.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';
import { commandArgv, signalChildGroup } from '../../util/process-group.js';

/** Bytes of combined output kept in evidence: the end, where test runners and scripts say what failed. */
export const OUTPUT_TAIL_BYTES = 4096;
/** Time a stopped command gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2000;
/**
 * After the command exits, how long its output pipes may stay open. A background child that inherited
 * them would otherwise hold the check open until the timeout.
 */
const OUTPUT_GRACE_MS = 1000;
/** Longest command text in a summary. */
const LABEL_CHARS = 60;
const EXIT_CODE_MAX = 255;

const commandParamsSchema = z.strictObject({
  run: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .describe('The command: a string run with /bin/sh -c, or an argv array run without a shell.'),
  cwd: z
    .string()
    .optional()
    .describe('Working directory, relative to the config file (default: its folder).'),
  env: z
    .record(z.string(), z.string())
    .prefault({})
    .describe("Extra environment variables on top of the control plane's own."),
  timeout: duration.prefault('2m').describe('Stops the command (its whole process group) after this long.'),
  expectExit: z
    .number()
    .int()
    .min(0)
    .max(EXIT_CODE_MAX)
    .prefault(0)
    .describe('The exit code that counts as passing.'),
});

/** Validated `command` params; durations in ms. */
export type CommandParams = z.output<typeof commandParamsSchema>;

/** How the command ended. */
type Ending =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'not-started'; error: string };

/** Keeps the last OUTPUT_TAIL_BYTES of what it is given while it reads, and counts the rest. */
class OutputTail {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.kept += chunk.length;
    this.total += chunk.length;
    while (this.chunks.length > 1 && this.kept - this.chunks[0]!.length >= OUTPUT_TAIL_BYTES) {
      this.kept -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    const tail = all.subarray(Math.max(0, all.length - OUTPUT_TAIL_BYTES));
    const dropped = this.total - tail.length;
    // A cut through a multi-byte character decodes as U+FFFD; drop it rather than show garbage.
    const text = tail.toString('utf8').replace(/^\uFFFD+/, '');
    return dropped > 0 ? `${cutNote(dropped, 'bytes')}\n${text}` : text;
  }
}

/** `command`: runs a program or shell line and checks its exit code; the output tail is the evidence. */
export const commandCheck: CheckKind<CommandParams> = {
  kind: 'command',
  params: commandParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const label = commandLabel(params.run);
    const cwd = path.resolve(context.configDir, params.cwd ?? '.');
    const cwdProblem = await checkDirectory(cwd);
    if (cwdProblem !== undefined) return { ok: false, summary: `${label}: cwd ${cwd} ${cwdProblem}` };
    if (context.signal.aborted) return { ok: false, summary: `${label}: aborted before it started` };

    const [file, args] = commandArgv(params.run);
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...params.env,
      SHIPCHECK_SERVICE: context.service,
      SHIPCHECK_VERSION: context.version,
      ...(context.fromVersion === null ? {} : { SHIPCHECK_FROM_VERSION: context.fromVersion }),
    };
    const output = new OutputTail();
    const startedAt = performance.now();
    let stoppedBy: 'timeout' | 'abort' | undefined;
    let child: ChildProcess;
    try {
      // Detached: the command leads its own process group, so stopping it reaches everything it started.
      child = spawn(file, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return { ok: false, summary: `${label}: cannot start: ${errorMessage(err)}` };
    }
    let killTimer: NodeJS.Timeout | undefined;
    let pipeTimer: NodeJS.Timeout | undefined;
    const stop = (why: 'timeout' | 'abort'): void => {
      if (stoppedBy !== undefined) return;
      stoppedBy = why;
      signalChildGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => signalChildGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    };
    const timeoutTimer = setTimeout(() => stop('timeout'), params.timeout);
    const onAbort = (): void => stop('abort');
    context.signal.addEventListener('abort', onAbort, { once: true });

    const ending = await new Promise<Ending>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
      child.on('error', (err) => {
        // Without a pid nothing runs and no exit follows; other errors (a failed kill) change nothing.
        if (child.pid === undefined) resolve({ kind: 'not-started', error: errorMessage(err) });
      });
      child.on('exit', () => {
        pipeTimer = setTimeout(() => {
          signalChildGroup(child, 'SIGKILL');
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, OUTPUT_GRACE_MS);
      });
      child.on('close', (code, signal) => resolve({ kind: 'exited', code, signal }));
    });
    clearTimeout(timeoutTimer);
    clearTimeout(killTimer);
    clearTimeout(pipeTimer);
    context.signal.removeEventListener('abort', onAbort);
    // Whatever the command left running in its group is part of the check, not something to keep.
    signalChildGroup(child, 'SIGKILL');

    const durationMs = Math.round(performance.now() - startedAt);
    const took = formatDuration(durationMs);
    if (ending.kind === 'not-started')
      return { ok: false, summary: `${label}: cannot start: ${ending.error}` };
    const evidence = {
      output: output.text(),
      data: { exitCode: ending.code, signal: ending.signal, durationMs, cwd },
    };
    if (stoppedBy === 'timeout') {
      return {
        ok: false,
        summary: `${label}: timed out after ${formatDuration(params.timeout)}`,
        ...evidence,
      };
    }
    if (stoppedBy === 'abort') return { ok: false, summary: `${label}: aborted after ${took}`, ...evidence };
    if (ending.code === null) {
      return {
        ok: false,
        summary: `${label}: killed by ${ending.signal ?? 'a signal'} after ${took}`,
        ...evidence,
      };
    }
    const ok = ending.code === params.expectExit;
    const expected = ok ? '' : `, expected ${params.expectExit}`;
    return { ok, summary: `${label}: exit ${ending.code} in ${took}${expected}`, ...evidence };
  },
};

/** The command as a person wrote it, shortened for a summary. */
function commandLabel(run: string | string[]): string {
  const text = (typeof run === 'string' ? run : run.join(' ')).replace(/\s+/g, ' ').trim();
  return text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
}

async function checkDirectory(dir: string): Promise<string | undefined> {
  try {
    const stat = await fs.stat(dir);
    return stat.isDirectory() ? undefined : 'is not a directory';
  } catch {
    return 'does not exist';
  }
}
