/**
 * Running a user's command the way every part of shipcheck that waits for one runs it (a migration,
 * a backup or restore, a fleet hook, a `command` check): in its own process group, stopped on a
 * timeout or an abort (SIGTERM to the whole group, then SIGKILL after a grace), with the end of its
 * output kept.
 *
 * One rule ends a run: after the command exits, its output is read until the pipes close or
 * OUTPUT_GRACE_MS passes, whichever comes first. A background process that inherited the pipes can
 * therefore delay the answer by that grace at most, never hold it open. Then whatever is left in the
 * group is killed (unless the caller keeps it, as a start hook keeps its app) and the pipes are
 * destroyed. Long-running instances (the local fleet) are not run here: they outlive the call. Nor
 * is nginx: `nginx -t` and `-s reload` are shipcheck's own calls, run in the control plane's session.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { cutNote } from './cut.js';
import { commandArgv, signalChildGroup } from './process-group.js';

/** Time a stopped command gets between SIGTERM and SIGKILL of its group. */
export const KILL_GRACE_MS = 2_000;
/** After a command exits, how long a background process holding its output pipes may keep them open. */
export const OUTPUT_GRACE_MS = 1_000;

/** Bytes kept of each output stream; a stream not named is read and dropped. */
export interface OutputLimits {
  /** The end of stdout and stderr together, in the order they arrived. */
  combined?: number;
  stdout?: number;
  stderr?: number;
}

/** Where, how long and how a command runs. */
export interface RunCommandOptions {
  cwd: string;
  /** The whole environment of the command. */
  env: NodeJS.ProcessEnv;
  /** Stops the command after this long; no limit when absent. */
  timeoutMs?: number;
  /** Stops the command when it aborts; an already aborted signal means it never starts. */
  signal?: AbortSignal;
  /** What to keep of the output (default: nothing). */
  keep?: OutputLimits;
  /** Between SIGTERM and SIGKILL when the command is stopped. */
  killGraceMs?: number;
  /** How long the output may still drain after the command exits. */
  outputGraceMs?: number;
  /**
   * Leaves what the command started in the background running after it exits (a start hook's app);
   * after a stop, what outlived the command has had SIGTERM and no more. By default the group is
   * killed once the run ends.
   */
  leaveRunning?: boolean;
}

/** The end of one output stream. */
export interface KeptOutput {
  /** The kept bytes as UTF-8, without a character cut in half at the start. */
  text: string;
  /** Every byte the stream carried, kept or not. */
  bytes: number;
  /** Bytes dropped from the start to keep within the limit. */
  cutBytes: number;
}

/** What a command printed, per stream as `keep` asked. */
export interface RunOutput {
  combined: KeptOutput;
  stdout: KeptOutput;
  stderr: KeptOutput;
}

/** How a started command ended: its exit code, or the signal that ended it. */
export interface ProcessEnding {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the start to the exit. */
  durationMs: number;
  output: RunOutput;
}

/**
 * How a run ended. `exited`: on its own. `timed-out` and `aborted`: stopped by the runner (the ending
 * says how the stop took; an abort before the start runs nothing, with code and signal null).
 * `not-started`: it could not be spawned (a missing program or cwd).
 */
export type RunOutcome =
  | ({ kind: 'exited' } & ProcessEnding)
  | ({ kind: 'timed-out' } & ProcessEnding)
  | ({ kind: 'aborted' } & ProcessEnding)
  | { kind: 'not-started'; error: Error; output: RunOutput };

/**
 * Runs `command` (a string through `/bin/sh -c`, an argv array directly) in its own process group and
 * resolves with how it ended. Never rejects: a failure to start is the `not-started` outcome.
 */
