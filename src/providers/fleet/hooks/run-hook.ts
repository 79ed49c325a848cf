import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { ProviderError } from '../../../errors.js';
import { formatDuration } from '../../../util/duration.js';
import { commandArgv, lastLines, signalChildGroup } from '../../../util/process-group.js';

/** Time a timed-out hook gets between SIGTERM and SIGKILL of its process group. */
const KILL_GRACE_MS = 2_000;
/**
 * After a hook exits, how long its output pipes may stay open. A start hook that launched the app in
 * the background without redirecting its output leaves the pipes to the app; the app must keep running.
 */
const OUTPUT_GRACE_MS = 500;
/** More stdout than this is neither an address nor a list of instances. */
const MAX_STDOUT_BYTES = 1024 * 1024;
/** The end of stderr that is kept; its last STDERR_LINES lines go into errors. */
const STDERR_TAIL_BYTES = 8 * 1024;
const STDERR_LINES = 20;

/** Where and how long a hook runs. */
export interface HookRunOptions {
  cwd: string;
  /** The whole environment of the hook. */
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/** What a hook that exited 0 printed. */
export interface HookOutput {
  stdout: string;
  /** The last lines of stderr, trimmed; '' when there were none. */
  stderr: string;
}

/**
 * Runs one hook: a string through `/bin/sh -c`, an argv array directly, in its own process group.
 * Resolves once it exited 0. A non-zero exit, a signal, a timeout (the group gets SIGTERM, then SIGKILL)
 * or a failure to start rejects with a `ProviderError` that begins with `label` and quotes stderr.
 * Processes the hook leaves running after a normal exit are its business and are never signalled.
 */
export function runHook(
  label: string,
  command: string | string[],
  options: HookRunOptions,
): Promise<HookOutput> {
  const [file, args] = commandArgv(command);
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return Promise.reject(cannotRun(label, err, options.cwd));
  }
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr: Buffer = Buffer.alloc(0);
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const settle = (outcome: HookOutput | ProviderError): void => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      if (outcome instanceof ProviderError) reject(outcome);
      else resolve(outcome);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes <= MAX_STDOUT_BYTES) stdout.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
    });
    timers.push(
      setTimeout(() => {
        timedOut = true;
        signalChildGroup(child, 'SIGTERM');
        timers.push(setTimeout(() => signalChildGroup(child, 'SIGKILL'), KILL_GRACE_MS));
      }, options.timeoutMs),
    );
    child.on('error', (err) => {
      // Without a pid nothing runs and no exit follows; other errors (a failed kill) change nothing.
      if (child.pid === undefined) settle(cannotRun(label, err, options.cwd));
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      const errors = lastLines(stderr.toString('utf8'), STDERR_LINES);
      if (timedOut) {
        settle(
          new ProviderError(`${label} timed out after ${formatDuration(options.timeoutMs)}${quote(errors)}`),
        );
      } else if (code === null) {
        settle(new ProviderError(`${label} was killed by ${signal ?? 'a signal'}${quote(errors)}`));
      } else if (code !== 0) {
        settle(new ProviderError(`${label} exited ${code}${quote(errors)}`));
      } else if (stdoutBytes > MAX_STDOUT_BYTES) {
        settle(new ProviderError(`${label} printed more than ${MAX_STDOUT_BYTES} bytes on stdout`));
      } else {
        settle({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: errors });
      }
    };
    child.on('exit', (code, signal) => {
      timers.push(
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish(code, signal);
        }, OUTPUT_GRACE_MS),
      );
    });
    child.on('close', finish);
  });
}

/** `: <stderr>` for an error message, or nothing when the hook wrote nothing there. */
export function quote(stderr: string): string {
  return stderr === '' ? '' : `: ${stderr}`;
}

function cannotRun(label: string, err: unknown, cwd: string): ProviderError {
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  // spawn reports a missing cwd as the command not being found; say which one it is.
  const detail = code === 'ENOENT' && !fs.existsSync(cwd) ? `cwd ${cwd} does not exist (${text})` : text;
  return new ProviderError(`${label} cannot run: ${detail}`, { cause: err });
}
