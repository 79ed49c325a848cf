/**
 * What the maintenance kinds that read a scanner's output share (`vulnerabilities`, `outdated`):
 * running the program in its folder, and telling a registry or mirror that did not answer, or
 * output of an unknown shape, from a finding. Neither may ever pass: both are inconclusive.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { runCommand } from '../../util/run-command.js';
import type { CheckContext, CheckResult } from '../types.js';

/** Bytes of a scanner's stdout read (npm audit's JSON of a large tree runs to megabytes). */
const STDOUT_BYTES = 16 * 1024 * 1024;
/** Bytes of stderr kept, for the reason of a failure. */
const STDERR_BYTES = 8192;
/** Lines of unreadable output quoted in the evidence. */
const QUOTED_LINES = 10;
/** Longest command text in a summary. */
const LABEL_CHARS = 60;

/** A scanner's command: a string run with /bin/sh -c, or an argv array. */
export const scannerCommand = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .describe('The scanner to run instead of the default one; its output must follow the same shape.');

/** Error codes that mean the registry or mirror could not be reached, not that something was found. */
const UNREACHABLE = /\b(ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)\b/;

/** A scanner that ran to its end: what it printed and how it exited. */
export interface ScannerRun {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
  /** The command as written, shortened for a summary. */
  label: string;
  /** The absolute folder it ran in. */
  cwd: string;
}

/**
 * Runs `command` in `cwd` (relative to the config folder). A scanner that cannot start, is stopped
 * (timeout, abort) or is killed by a signal gives an inconclusive result instead of a run.
 */
export async function runScanner(
  command: string | readonly string[],
  options: { cwd: string | undefined; timeoutMs: number; env?: Record<string, string> },
  context: CheckContext,
): Promise<ScannerRun | CheckResult> {
  const label = commandLabel(command);
  const cwd = path.resolve(context.configDir, options.cwd ?? '.');
  try {
    if (!(await fs.stat(cwd)).isDirectory()) return inconclusive(`${label}: cwd ${cwd} is not a directory`);
  } catch {
    return inconclusive(`${label}: cwd ${cwd} does not exist`);
  }
  const outcome = await runCommand(command, {
    cwd,
    env: { ...process.env, ...options.env },
    timeoutMs: options.timeoutMs,
    signal: context.signal,
    keep: { stdout: STDOUT_BYTES, stderr: STDERR_BYTES },
  });
  const data = { command: label, cwd };
  if (outcome.kind === 'not-started') {
    return inconclusive(`${label}: cannot start: ${errorMessage(outcome.error)}`, data);
  }
  if (outcome.kind === 'timed-out') {
    return inconclusive(
      `${label}: no answer within ${formatDuration(options.timeoutMs)} (a registry or mirror that does not answer?)`,
      data,
      outcome.output.stderr.text,
    );
  }
  if (outcome.kind === 'aborted') return inconclusive(`${label}: aborted`, data);
  if (outcome.code === null) {
    return inconclusive(
      `${label}: killed by ${outcome.signal ?? 'a signal'}`,
      data,
      outcome.output.stderr.text,
    );
  }
  return {
    stdout: outcome.output.stdout.text,
    stderr: outcome.output.stderr.text,
    exitCode: outcome.code,
    durationMs: outcome.durationMs,
    label,
    cwd,
  };
}

/** Whether `value` is a run rather than the result that stands instead of one. */
export function isRun(value: ScannerRun | CheckResult): value is ScannerRun {
  return 'stdout' in value;
}

/** An inconclusive result: the check could not judge. */
export function inconclusive(summary: string, data?: Record<string, unknown>, output?: string): CheckResult {
  return {
    ok: false,
    inconclusive: true,
    summary,
    ...(output === undefined || output === '' ? {} : { output }),
    ...(data === undefined ? {} : { data }),
  };
}

/** The network error code in `text` (ENOTFOUND, ECONNREFUSED...), if any. */
export function unreachableCode(text: string): string | undefined {
  return UNREACHABLE.exec(text)?.[1];
}

/** The result for output that is no shape the kind knows: inconclusive, with its first lines quoted. */
export function unreadable(run: ScannerRun, expected: string): CheckResult {
  const text = run.stdout.trim() === '' ? run.stderr : run.stdout;
  const code = unreachableCode(`${run.stdout}\n${run.stderr}`);
  const lines = text.trimEnd().split('\n').slice(0, QUOTED_LINES).join('\n');
  const why =
    code === undefined
      ? `exit ${run.exitCode}, output is not ${expected}`
      : `the registry or mirror could not be reached (${code})`;
  return inconclusive(
    `${run.label}: ${why}`,
    { command: run.label, cwd: run.cwd, exitCode: run.exitCode },
    lines,
  );
}

/** Parses JSON, or undefined when `text` is not JSON (a scanner may print a warning before it). */
export function parseJson(text: string): unknown {
  const start = text.search(/[{[]/);
  if (start < 0) return undefined;
  try {
    return JSON.parse(text.slice(start)) as unknown;
  } catch {
    return undefined;
  }
}

/** A plain object, or undefined. */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * npm's JSON error (`{"error": {code, summary, detail}}`, or `{message, error}` from `npm audit`), as
 * the reason a person reads; undefined when `json` is not one.
 */
export function npmError(json: Record<string, unknown>): string | undefined {
  if (!('error' in json)) return undefined;
  const error = asRecord(json.error);
  const parts = [
    typeof json.message === 'string' ? json.message : undefined,
    typeof error?.code === 'string' ? error.code : undefined,
    typeof error?.summary === 'string' ? error.summary : undefined,
    typeof error?.detail === 'string' ? error.detail : undefined,
  ].filter((part): part is string => part !== undefined && part.trim() !== '');
  if (parts.length === 0 && typeof json.error === 'string') parts.push(json.error);
  return parts.length > 0 ? parts.join(': ') : 'an error without a message';
}

/**
 * The inconclusive result for npm's JSON error: the registry could not be reached (a network error
 * code), or npm could not do what was asked (no lock file, no advisory service at the registry...).
 */
export function npmErrorResult(run: ScannerRun, error: string): CheckResult {
  const code = unreachableCode(error);
  const why = code === undefined ? 'npm reported an error' : `the registry could not be reached (${code})`;
  return inconclusive(
    `${run.label}: ${why}: ${error}`,
    { command: run.label, cwd: run.cwd, exitCode: run.exitCode },
    run.stderr.trimEnd(),
  );
}

/** The command as a person wrote it, shortened for a summary. */
export function commandLabel(command: string | readonly string[]): string {
  const text = (typeof command === 'string' ? command : command.join(' ')).replace(/\s+/g, ' ').trim();
  return text.length > LABEL_CHARS ? `${text.slice(0, LABEL_CHARS - 1)}…` : text;
}