export async function runCommand(
  command: string | readonly string[],
  options: RunCommandOptions,
): Promise<RunOutcome> {
  const output = new OutputCollector(options.keep ?? {});
  if (options.signal?.aborted) {
    return { kind: 'aborted', code: null, signal: null, durationMs: 0, output: output.result() };
  }
  const [file, args] = commandArgv(command);
  const startedAt = performance.now();
  let child: ChildProcess;
  try {
    // Detached: the command leads its own process group, so stopping it reaches everything it started.
    child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return { kind: 'not-started', error: asError(err), output: output.result() };
  }
  child.stdout?.on('data', (chunk: Buffer) => output.push('stdout', chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push('stderr', chunk));

  let stoppedBy: 'timed-out' | 'aborted' | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const killGraceMs = options.killGraceMs ?? KILL_GRACE_MS;
  const stop = (why: 'timed-out' | 'aborted'): void => {
    if (stoppedBy !== undefined) return;
    stoppedBy = why;
    signalChildGroup(child, 'SIGTERM');
    killTimer = setTimeout(() => signalChildGroup(child, 'SIGKILL'), killGraceMs);
  };
  const onAbort = (): void => stop('aborted');
  if (options.timeoutMs !== undefined) {
    timeoutTimer = setTimeout(() => stop('timed-out'), options.timeoutMs);
  }
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // Once the command has exited its outcome is settled: a timeout or abort during the drain stops nothing.
  const stopWatching = (): void => {
    clearTimeout(timeoutTimer);
    options.signal?.removeEventListener('abort', onAbort);
  };

  const ended = await new Promise<
    { code: number | null; signal: NodeJS.Signals | null; durationMs: number } | { error: Error }
  >((resolve) => {
    let exit: { code: number | null; signal: NodeJS.Signals | null; durationMs: number } | undefined;
    child.on('error', (err) => {
      // Without a pid nothing runs and no exit follows; other errors (a failed kill) change nothing.
      if (child.pid === undefined) resolve({ error: err });
    });
    child.once('exit', (code, signal) => {
      const ending = { code, signal, durationMs: Math.round(performance.now() - startedAt) };
      exit = ending;
      stopWatching();
      drainTimer = setTimeout(() => resolve(ending), options.outputGraceMs ?? OUTPUT_GRACE_MS);
    });
    // 'close' follows 'exit' once every pipe has closed: all the output has been read.
    child.once('close', () => {
      if (exit !== undefined) resolve(exit);
    });
  });
  stopWatching();
  clearTimeout(drainTimer);
  clearTimeout(killTimer);
  // Whatever the command left running in its group belongs to the run, not to the control plane.
  if (!options.leaveRunning) signalChildGroup(child, 'SIGKILL');
  child.stdout?.destroy();
  child.stderr?.destroy();

  if ('error' in ended) return { kind: 'not-started', error: ended.error, output: output.result() };
  return { kind: stoppedBy ?? 'exited', ...ended, output: output.result() };
}

/** `[… N earlier bytes cut]` and a newline before the kept text when anything was cut; the text alone otherwise. */
export function withCutNote(kept: KeptOutput): string {
  return kept.cutBytes > 0 ? `${cutNote(kept.cutBytes, 'bytes')}\n${kept.text}` : kept.text;
}

/** The streams `keep` asked for, each as a tail. */
class OutputCollector {
  private readonly tails: Partial<Record<keyof OutputLimits, ByteTail>> = {};

  constructor(limits: OutputLimits) {
    for (const stream of ['combined', 'stdout', 'stderr'] as const) {
      const limit = limits[stream];
      if (limit !== undefined) this.tails[stream] = new ByteTail(limit);
    }
  }

  push(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.tails[stream]?.push(chunk);
    this.tails.combined?.push(chunk);
  }

  result(): RunOutput {
    const empty: KeptOutput = { text: '', bytes: 0, cutBytes: 0 };
    return {
      combined: this.tails.combined?.kept() ?? empty,
      stdout: this.tails.stdout?.kept() ?? empty,
      stderr: this.tails.stderr?.kept() ?? empty,
    };
  }
}

/** Keeps the last `limit` bytes of what it is given while it reads, and counts the rest. */
class ByteTail {
  private chunks: Buffer[] = [];
  private keptBytes = 0;
  private total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.keptBytes += chunk.length;
    this.total += chunk.length;
    while (this.chunks.length > 1 && this.keptBytes - this.chunks[0]!.length >= this.limit) {
      this.keptBytes -= this.chunks.shift()!.length;
    }
  }

  kept(): KeptOutput {
    const all = Buffer.concat(this.chunks);
    const tail = all.subarray(Math.max(0, all.length - this.limit));
    // A cut through a multi-byte character decodes as U+FFFD; drop it rather than show garbage.
    const text = tail.toString('utf8');
    return {
      text: tail.length < this.total ? text.replace(/^\uFFFD+/, '') : text,
      bytes: this.total,
      cutBytes: this.total - tail.length,
    };
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
