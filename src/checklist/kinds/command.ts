import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';
import { runCommand, withCutNote } from '../../util/run-command.js';

/** Bytes of combined output kept in evidence: the end, where test runners and scripts say what failed. */
export const OUTPUT_TAIL_BYTES = 4096;
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

    const env: Record<string, string | undefined> = {
      ...process.env,
      ...params.env,
      SHIPCHECK_SERVICE: context.service,
      SHIPCHECK_VERSION: context.version,
      ...(context.fromVersion === null ? {} : { SHIPCHECK_FROM_VERSION: context.fromVersion }),
    };
    const outcome = await runCommand(params.run, {
      cwd,
      env,
      timeoutMs: params.timeout,
      signal: context.signal,
      keep: { combined: OUTPUT_TAIL_BYTES },
    });
    if (outcome.kind === 'not-started') {
      return { ok: false, summary: `${label}: cannot start: ${errorMessage(outcome.error)}` };
    }
    const { code, signal, durationMs } = outcome;
    const took = formatDuration(durationMs);
    const evidence = {
      output: withCutNote(outcome.output.combined),
      data: { exitCode: code, signal, durationMs, cwd },
    };
    if (outcome.kind === 'timed-out') {
      return {
        ok: false,
        summary: `${label}: timed out after ${formatDuration(params.timeout)}`,
        ...evidence,
      };
    }
    if (outcome.kind === 'aborted')
      return { ok: false, summary: `${label}: aborted after ${took}`, ...evidence };
    if (code === null) {
      return { ok: false, summary: `${label}: killed by ${signal ?? 'a signal'} after ${took}`, ...evidence };
    }
    const ok = code === params.expectExit;
    const expected = ok ? '' : `, expected ${params.expectExit}`;
    return { ok, summary: `${label}: exit ${code} in ${took}${expected}`, ...evidence };
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
