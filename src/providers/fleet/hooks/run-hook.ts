import fs from 'node:fs';
import { ProviderError } from '../../../errors.js';
import { formatDuration } from '../../../util/duration.js';
import { lastLines } from '../../../util/process-group.js';
import { runCommand } from '../../../util/run-command.js';

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
export async function runHook(
  label: string,
  command: string | string[],
  options: HookRunOptions,
): Promise<HookOutput> {
  const outcome = await runCommand(command, {
    cwd: options.cwd,
    env: options.env,
    timeoutMs: options.timeoutMs,
    keep: { stdout: MAX_STDOUT_BYTES, stderr: STDERR_TAIL_BYTES },
    outputGraceMs: OUTPUT_GRACE_MS,
    leaveRunning: true,
  });
  if (outcome.kind === 'not-started') throw cannotRun(label, outcome.error, options.cwd);
  const errors = lastLines(outcome.output.stderr.text, STDERR_LINES);
  if (outcome.kind === 'timed-out') {
    throw new ProviderError(`${label} timed out after ${formatDuration(options.timeoutMs)}${quote(errors)}`);
  }
  if (outcome.code === null) {
    throw new ProviderError(`${label} was killed by ${outcome.signal ?? 'a signal'}${quote(errors)}`);
  }
  if (outcome.code !== 0) throw new ProviderError(`${label} exited ${outcome.code}${quote(errors)}`);
  if (outcome.output.stdout.bytes > MAX_STDOUT_BYTES) {
    throw new ProviderError(`${label} printed more than ${MAX_STDOUT_BYTES} bytes on stdout`);
  }
  return { stdout: outcome.output.stdout.text, stderr: errors };
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
