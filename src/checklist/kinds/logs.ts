import fs from 'node:fs/promises';
import { z } from 'zod';
import type { Instance } from '../../providers/fleet/types.js';
import type { CheckKind } from '../types.js';

/** The local fleet writes this at the start of a line before each run of an instance. */
const RUN_MARKER = '--- shipcheck:';
const DEFAULT_PATTERN = String.raw`\b(ERROR|FATAL|panic|Unhandled|uncaught)\b`;
const DEFAULT_EVIDENCE_LINES = 20;
/** Keeps a runaway log line from flooding the evidence. */
const MAX_LINE_CHARS = 300;
/** The first match shown in a failing summary is cut shorter, to keep the summary one readable line. */
const MAX_SUMMARY_LINE_CHARS = 120;
const ELLIPSIS = '…';

const logsParams = z
  .strictObject({
    pattern: z
      .string()
      .min(1)
      .refine((source) => {
        try {
          new RegExp(source, 'i');
          return true;
        } catch {
          return false;
        }
      }, 'expected a valid regular expression')
      .prefault(DEFAULT_PATTERN)
      .describe('Regular expression (case-insensitive) a line must match to count as an error.'),
    maxMatches: z
      .number()
      .int()
      .min(0)
      .prefault(0)
      .describe('Most matching lines allowed across all instances before the check fails.'),
    sinceStart: z
      .boolean()
      .prefault(true)
      .describe("Scan only the instance's latest run (after the fleet's last `--- shipcheck:` line)."),
    lines: z
      .number()
      .int()
      .min(0)
      .prefault(DEFAULT_EVIDENCE_LINES)
      .describe('How many matching lines to keep as evidence.'),
  })
  .describe("Scan the new version's instance logs for error lines.");

/** Params of a `logs` item after validation. */
export type LogsParams = z.output<typeof logsParams>;

function clip(line: string, max: number): string {
  return line.length > max ? `${line.slice(0, max)}${ELLIPSIS}` : line;
}

/** The outcome of scanning one log: its matches, or why it could not be read. */
type Scan = { count: number; kept: string[] } | { error: string };

/** Streams one log file so a large log costs no more memory than the kept lines. */
async function scanLog(
  logFile: string,
  regex: RegExp,
  params: LogsParams,
  keep: number,
  signal: AbortSignal,
): Promise<Scan> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(logFile, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      error:
        code === 'ENOENT'
          ? `log file ${logFile} not found`
          : `cannot read ${logFile}: ${(err as Error).message}`,
    };
  }
  let count = 0;
  let kept: string[] = [];
  try {
    for await (const line of handle.readLines({ encoding: 'utf8' })) {
      if (signal.aborted) break;
      if (params.sinceStart && line.startsWith(RUN_MARKER)) {
        // A new run began: what the earlier run logged does not describe this one.
        count = 0;
        kept = [];
        continue;
      }
      if (!regex.test(line)) continue;
      count += 1;
      if (kept.length < keep) kept.push(clip(line, MAX_LINE_CHARS));
    }
  } finally {
    await handle.close();
  }
  return { count, kept };
}

/**
 * `logs`: counts lines matching `pattern` in the logs of the new version's instances and fails
 * above `maxMatches`, or when an instance has no readable log; output holds matches prefixed by instance id.
 */
export const logsCheck: CheckKind<LogsParams> = {
  kind: 'logs',
  params: logsParams,
  async run(params, context) {
    const instances: Instance[] = context.instances(context.version);
    if (instances.length === 0) {
      return { ok: false, summary: `no instances of ${context.version} to scan logs of` };
    }
    // No `g` flag: a global regex keeps lastIndex between test() calls and would skip lines.
    const regex = new RegExp(params.pattern, 'i');
    const perInstance: Record<string, number> = {};
    const unreadable: string[] = [];
    const evidence: string[] = [];
    let total = 0;
    for (const instance of instances) {
      if (context.signal.aborted) break;
      if (instance.logFile === undefined) {
        unreadable.push(`${instance.id} has no log file`);
        continue;
      }
      const scan = await scanLog(
        instance.logFile,
        regex,
        params,
        params.lines - evidence.length,
        context.signal,
      );
      if ('error' in scan) {
        unreadable.push(`${instance.id}: ${scan.error}`);
        continue;
      }
      perInstance[instance.id] = scan.count;
      total += scan.count;
      evidence.push(...scan.kept.map((line) => `${instance.id}: ${line}`));
    }

    const data: Record<string, unknown> = {
      version: context.version,
      pattern: params.pattern,
      sinceStart: params.sinceStart,
      matches: perInstance,
      unreadable,
    };
    const output = evidence.length > 0 ? evidence.join('\n') : undefined;
    const result = (ok: boolean, summary: string) =>
      output === undefined
        ? { ok, summary, value: total, data }
        : { ok, summary, value: total, output, data };

    if (context.signal.aborted) return result(false, `log scan of ${context.version} aborted`);
    const scope = `${instances.length} instance${instances.length === 1 ? '' : 's'} of ${context.version}`;
    const run = params.sinceStart ? ' since start' : '';
    const counted = `${total} error line${total === 1 ? '' : 's'}`;
    if (unreadable.length > 0) {
      return result(false, `cannot scan logs of ${context.version}: ${unreadable.join('; ')}`);
    }
    if (total > params.maxMatches) {
      const where = Object.entries(perInstance)
        .filter(([, n]) => n > 0)
        .map(([id, n]) => `${id}: ${n}`)
        .join(', ');
      const first = evidence[0] === undefined ? '' : `; first: ${clip(evidence[0], MAX_SUMMARY_LINE_CHARS)}`;
      return result(false, `${counted} > max ${params.maxMatches} in ${scope}${run} (${where})${first}`);
    }
    return result(true, `${counted} <= max ${params.maxMatches} in ${scope}${run}`);
  },
};
